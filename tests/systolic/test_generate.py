"""Generation of the engine: each distinct module once, large arrays fast, bad configs refused."""

import json
import subprocess
import sys
import time

from hybridgen.gen.elaborate import generate
from hybridgen.gen.hierarchy import module_names


def test_pe_converted_once_for_a_64x64_array():
    started = time.time()
    design = generate("prefill-small", ("rows=64", "cols=64"))
    elapsed = time.time() - started
    names = module_names(design.verilog)
    assert len(names) == len(set(names)), "a module is defined twice"
    pes = [name for name in names if "__pe_" in name]
    assert pes == ["prefill_small_" + design.top.split("prefill_small_")[1] + "__pe_int8"]
    assert design.sidecar["modules"][pes[0]] == 64 * 64
    assert elapsed < 60, f"generation took {elapsed:.1f} s"


def test_derived_figures_in_sidecar():
    design = generate("prefill-tiny")
    derived = design.sidecar["derived"]
    assert derived["peak_macs_per_cycle"] == 16
    assert derived["array_latency"] == 4 + 4 - 1  # R + C - 1 for int8
    assert derived["max_k"] == 64 * 4
    assert derived["os_latency"] == 0 + 4 - 1 + (4 + 1) * 1  # delay + C - 1 + (R + 1) I
    assert derived["os_interleave"] == 1 and derived["os_block_rows"] == 16


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_bad_configs_are_one_line_errors(tmp_path):
    for override, message in [("rows=1", "rows: must be an integer in 2..512, not 1"),
                              ("dataflow=is", "dataflow: must be one of 'ws', 'os', 'both'"),
                              ("bus_bits=48", "bus_bits: must be a power of two"),
                              ("dtype=fp8", "dtype: must be one of 'int8', 'bf16'")]:
        result = _cli("generate", "prefill-tiny", "--set", override, "-o", str(tmp_path))
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"hybridgen: error: {message}"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_register_map_header_packs_like_the_testbench(tmp_path):
    """Compile a C program that packs a descriptor with the generated header; its words must
    equal the payload the cocotb testbench drives (packed from the sidecar's port layout)."""
    from hybridgen.verif.stream import pack
    result = _cli("generate", "prefill-tiny", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    design = generate("prefill-tiny")
    values = dict(m=7, k=300, n=5, dtype=1, dataflow=1, a_addr=0x12345678, b_addr=0x9ABCDEF0, c_addr=0x40,
                  lda=600, ldb=10, ldc=28)
    fields = next(p["fields"] for p in design.sidecar["ports"] if p["name"] == "desc__payload")
    word = pack(fields, **{k: [v] for k, v in values.items()})[0]
    sets = "\n".join(f"  prefill_tiny_descriptor_set(w, PREFILL_TINY_DESCRIPTOR_{k.upper()}_BIT, "
                     f"PREFILL_TINY_DESCRIPTOR_{k.upper()}_WIDTH, {v}u);"
                     for k, v in values.items())
    program = tmp_path / "pack.c"
    program.write_text(f"""#include <stdio.h>
#include "prefill_tiny_regs.h"
int main(void) {{
  uint32_t w[PREFILL_TINY_DESCRIPTOR_WORDS] = {{0}};
{sets}
  for (unsigned i = 0; i < PREFILL_TINY_DESCRIPTOR_WORDS; i++) printf("%08x\\n", w[i]);
  return 0;
}}
""")
    binary = tmp_path / "pack"
    compiled = subprocess.run(["gcc", "-Wall", "-Werror", "-o", str(binary), str(program),
                               f"-I{tmp_path}"], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    words = [int(line, 16) for line in subprocess.run([str(binary)], capture_output=True,
                                                      text=True).stdout.split()]
    assert sum(w << (32 * i) for i, w in enumerate(words)) == word
    regs = json.loads((tmp_path / "prefill_tiny_regs.json").read_text())
    assert regs["descriptor"]["words"] == 9 and regs["completion"]["words"] == 11
