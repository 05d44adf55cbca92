"""``hybridgen bench gemv`` end to end on ``decode-tiny`` (Icarus): the JSON contract and the
bench memory's rules (fixed latency, half duplex, no random stalls)."""

import json
import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.sims("icarus")
def test_bench_gemv_json_and_npz(tmp_path, sim):
    save = tmp_path / "gemv.npz"
    run = subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", "bench", "gemv",
                          "--preset", "decode-tiny", "--batch", "3", "--k", "45", "--n", "37",
                          "--sim", sim, "--seed", "7", "--save", str(save), "--json"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["correct"] and result["guard_ok"]
    b, k, n = 3, 45, 37
    assert result["bytes"] == 2 * k * n + 2 * b * k + 2 * b * n
    assert result["peak_bytes_per_cycle"] == 32 and result["peak_macs_per_cycle"] == 64
    assert result["ideal_cycles"] == -(-result["bytes"] // 32)
    assert result["bandwidth_utilization"] == round(result["bytes"] / (32 * result["cycles"]), 6)
    assert result["counter_cycles"] == result["cycles"]
    assert sum(result["stalls"].values()) == result["cycles"]
    assert result["memory_latency"] == 128
    # W read once: row bytes = the channel layout of W plus x on channel 0
    with np.load(save) as npz:
        assert npz["x"].shape == (b, k) and npz["w"].shape == (k, n) and npz["y"].shape == (b, n)
        assert npz["y"].dtype == np.uint16
        meta = json.loads(str(npz["meta"]))
    assert meta["formats"] == {"x": "uint16 bf16", "w": "uint16 bf16", "y": "uint16 bf16"}
