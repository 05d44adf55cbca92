"""The command line: listing, generation, lint of every preset, one-line errors (exit 2)."""

import json
import subprocess
import sys

import pytest

from hybridgen.gen.cli import main
from hybridgen.gen.presets import load_presets
from hybridgen.verif.runner import verilator_environment


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


# Larger (paper-scale) designs are linted by the slow test only: by Verilog lines, or by module
# instances for designs whose regular parts are templates (a 128x128 array is a few lines).
LINT_LINE_LIMIT = 20_000
LINT_INSTANCE_LIMIT = 4_000


def _generate_and_check(preset, out_dir, *, lint_limit):
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
    instances = sum(data["modules"].values())
    if text.count("\n") > lint_limit or instances > lint_limit / LINT_LINE_LIMIT * \
            LINT_INSTANCE_LIMIT:
        return False
    lint = subprocess.run([verilator_environment(), "--lint-only", "-Wno-fatal",
                           "--top-module", top, str(verilog)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stderr
    return True


@pytest.mark.parametrize("preset", list(load_presets()))
def test_generate_writes_verilog_and_sidecar_that_lint(preset, tmp_path):
    _generate_and_check(preset, tmp_path, lint_limit=LINT_LINE_LIMIT)


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(load_presets()))
def test_every_preset_lints(preset, tmp_path):
    assert _generate_and_check(preset, tmp_path, lint_limit=float("inf"))


BAD_COMMANDS = [
    (["generate", "mac-bf16", "--set", "dtype=fp8"],
     "hybridgen: error: dtype: must be one of 'int8', 'bf16', not 'fp8'"),
    (["generate", "mac-fp64"],
     "hybridgen: error: preset: unknown preset 'mac-fp64'; choose one of: "),
    (["generate", "mac-bf16", "--set", "width=8"],
     "hybridgen: error: width: unknown field; allowed fields: dtype"),
    (["generate", "mac-bf16", "--set", "dtype"],
     "hybridgen: error: --set: expected field=value, not 'dtype'"),
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
