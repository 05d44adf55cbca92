"""The ABC script choice and the time limit of the Yosys flow (docs/timing.md, "softplus").

ABC's SAT sweep (``&fraig -x``, in Yosys's default ``abc -g`` script) did not finish on the
softplus unit's log1p polynomial; ``abc="nofraig"`` leaves it out. The regression synthesizes
that polynomial stage alone (the part of ``Fp32Softplus`` the sweep hung on) under a time limit.
"""

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, signed
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.fixed import SpecialFunctionUnit, Steps
from hybridgen.rtl.arith.softplus import log1p_core
from hybridgen.synth import SynthError, synthesize
from hybridgen.synth.flow import ABC_SCRIPTS, yosys_script
from hybridgen.synth.tech import SRAM45

from .test_flow import RegisteredAdder, write_verilog


class Log1pStage(SpecialFunctionUnit):
    """``log1p_core`` of the softplus unit with its inputs as ports (p: 32 bits, n: 11 bits,
    the widths ``exp_core`` gives); output the fold of the 62-bit ``p * h`` and ``n``."""

    en: In(1)
    p: In(32)
    n: In(signed(11))
    o: Out(32)

    def elaborate(self, platform):
        m = Module()
        log1p, n, _ = log1p_core(Steps(m, self.en, "log"), self.p, self.n, self._params, {})
        m.d.sync += self.o.eq(log1p[:32] ^ log1p[32:] ^ n)
        return m


def test_default_script_is_yosys_default_and_nofraig_drops_the_sweep():
    full = yosys_script("design.v", "top", SRAM45)
    assert full == yosys_script("design.v", "top", SRAM45, "full")
    abc_line = next(line for line in full.splitlines() if line.startswith("abc "))
    assert abc_line == "abc -g cmos4,AND,OR,XOR,XNOR,MUX"
    nofraig = yosys_script("design.v", "top", SRAM45, "nofraig")
    abc_line = next(line for line in nofraig.splitlines() if line.startswith("abc "))
    assert "-script +strash;" in abc_line and "fraig" not in abc_line and "&nf" in abc_line
    assert set(ABC_SCRIPTS) == {"full", "nofraig"}


def test_bad_abc_choice_is_a_one_line_error(tmp_path):
    source = write_verilog(tmp_path / "add.v", RegisteredAdder(4), "add4")
    with pytest.raises(SynthError, match=r"^abc must be one of 'full', 'nofraig', not 'fast'$"):
        synthesize(source, "add4", tmp_path / "out", abc="fast")
    assert not (tmp_path / "out").exists()


def test_time_limit_stops_yosys_and_writes_nothing(tmp_path):
    # 50 ms: less than starting the WebAssembly Yosys at all (a 4-bit adder's whole run took
    # under 0.5 s on an idle machine, so a longer limit made this test depend on the load).
    source = write_verilog(tmp_path / "add.v", RegisteredAdder(32), "add32")
    with pytest.raises(SynthError, match=r"^yosys did not finish within 0\.05 s \(last step: "):
        synthesize(source, "add32", tmp_path / "out", time_limit_s=0.05)
    assert not (tmp_path / "out").exists()


def test_log1p_polynomial_synthesizes_without_the_sweep(tmp_path):
    """Without ``&fraig -x`` the stage takes ~10 s; with it, more than 4 minutes (measured). The
    limit only stops a hang: 60 s failed in a fresh-machine `make test` (2-core load, and the
    first Yosys run compiling its WebAssembly module)."""
    source = tmp_path / "log1p.v"
    source.write_text(verilog.convert(Log1pStage(), name="log1p_stage", emit_src=False))
    result = synthesize(source, "log1p_stage", tmp_path / "out", abc="nofraig",
                        time_limit_s=300)
    assert result["abc"] == "nofraig"
    module = result["modules"]["log1p_stage"]
    assert module["flops"] > 300 and module["area_um2"] > 10_000
    assert result["total"]["timing"]["critical_path_ns"] > 1.0


def test_blocks_with_softplus_choose_nofraig():
    """``hybridgen synth`` without ``--abc`` uses the block's script: nofraig where the softplus
    unit is inside (its SAT sweep never finishes), full elsewhere."""
    from hybridgen.gen.blocks import BLOCKS
    chosen = {name: cls.synth_abc for name, cls in BLOCKS.items()}
    assert chosen["sfu"] == chosen["vector"] == chosen["ursc"] == chosen["decode"] == "nofraig"
    assert chosen["mac"] == chosen["systolic"] == chosen["kv"] == "full"
    assert set(chosen.values()) <= {"full", "nofraig"}
