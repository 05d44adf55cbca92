"""cocotb regressions of the URSC core running PipeFlash attention on ursc-tiny
(:mod:`hybridgen.verif.ursc.tb_attention`): bit-exact against golden/ursc.py, AXI memory with
random latency and stalls on every channel, guards around O, counters against the testbench's
count, error codes of bad descriptors.

Budget: Icarus simulates the core at about 100 cycles per second (every engine's pipelines are
clocked each cycle) and Verilator's build is the larger part of a Verilator run (the RVPE
lanes, one hierarchy block: the decode kernel plus the error codes, build included, take 63 s of
CPU, 95 s before the lane was a hierarchy block), so the regular run has Icarus with one short kernel (sq = 1
decode over two key blocks, d = 96, causal: about 20 s) and the error codes; every shape class runs in ``slow``, on
both simulators. ``ATTENTION_SHAPES`` (indices into ``tb_attention.SHAPES``) selects them."""

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


@pytest.mark.slow_on("verilator")
def test_attention_decode_kernel(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="shapes",
               env={"ATTENTION_SHAPES": str(len(SHAPES) - 1)}, name="ursc-attention")


@pytest.mark.slow
def test_attention_every_shape_class(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="shapes",
               env={"ATTENTION_SHAPES": ALL_SHAPES}, name="ursc-attention-all")


@pytest.mark.slow_on("verilator")
def test_attention_errors(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="errors",
               name="ursc-attention-errors")


@pytest.mark.slow
def test_attention_reset_mid_kernel(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="reset",
               name="ursc-attention-reset")
