# hybridgen: `make demo` runs the main job on the default configuration, `make test` runs the
# whole suite. Both create the virtual environment (.venv) and install what is missing.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := build/demo

.PHONY: venv demo test test-slow lint clean

venv: $(STAMP) iverilog

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# Icarus Verilog (>= 11) from Debian: as root directly, else through sudo, else say what to do.
.PHONY: iverilog
iverilog:
	@if ! command -v iverilog >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq iverilog; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && \
	    sudo apt-get install -y -qq iverilog; \
	  else echo "error: Icarus Verilog is missing: install it with 'apt-get install -y iverilog'" \
	    >&2; exit 1; fi; \
	fi

# The product's main job on the default configuration: generate the 16x16 bf16 GEMM engine, run
# a GEMM (M=1024, K=N=64) on its RTL in Verilator, checked bit-exactly against the golden model,
# and synthesize it with its area breakdown. Every file it writes is under build/demo/ (and the
# shared simulator build under build/sim/).
DEMO_CFG := prefill-small --set dtype=bf16 --top prefill_small_bf16

demo: venv
	$(BIN)/hybridgen generate $(DEMO_CFG) -o $(DEMO)
	$(BIN)/hybridgen bench gemm --preset $(DEMO_CFG) --m 1024 --k 64 --n 64 --sim verilator \
	  --seed 7 --save $(DEMO)/gemm.npz
	$(BIN)/hybridgen synth $(DEMO_CFG) -o $(DEMO)/synth
	@echo
	@echo "make demo: outputs"
	@echo "  Verilog + JSON sidecar   $(DEMO)/prefill_small_bf16.v, $(DEMO)/prefill_small_bf16.json"
	@echo "  register map             $(DEMO)/prefill_small_bf16_regs.json, $(DEMO)/prefill_small_bf16_regs.h"
	@echo "  GEMM inputs and outputs  $(DEMO)/gemm.npz (raw bit patterns + meta; replay with --inputs)"
	@echo "  area and logic depth     $(DEMO)/synth/area.json, $(DEMO)/synth/report.txt"
	@echo "  Verilator build          build/sim/verilator/prefill_small_bf16-*/"

test: venv
	$(BIN)/python -m pytest -n auto

test-slow: venv
	$(BIN)/python -m pytest -n auto -m slow

clean:
	rm -rf build
