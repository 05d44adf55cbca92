"""cocotb regressions of the MAC units on every simulator, and the ``bench mac`` contract."""

import json
import subprocess
import sys

import numpy as np
import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner


@pytest.mark.parametrize("preset", ["mac-int8", "mac-bf16"])
def test_mac_vectors_bit_exact(preset, sim):
    """20,000 generated vectors + every special-value combination, random stalls both sides."""
    runner.run(runner.build(generate(preset), sim), "hybridgen.verif.arith.tb_mac", testcase="vectors",
               name=preset)


def _bench(*args):
    result = subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", "bench", "mac", *args],
                            capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("preset", ["mac-int8", "mac-bf16"])
def test_bench_json_save_and_replay(preset, tmp_path, sim):
    saved = tmp_path / "run.npz"
    code, stdout, stderr = _bench("--preset", preset, "--n", "300", "--sim", sim, "--seed", "7",
                                  "--json", "--save", str(saved))
    assert code == 0, stderr
    result = json.loads(stdout)  # exactly one JSON object on stdout
    assert {"kernel", "preset", "sim", "shape", "correct", "cycles", "ideal_cycles",
            "utilization", "wall_s"} <= result.keys()
    assert result["correct"] is True and result["shape"] == {"n": 300}
    # No stalls in the bench: one result per cycle after the pipeline fills.
    assert result["cycles"] == 300 + result["latency"]
    with np.load(saved) as npz:
        meta = json.loads(str(npz["meta"]))
        assert set(npz.files) == {"a", "b", "acc_in", "out", "meta"}
        assert meta["seed"] == 7 and meta["kernel"] == "mac"
        assert set(meta["formats"]) == {"a", "b", "acc_in", "out"}
        # Replay the saved inputs with corrupted outputs removed: the RTL reproduces `out`.
        inputs = {key: npz[key] for key in ("a", "b", "acc_in")}
        out = npz["out"]
    replay = tmp_path / "replay.npz"
    np.savez(replay, **inputs)
    again = tmp_path / "again.npz"
    code, stdout, stderr = _bench("--preset", preset, "--sim", sim, "--inputs", str(replay),
                                  "--json", "--save", str(again))
    assert code == 0, stderr
    assert json.loads(stdout)["shape"] == {"n": 300}
    with np.load(again) as npz:
        assert np.array_equal(npz["out"], out)
