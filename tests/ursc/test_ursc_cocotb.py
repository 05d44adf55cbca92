"""cocotb regressions of the URSC engines at ``ursc-tiny`` sizes, bit-exact against
golden/numerics.py and golden/ursc.py, with random stalls on every stream. Two tops per
simulator (:mod:`hybridgen.verif.ursc.designs`): DPE0 + UpE, and one RVPE unit."""

import pytest

from hybridgen.verif import runner
from hybridgen.verif.ursc.designs import component_design

_DESIGNS = {}


def _build(component, sim):
    if component not in _DESIGNS:
        _DESIGNS[component] = component_design("ursc-tiny", component)
    return runner.build(_DESIGNS[component], sim)


def test_dpe_random_tiles(sim):
    runner.run(_build("dpe_upe", sim), "hybridgen.verif.ursc.tb_dpe", testcase="random",
               name="ursc-dpe")


def test_upe_random_ops(sim):
    runner.run(_build("dpe_upe", sim), "hybridgen.verif.ursc.tb_upe", testcase="random",
               name="ursc-upe")


# The RVPE lanes hold every special function: a ~3 min Verilator build (DPE ~1 min, UpE ~30 s);
# Verilator runs the RVPE in `make test-slow`, Icarus in every run.
@pytest.mark.slow_on("verilator")
def test_rvpe_unit_reductions_and_ops(sim):
    runner.run(_build("rvpe", sim), "hybridgen.verif.ursc.tb_rvpe", testcase="random",
               name="ursc-rvpe")
