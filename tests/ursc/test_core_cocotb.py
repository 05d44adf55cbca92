"""cocotb regressions of the URSC core running PipeFlash attention on ursc-tiny
(:mod:`hybridgen.verif.ursc.tb_attention`): bit-exact against golden/ursc.py, AXI memory with
random latency and stalls on every channel, guards around O, counters against the testbench's
count, error codes of bad descriptors.

Icarus simulates the core at about 100 cycles per second (every engine's pipelines are clocked
each cycle), so on Icarus ``shapes`` runs one kernel (sq = 1 decode, d = 96, causal) and every
shape class runs on Verilator; ``ATTENTION_SHAPES`` (indices into ``SHAPES``) selects them."""

import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner
from hybridgen.verif.ursc.tb_attention import SHAPES

_DESIGN = {}
#: Shapes each simulator runs (indices into tb_attention.SHAPES).
SHAPES_BY_SIM = {"icarus": "2", "verilator": ",".join(str(i) for i in range(len(SHAPES)))}


def _build(sim):
    if "tiny" not in _DESIGN:
        _DESIGN["tiny"] = generate("ursc-tiny")
    return runner.build(_DESIGN["tiny"], sim)


def test_attention_shapes(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="shapes",
               env={"ATTENTION_SHAPES": SHAPES_BY_SIM[sim]}, name="ursc-attention")


@pytest.mark.slow
@pytest.mark.sims("icarus")
def test_attention_shapes_icarus_all(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="shapes",
               env={"ATTENTION_SHAPES": SHAPES_BY_SIM["verilator"]}, name="ursc-attention")


def test_attention_errors(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="errors",
               name="ursc-attention-errors")
