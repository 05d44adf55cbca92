"""cocotb regressions of the decode array's decode attention (``Op.ATTN``) on
``decode-attn-tiny`` (2 channels x 512 bits, 2 units, dot 32, 2 q heads per kv head, d <= 128),
both simulators: GQA and MHA, batch 1 and 2, lengths not multiples of 32 and 0, the three KV
formats, bad descriptors; random stalls on every AXI channel; d = 96 and 128 in
``test_attn_tiny_wide_heads`` (``ATTN_SHAPES=all``). ``test_attn_tiny_quick`` (one small
kernel) runs on both simulators in every run; the broad sweeps run on Verilator in every run
(seconds once built; the build, about 1.5 min of CPU, is the quick test's) and are ``-m slow``
on Icarus (tens of cycles per second; docs/decode.md)."""

import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner


def _run(sim, testcase, name, env=None):
    runner.run(runner.build(generate("decode-attn-tiny"), sim), "hybridgen.verif.decode.tb_attn",
               testcase=testcase, name=name, env=env or {})


def test_attn_tiny_quick(sim):
    """GQA BFP8, d = 32, batch 2: a length split over two units and a length 0
    (docs/decode.md)."""
    _run(sim, "shapes", "attn-tiny-quick", env={"ATTN_SHAPES": "quick"})


@pytest.mark.slow_on("icarus")
@pytest.mark.parametrize("testcase", ["shapes", "errors"])
def test_attn_tiny(testcase, sim):
    _run(sim, testcase, f"attn-tiny-{testcase}")


@pytest.mark.slow_on("icarus")
def test_attn_tiny_wide_heads(sim):
    _run(sim, "shapes", "attn-tiny-wide", env={"ATTN_SHAPES": "all"})
