"""The shared testbench parts: runner, build cache, stream driver/monitor/checker, hierarchy.

The checker must be able to fail: a design that withdraws ``valid`` before its beat is accepted
is run through the same testbench and must be rejected on every simulator; so must a design that
emits one beat more than it was sent, a few cycles after the last expected one.
"""

import re

import pytest
from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.gen.elaborate import design_from_component
from hybridgen.gen.hierarchy import ModuleLibrary, module_names
from hybridgen.verif import runner
from hybridgen.verif.selftest.designs import ExtraBeat, StreamFifo, ValidDropper


class FifoChain(wiring.Component):
    """Three StreamFifo leaves in series, each an Instance of one library module."""

    def __init__(self, library, length=3):
        self._library = library
        self._length = length
        super().__init__({"i": In(stream.Signature(16)), "o": Out(stream.Signature(16))})

    def elaborate(self, platform):
        m = Module()
        stages = [self._library.instantiate(m, f"fifo{n}", "fifo16", StreamFifo)
                  for n in range(self._length)]
        wiring.connect(m, wiring.flipped(self.i), stages[0].i)
        for earlier, later in zip(stages, stages[1:]):
            wiring.connect(m, earlier.o, later.i)
        wiring.connect(m, stages[-1].o, wiring.flipped(self.o))
        return m


def test_stream_roundtrip_under_stalls(sim):
    design = design_from_component(StreamFifo(), "selftest_fifo")
    runner.run(runner.build(design, sim), "hybridgen.verif.selftest.tb_stream", env={"BEATS": "2000"})


def test_protocol_checker_catches_a_dropped_valid(sim):
    design = design_from_component(ValidDropper(), "selftest_dropper")
    with pytest.raises(runner.SimulationFailed, match="valid dropped before the beat was"):
        runner.run(runner.build(design, sim), "hybridgen.verif.selftest.tb_stream", seed=1)


def test_sink_catches_an_extra_beat(sim):
    design = design_from_component(ExtraBeat(beats=500, delay=8), "selftest_extra")
    with pytest.raises(runner.SimulationFailed, match=r"o: 1 beat\(s\) after the 500 expected"):
        runner.run(runner.build(design, sim), "hybridgen.verif.selftest.tb_stream",
                   env={"BEATS": "500"})


def test_leaf_emitted_once_and_instances_work(sim):
    library = ModuleLibrary("selftest_chain")
    design = design_from_component(FifoChain(library), "selftest_chain", library=library)
    names = module_names(design.verilog)
    assert names.count("selftest_chain__fifo16") == 1
    assert len(re.findall(r"^\s*selftest_chain__fifo16\s+\S+\s*\(", design.verilog, re.M)) == 3
    assert design.sidecar["modules"]["selftest_chain__fifo16"] == 3
    runner.run(runner.build(design, sim), "hybridgen.verif.selftest.tb_stream", env={"BEATS": "1000"})


def test_build_cache_reuses_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRIDGEN_BUILD_DIR", str(tmp_path))
    design = design_from_component(StreamFifo(), "selftest_cache")
    first = runner.build(design, "icarus")
    stamp = (first.directory / "sim.vvp").stat().st_mtime_ns
    second = runner.build(design, "icarus")
    assert second.directory == first.directory
    assert (second.directory / "sim.vvp").stat().st_mtime_ns == stamp
    changed = design_from_component(StreamFifo(width=8), "selftest_cache")
    assert runner.build(changed, "icarus").directory != first.directory
