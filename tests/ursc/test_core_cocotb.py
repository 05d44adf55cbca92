"""cocotb regressions of the URSC core running PipeFlash attention on ursc-tiny
(:mod:`hybridgen.verif.ursc.tb_attention`): bit-exact against golden/ursc.py, AXI memory with
random latency and stalls on every channel, guards around O, counters against the testbench's
count, error codes of bad descriptors, a reset in the middle of a kernel.

Budget: Icarus simulates the core at about 100 cycles per second (every engine's pipelines are
clocked each cycle), Verilator in seconds once built (the RVPE lanes are one hierarchy block:
the build is about a minute of CPU). So every run has, on both simulators, one short kernel
(sq = 1 decode over two key blocks, d = 96, causal) and the error codes, and on Verilator every
shape class and the reset (about 11 s); the Icarus runs of those are ``slow``.
``ATTENTION_SHAPES`` (indices into ``tb_attention.SHAPES``) selects the shapes."""

import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner
from hybridgen.verif.ursc.tb_attention import SHAPES

_DESIGN = {}
ALL_SHAPES = ",".join(str(i) for i in range(len(SHAPES)))


def _build(sim):
    if "tiny" not in _DESIGN:
        _DESIGN["tiny"] = generate("ursc-tiny")
    return runner.build(_DESIGN["tiny"], sim)


def test_attention_decode_kernel(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="shapes",
               env={"ATTENTION_SHAPES": str(len(SHAPES) - 1)}, name="ursc-attention")


@pytest.mark.slow_on("icarus")
def test_attention_every_shape_class(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="shapes",
               env={"ATTENTION_SHAPES": ALL_SHAPES}, name="ursc-attention-all")


def test_attention_errors(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="errors",
               name="ursc-attention-errors")


@pytest.mark.slow_on("icarus")
def test_attention_reset_mid_kernel(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="reset",
               name="ursc-attention-reset")
