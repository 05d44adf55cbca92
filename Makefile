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

demo: venv
	$(BIN)/hybridgen generate mac-bf16 -o $(DEMO)
	$(BIN)/hybridgen bench mac --preset mac-bf16 --n 4096 --sim icarus --seed 1 \
	  --save $(DEMO)/mac-bf16.npz
	$(BIN)/hybridgen synth mac-bf16 -o $(DEMO)/synth

test: venv
	$(BIN)/python -m pytest -n auto

test-slow: venv
	$(BIN)/python -m pytest -n auto -m slow

clean:
	rm -rf build
