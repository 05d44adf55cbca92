"""The static Verilog templates (``rtl/systolic/verilog/*.v``): emitted renamed with the top's
prefix, so the outputs of two configurations compile together in one simulator build."""

import subprocess

import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.gen.hierarchy import module_names
from hybridgen.rtl.systolic.static import static_verilog
from hybridgen.verif.runner import verilator_environment

# same preset, other geometry and dtype: every template module (core, row, feeder, sram,
# delay) exists in both designs with other parameters
PAIR = [("prefill-tiny", ()), ("prefill-tiny", ("rows=3", "cols=5", "dtype=bf16"))]


def _pair(tmp_path):
    designs = [generate(preset, overrides) for preset, overrides in PAIR]
    names = [set(module_names(design.verilog)) for design in designs]
    assert not names[0] & names[1], f"modules defined by both: {names[0] & names[1]}"
    # a top that places both designs, inputs tied off (unconnected)
    wrapper = ("module pair_top;\n" + "".join(f"  {d.top} d{i} ();\n"
                                              for i, d in enumerate(designs)) + "endmodule\n")
    paths = []
    for design in designs:
        paths.append(tmp_path / f"{design.top}.v")
        paths[-1].write_text(design.verilog)
    paths.append(tmp_path / "pair_top.v")
    paths[-1].write_text(wrapper)
    return designs, [str(path) for path in paths]


def test_two_configurations_compile_together_icarus(tmp_path):
    designs, paths = _pair(tmp_path)
    for design in designs:
        assert any(f"{design.top}__core_" in name for name in module_names(design.verilog))
        assert f"{design.top}__delay" in module_names(design.verilog)
    result = subprocess.run(["iverilog", "-g2012", "-s", "pair_top", "-o",
                             str(tmp_path / "pair.vvp"), *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_two_configurations_compile_together_verilator(tmp_path):
    _, paths = _pair(tmp_path)
    result = subprocess.run([verilator_environment(), "--lint-only", "-Wno-fatal",
                             "--top-module", "pair_top", *paths], capture_output=True, text=True)
    assert result.returncode == 0 and "%Error" not in result.stderr, result.stderr
    assert "MODDUP" not in result.stderr, result.stderr


def test_static_verilog_renames_every_module_and_sets_defaults():
    text = static_verilog("sram.v", {"hg_sram": "x__sram"}, {"W": 72, "D": 9})
    assert module_names(text) == ["x__sram"] and "hg_" not in text
    assert "parameter W = 72" in text and "parameter D = 9" in text and "parameter A = 1" in text
    with pytest.raises(KeyError, match="hg_delay"):
        static_verilog("feeder.v", {"hg_feeder": "x__feeder"})
    with pytest.raises(KeyError, match="NOPE"):
        static_verilog("sram.v", {"hg_sram": "x__sram"}, {"NOPE": 1})
