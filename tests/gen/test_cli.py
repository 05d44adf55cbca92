"""The command line: listing, generation, lint of every preset (each distinct module once),
one-line errors (exit 2)."""

import json
import subprocess
import sys

import pytest

from hybridgen.gen.cli import main
from hybridgen.gen.presets import load_presets
from hybridgen.gen.lint import lint_design, port_stub, split_modules


def run_cli(*args, cwd=None):
    """Run ``hybridgen`` in a subprocess; return (exit code, stdout, stderr)."""
    result = subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", *args], capture_output=True,
                            text=True, cwd=cwd, timeout=300)
    return result.returncode, result.stdout, result.stderr


def test_list_prints_name_then_description(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    presets = load_presets()
    assert len(lines) == len(presets)
    for line, (name, preset) in zip(lines, presets.items()):
        assert line.split()[0] == name and line.endswith(preset.description)


def _generate_and_check(preset, out_dir):
    """Generate ``preset``; check the sidecar against the Verilog; lint every distinct module
    (:func:`hybridgen.gen.lint.lint_design`, children as port-only stubs), failing on any
    Verilator error. Returns the lint result."""
    assert main(["generate", preset, "-o", str(out_dir)]) == 0
    top = preset.replace("-", "_")
    verilog, sidecar = out_dir / f"{top}.v", out_dir / f"{top}.json"
    data = json.loads(sidecar.read_text())
    text = verilog.read_text()
    assert data["top"] == top and data["preset"] == preset
    assert {"clk", "rst"} <= {p["name"] for p in data["ports"]}
    header = text[text.index(f"module {top}("):]
    header = header[:header.index(")")]
    for port in data["ports"]:
        assert port["direction"] in ("input", "output") and port["width"] >= 1
        assert port["name"] in header
    result = lint_design(text, top)
    errors = result.to_json()["errors"]
    assert result.ok and not errors, errors
    # every module of the file was linted, each once
    assert [m.name for m in result.modules] == list(split_modules(text))
    assert set(data["modules"]) <= set(split_modules(text))
    return result


#: Presets whose generation + lint alone would take a large share of a block's test budget
#: (measured on 2 loaded cores: hlx-core 247 s, duet-decode-package about 4 min, ursc-small 64 s,
#: decode-attn-tiny 208 s of generation alone; with `make test` on 2 loaded cores, 2026-12-04:
#: decode-small 188 s, spad-decode-core 109 s, duet-prefill-chiplet 85 s,
#: spad-prefill-lane 63 s): they run in ``make test-slow``. Every other preset - the ones the
#: regressions simulate and the small paper-scale ones - runs here.
HEAVY_PRESETS = {"hlx-core", "duet-decode-package", "ursc-small", "decode-attn-tiny",
                 "decode-small", "decode-small-attn", "decode-attn-1ch", "spad-decode-core",
                 "duet-prefill-chiplet", "spad-prefill-lane"}


@pytest.mark.parametrize("preset", [
    pytest.param(name, marks=pytest.mark.slow) if name in HEAVY_PRESETS else name
    for name in load_presets()])
def test_generate_writes_verilog_and_sidecar_that_lint(preset, tmp_path):
    """Every preset lints (per distinct module); the heaviest ones only with ``-m slow``."""
    result = _generate_and_check(preset, tmp_path)
    print(f"{preset}: lint {result.wall_s:.1f} s, peak {result.peak_rss_mb} MB, "
          f"{len(result.modules)} modules")


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(load_presets()))
def test_every_preset_lints(preset):
    """``hybridgen lint PRESET --json`` for every preset: exit 0, exactly one JSON object."""
    code, stdout, stderr = run_cli("lint", preset, "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["preset"] == preset and report["ok"] is True and report["errors"] == []
    assert report["wall_s"] > 0 and report["peak_rss_mb"] > 0 and report["modules"]


def test_lint_command_json_and_failure(tmp_path):
    code, stdout, stderr = run_cli("lint", "prefill-tiny", "--set", "rows=3", "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert stdout.count("\n") == 1
    assert {"preset", "wall_s", "peak_rss_mb", "modules", "warnings", "errors"} <= report.keys()
    names = [m["name"] for m in report["modules"]]
    assert report["top"] in names and any(name.endswith("_row") for name in names)


BROKEN = """module leaf #(parameter W = 4) (input clk, input [W-1:0] d, output [W-1:0] q);
  assign q = d;
endmodule
module mid(clk, d, q);
  input clk;
  input [7:0] d;
  output [7:0] q;
  leaf #(.W(8)) l (.clk(clk), .d(d), .qq(q));
endmodule
module top(input clk, input [7:0] d, output [7:0] q);
  mid m (.clk(clk), .d(d), .q(q));
endmodule
"""


def test_lint_design_stubs_children_and_names_the_failing_module():
    modules = split_modules(BROKEN)
    assert list(modules) == ["leaf", "mid", "top"]
    stub = port_stub(modules["mid"])
    assert "input [7:0] d;" in stub and "output [7:0] q;" in stub and "leaf" not in stub
    assert port_stub(modules["leaf"]).startswith("module leaf #(parameter W = 4) (")
    result = lint_design(BROKEN, "top")
    assert not result.ok
    by_name = {m.name: m for m in result.modules}
    assert by_name["top"].children == ["mid"] and by_name["mid"].children == ["leaf"]
    assert not by_name["top"].errors and not by_name["leaf"].errors
    assert any("qq" in error for error in by_name["mid"].errors)
    fixed = lint_design(BROKEN.replace(".qq(q)", ".q(q)"), "top")
    assert fixed.ok, fixed.to_json()["errors"]


BAD_COMMANDS = [
    (["generate", "mac-bf16", "--set", "dtype=fp8"],
     "hybridgen: error: dtype: must be one of 'int8', 'bf16', not 'fp8'"),
    (["generate", "mac-fp64"],
     "hybridgen: error: preset: unknown preset 'mac-fp64'; choose one of: "),
    (["generate", "mac-bf16", "--set", "width=8"],
     "hybridgen: error: width: unknown field; allowed fields: dtype"),
    (["generate", "mac-bf16", "--set", "dtype"],
     "hybridgen: error: --set: expected field=value, not 'dtype'"),
    (["lint", "mac-fp64"],
     "hybridgen: error: preset: unknown preset 'mac-fp64'; choose one of: "),
    (["lint", "prefill-tiny", "--set", "rows=1"],
     "hybridgen: error: rows: must be an integer in 2..512, not 1"),
    (["bench", "mac", "--preset", "mac-bf16", "--n", "0"],
     "hybridgen: error: --n: must be an integer in 1..10000000, not 0"),
    (["bench", "mac", "--preset", "mac-bf16", "--dtype", "int8", "--set", "dtype=bf16"],
     "hybridgen: error: --dtype: conflicts with --set dtype=bf16"),
]


@pytest.mark.parametrize("args, message", BAD_COMMANDS, ids=lambda x: " ".join(x)
                         if isinstance(x, list) else None)
def test_bad_input_one_line_exit_2_nothing_written(args, message, tmp_path):
    out = tmp_path / "out"
    extra = ["-o", str(out)] if args[0] == "generate" else []
    code, stdout, stderr = run_cli(*args, *extra)
    assert code == 2
    assert stderr.startswith(message), stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert not out.exists()


def test_bad_inputs_file_is_rejected(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    code, _, stderr = run_cli("bench", "mac", "--preset", "mac-int8", "--inputs", str(bad))
    assert code == 2 and stderr.startswith("hybridgen: error: --inputs: not a readable .npz")
    import numpy as np
    partial = tmp_path / "partial.npz"
    np.savez(partial, a=np.zeros(4, np.int8), b=np.zeros(4, np.int8))
    code, _, stderr = run_cli("bench", "mac", "--preset", "mac-int8", "--inputs", str(partial))
    assert code == 2 and stderr.strip() == ("hybridgen: error: --inputs: key 'acc_in' missing; "
                                            "needed: a, b, acc_in")
    typed = tmp_path / "typed.npz"
    np.savez(typed, a=np.zeros(4, np.int16), b=np.zeros(4, np.int8), acc_in=np.zeros(4, np.int32))
    code, _, stderr = run_cli("bench", "mac", "--preset", "mac-int8", "--inputs", str(typed))
    assert code == 2 and "key 'a' must be int8 (int8), not int16" in stderr
