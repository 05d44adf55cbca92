"""cocotb regressions of the URSC core running PipeFlash attention on ursc-tiny
(:mod:`hybridgen.verif.ursc.tb_attention`): bit-exact against golden/ursc.py, AXI memory with
random latency and stalls on every channel, guards around O, counters against the testbench's
count, error codes of bad descriptors."""

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner

_DESIGN = {}


def _build(sim):
    if "tiny" not in _DESIGN:
        _DESIGN["tiny"] = generate("ursc-tiny")
    return runner.build(_DESIGN["tiny"], sim)


def test_attention_shapes(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="shapes",
               name="ursc-attention")


def test_attention_errors(sim):
    runner.run(_build(sim), "hybridgen.verif.ursc.tb_attention", testcase="errors",
               name="ursc-attention-errors")
