"""The FPGA self-test top in cocotb: the board's top passes, the wrong-signature variant fails.

The design simulated is the one ``hybridgen fpga`` builds for the board
(:func:`hybridgen.gen.fpga.selftest_top` with the same seed and size), LEDs included.
"""

import pytest

from hybridgen.gen.elaborate import design_from_component
from hybridgen.gen.fpga import selftest_top
from hybridgen.verif import runner


def _design(preset, corrupt, **kwargs):
    top, _ = selftest_top(preset, corrupt=corrupt, **kwargs)
    name = f"selftest_{preset.replace('-', '_')}" + ("_corrupt" if corrupt else "")
    return design_from_component(top, name)


def test_mac_int8_selftest(sim):
    """mac-int8's board top (1024 MACs from the ROM, stalls on both streams): the pass LED."""
    runner.run(runner.build(_design("mac-int8", False), sim), "hybridgen.verif.fpga.tb_selftest",
               env={"SELFTEST_EXPECT": "pass"}, name="selftest-mac")


@pytest.mark.sims("icarus")
def test_mac_int8_selftest_wrong_signature(sim):
    """The same top with every expected signature off by one bit: the fail LED (one simulator:
    the variant differs from the top above only in its expected-signature constants)."""
    runner.run(runner.build(_design("mac-int8", True), sim), "hybridgen.verif.fpga.tb_selftest",
               env={"SELFTEST_EXPECT": "fail"}, name="selftest-mac")


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["mac-bf16", "kv-tiny", "fpga-kv"])
@pytest.mark.parametrize("corrupt", [False, True], ids=["right-signature", "wrong-signature"])
def test_bigger_selftests(preset, corrupt, sim):
    """The bf16 MAC's and the KV codec's board tops (4 tiles, BFP8/BFP4, packer linked to the
    dequantizer, both streams checked)."""
    runner.run(runner.build(_design(preset, corrupt), sim), "hybridgen.verif.fpga.tb_selftest",
               env={"SELFTEST_EXPECT": "fail" if corrupt else "pass"}, name="selftest")
