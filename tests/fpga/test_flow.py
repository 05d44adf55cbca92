"""``hybridgen fpga``: the real ECP5 flow (Yosys, nextpnr-ecp5, ecppack) on the smallest design,
the fit check, and one-line errors (exit 2, nothing written).

The board build of mac-int8 takes about 20 s once the WebAssembly tools are compiled, but the
first nextpnr-ecp5 run on a machine compiles its module (~10 min of a loaded 2-core machine's
time in ``make test`` on a fresh machine, 2026-12-04), so every nextpnr run - mac-int8's board
and out-of-context builds and the bigger blocks' board builds - is ``slow``. ``make test`` runs
the fit check and the one-line errors; tests/fpga/test_selftest_cocotb.py simulates the self-test
top.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybridgen.gen import fpga
from hybridgen.gen.cli import main

SUMMARY_KEYS = {"board", "device", "lut4", "ff", "mult18", "dp16kd", "fmax_mhz", "clock_mhz",
                "met", "bitstream"}


def _run_cli(*args, env=None):
    result = subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", "fpga", *args],
                            capture_output=True, text=True, timeout=900, env=env)
    return result.returncode, result.stdout, result.stderr


def _unactivated_env():
    """The environment of a shell that never activated the venv: its bin/ is not on PATH."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).resolve() != Path(venv_bin).resolve())
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "YOSYS", "NEXTPNR_ECP5", "ECPPACK")}
    env["PATH"] = path or "/usr/bin:/bin"
    return env


@pytest.mark.slow
def test_mac_int8_board_build(tmp_path):
    """The self-test top of mac-int8 on the ULX3S-85F, run from an unactivated venv: bitstream,
    nextpnr report and summary.json with the device's figures."""
    out = tmp_path / "mac"
    code, stdout, stderr = _run_cli("mac-int8", "--board", "ulx3s-85f", "-o", str(out),
                                    env=_unactivated_env())
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    print(json.dumps(summary))
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["board"] == "ulx3s-85f" and summary["device"] == "LFE5U-85F"
    assert summary["clock_mhz"] == 25.0
    # the MAC's 8x8 product is one MULT18X18D; the 1024-beat stimulus ROM is in block RAM
    assert summary["mult18"] == 1 and 1 <= summary["dp16kd"] <= 8
    assert 100 < summary["lut4"] < 5000 and 100 < summary["ff"] < 5000
    assert summary["fmax_mhz"] > summary["clock_mhz"] and summary["met"] is True
    bitstream = Path(summary["bitstream"])
    assert bitstream == out / "selftest.bit" and bitstream.stat().st_size > 100_000
    assert (out / "nextpnr.log").read_text().count("Max frequency") >= 1
    report = json.loads((out / "nextpnr.json").read_text())
    assert report["utilization"]["TRELLIS_COMB"]["used"] == summary["lut4"]
    assert str(bitstream) in stdout and "met" in stdout
    assert not list(tmp_path.glob(".hybridgen-fpga-*"))  # the scratch directory is gone


@pytest.mark.slow
def test_mac_int8_out_of_context(tmp_path):
    out = tmp_path / "ooc"
    code, stdout, stderr = _run_cli("mac-int8", "--board", "ulx3s-85f", "--ooc", "-o", str(out))
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    print(json.dumps(summary))
    assert SUMMARY_KEYS <= summary.keys() and summary["ooc"] is True
    assert summary["bitstream"] is None and not list(out.glob("*.bit"))
    assert summary["mult18"] == 1 and summary["dp16kd"] == 0 and summary["clock_mhz"] == 100.0
    assert 0 < summary["lut4"] < 200 and summary["ff"] >= 80  # 16 + 32 + 32 pipeline bits
    assert summary["fmax_mhz"] > 0 and summary["met"] == (summary["fmax_mhz"] >= 100.0)


def test_too_big_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    """The fit check runs on the synthesis statistics: a device without multipliers rejects the
    MAC before place and route."""
    device = fpga.DEVICES["LFE5U-85F"]
    monkeypatch.setitem(fpga.DEVICES, "LFE5U-85F",
                        fpga.Device(device.name, device.nextpnr, device.lut4, device.ff, 0,
                                    device.dp16kd))
    out = tmp_path / "out"
    assert main(["fpga", "mac-int8", "--board", "ulx3s-85f", "--ooc", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err == ("hybridgen: error: fpga: does not fit the LFE5U-85F: needs 1 MULT18X18D "
                   "after synthesis, the device has 0\n")
    assert not out.exists() and not list(tmp_path.iterdir())


def test_check_fit_names_each_resource():
    device = fpga.DEVICES["LFE5U-85F"]
    assert fpga.check_fit({"LUT4": 10, "CCU2C": 3, "TRELLIS_FF": 5}, device)["lut4"] == 16
    for cells, words in [({"LUT4": 83641}, "83641 LUT4"), ({"LUT4": 83000, "CCU2C": 400},
                                                           "83800 LUT4"),
                         ({"TRELLIS_FF": 90000}, "90000 flip-flops"),
                         ({"MULT18X18D": 157}, "157 MULT18X18D after synthesis, the device has 156"),
                         ({"DP16KD": 209}, "209 DP16KD after synthesis, the device has 208")]:
        with pytest.raises(fpga.UserError, match=words):
            fpga.check_fit(cells, device)


@pytest.mark.parametrize("args, message", [
    (["mac-int8", "--board", "ulx3s-12f"], "--board: invalid choice: 'ulx3s-12f'"),
    (["prefill-tiny", "--board", "ulx3s-85f"], "block 'systolic' has no FPGA self-test top"),
    (["kv-tiny", "--set", "unit=packer", "--board", "ecp5-evn"], "unit: must be 'codec'"),
    (["mac-int8", "--set", "dtype=fp8", "--board", "ulx3s-85f"], "dtype: must be one of"),
    (["nope", "--board", "ulx3s-85f"], "preset: unknown preset 'nope'"),
    (["mac-int8", "--board", "ulx3s-85f", "--top", "x"], "--top: only with --ooc"),
    (["mac-int8", "--board", "ulx3s-85f", "--seed", "-1"], "--seed: must be a non-negative"),
    (["mac-int8", "--board", "ulx3s-85f", "--ooc", "--clock-mhz", "0"], "--clock-mhz: must be"),
])
def test_bad_input_is_one_line(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["fpga", *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("preset, board", [("mac-bf16", "ulx3s-85f"), ("fpga-kv", "ulx3s-85f"),
                                           ("mac-int8", "ecp5-evn")])
def test_board_builds(preset, board, tmp_path):
    out = tmp_path / preset
    code, stdout, stderr = _run_cli(preset, "--board", board, "-o", str(out))
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    print(json.dumps(summary))
    assert SUMMARY_KEYS <= summary.keys() and summary["met"] is True
    assert Path(summary["bitstream"]).stat().st_size > 100_000


@pytest.mark.slow
def test_16x16_gemm_engine_does_not_fit(tmp_path):
    """256 int8 PEs need more multipliers than the device has: stopped after synthesis."""
    out = tmp_path / "gemm"
    code, stdout, stderr = _run_cli("prefill-tiny", "--set", "rows=16", "--set", "cols=16",
                                    "--board", "ulx3s-85f", "--ooc", "-o", str(out))
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert "does not fit the LFE5U-85F" in stderr and "MULT18X18D" in stderr
    assert "the device has 156" in stderr and not out.exists()
