"""cocotb regressions of the KV codec (``rtl/kv``) on every simulator, and ``bench kvcodec``.

One design, ``kv-tiny`` (8 lanes, 16-byte bus, BFP8/BFP4 chosen per tile), runs the loop
(every edge-case tile + random tiles, random stalls everywhere, packer -> dequantizer), the
decode sweep (every (E, code) pair on Verilator; a random sample of it on Icarus, which
simulates this design ~20x slower) and the throughput/latency checks. One more geometry (32
lanes: two face rows per beat; an 8-byte bus: bus-limited, words wider than the bus; BFP4
hard-wired) covers the other datapath variants. Further geometries (16 lanes with a 64-byte bus,
4 and 2 lanes) run on Icarus only, where a build costs a second rather than half a minute of C++
compilation, with fewer tiles: they share the per-value datapath with the geometries above and
differ in buffering and framing.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner

WIDE_LANES_NARROW_BUS = ("lanes=32", "bus_bytes=8", "format=bfp4")
ICARUS_GEOMETRIES = [
    ("lanes=16", "bus_bytes=64", "format=bfp8"),
    ("lanes=4", "bus_bytes=2"),
    ("lanes=2", "bus_bytes=1", "format=bfp4"),
]


@pytest.mark.parametrize("testcase", ["loop", "decode_sweep", "throughput"])
def test_kv_tiny(testcase, sim):
    """kv-tiny: bit-exact loop with stalls, (E, code) pairs decoded, no gaps, exact latency."""
    env = {"KV_TILES": "8", "KV_SWEEP_TILES": "8"} if sim == "icarus" else {}
    runner.run(runner.build(generate("kv-tiny"), sim), "hybridgen.verif.kv.tb_kv", testcase=testcase,
               name=f"kv-tiny-{testcase}", env=env)


# A second design per simulator: its Verilator build (~1 min of CPU) runs in `make test-slow`.
@pytest.mark.slow_on("verilator")
def test_kv_wide_lanes_narrow_bus(sim):
    """32 lanes, 8-byte bus, BFP4 only: loop with stalls, then bus-limited throughput."""
    build = runner.build(generate("kv-tiny", WIDE_LANES_NARROW_BUS), sim)
    for testcase in ("loop", "throughput"):
        runner.run(build, "hybridgen.verif.kv.tb_kv", testcase=testcase, name=f"kv-l32b8-{testcase}",
                   env={"KV_TILES": "6"})


@pytest.mark.parametrize("overrides", ICARUS_GEOMETRIES, ids=lambda o: ",".join(o))
def test_kv_other_geometries_icarus(overrides):
    build = runner.build(generate("kv-tiny", overrides), "icarus")
    for testcase in ("loop", "throughput"):
        runner.run(build, "hybridgen.verif.kv.tb_kv", testcase=testcase, name=f"kv-geom-{testcase}",
                   env={"KV_TILES": "3", "KV_EDGE": "some", "KV_THROUGHPUT_TILES": "3"})


def _bench(*args):
    result = subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", "bench", "kvcodec", *args],
                            capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout, result.stderr


def test_bench_json_save_and_replay(tmp_path, sim):
    saved = tmp_path / "run.npz"
    code, stdout, stderr = _bench("--preset", "kv-tiny", "--tiles", "4", "--sim", sim,
                                  "--seed", "5", "--json", "--save", str(saved))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert {"kernel", "preset", "sim", "shape", "correct", "cycles", "ideal_cycles",
            "utilization", "wall_s", "values_per_cycle", "bytes_per_value",
            "compression_vs_bf16"} <= result.keys()
    assert result["correct"] is True and result["shape"] == {"tiles": 4}
    # kv-tiny chooses the format per tile: the bench alternates BFP8, BFP4, BFP8, BFP4.
    assert result["packed_bytes"] == 2 * 1088 + 2 * 576
    assert result["bytes_per_value"] == (2 * 1088 + 2 * 576) / 4096
    assert 0.8 * 8 <= result["values_per_cycle"] <= 8
    with np.load(saved) as npz:
        meta = json.loads(str(npz["meta"]))
        assert set(npz.files) == {"x", "packed", "unpacked", "meta"}
        assert meta["formats"] == {"x": "uint16 bf16", "packed": "uint8 bytes",
                                   "unpacked": "uint16 bf16"}
        assert npz["x"].shape == (4, 32, 32) and npz["unpacked"].shape == (4, 32, 32)
        inputs, packed = {"x": npz["x"]}, npz["packed"]
    replay = tmp_path / "replay.npz"
    np.savez(replay, **inputs)
    again = tmp_path / "again.npz"
    code, stdout, stderr = _bench("--preset", "kv-tiny", "--sim", sim, "--inputs", str(replay),
                                  "--json", "--save", str(again))
    assert code == 0, stderr
    assert json.loads(stdout)["shape"] == {"tiles": 4}
    with np.load(again) as npz:
        assert np.array_equal(npz["packed"], packed)


def test_bench_errors_are_one_line():
    code, _, stderr = _bench("--preset", "kv-tiny", "--tiles", "0")
    assert code == 2 and stderr.startswith(
        "hybridgen: error: --tiles: must be an integer in 1..100000, not 0")
    code, _, stderr = _bench("--preset", "kv-tiny", "--format", "bfp8", "--set", "format=bfp4")
    assert code == 2 and stderr.startswith(
        "hybridgen: error: --format: conflicts with --set format=bfp4")
    code, _, stderr = _bench("--preset", "kv-tiny", "--set", "unit=packer")
    assert code == 2 and stderr.startswith("hybridgen: error: unit: must be 'codec'")
