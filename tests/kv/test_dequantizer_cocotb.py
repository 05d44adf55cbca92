"""cocotb regressions of the decode read path's dequantizer (``rtl/kv``, ``unit = "dequantizer"``).

Two tile rows per beat (64 lanes on a 32-byte bus, BFP8 and BFP4 chosen per tile, bf16
gathered from four beats) and ``kv-decode`` itself (128 lanes = four tile rows per beat, 64-byte
bus, bf16 from two beats); 32 lanes with bf16 from one beat. Each: edge-case, random and decode-sweep tiles in random formats
with random stalls on both streams, then the throughput/latency check (the packed bus busy
every cycle in every format). In the regression both run on Icarus (a build of seconds); on
Verilator a build of these 64- and 128-decoder designs compiles for about two minutes, so the
Verilator runs are marked ``slow`` (``-m slow``); ``hybridgen bench kvcodec --preset kv-decode``
also runs kv-decode on Verilator, bit-exact.
"""

import json
import subprocess
import sys

import numpy as np
import pytest


from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner

TB = "hybridgen.verif.kv.tb_dequantizer"
TWO_ROWS = ("lanes=64", "bus_bytes=32")


def _run(build, name, env):
    for testcase in ("stream", "throughput"):
        runner.run(build, TB, testcase=testcase, name=f"{name}-{testcase}", env=env)


SMALL = {"KV_TILES": "3", "KV_SWEEP_TILES": "3", "KV_THROUGHPUT_TILES": "2"}


def test_two_rows_per_beat_icarus():
    """64 lanes, 32-byte bus, BFP8/BFP4/bf16: bit-exact with stalls, bus-limited throughput."""
    _run(runner.build(generate("kv-decode", TWO_ROWS), "icarus"), "kv-l64b32", SMALL)


def test_kv_decode_icarus():
    """kv-decode (128 lanes, 64-byte bus): the same."""
    _run(runner.build(generate("kv-decode"), "icarus"), "kv-decode",
         {"KV_TILES": "3", "KV_SWEEP_TILES": "3", "KV_THROUGHPUT_TILES": "3"})


def test_one_row_bf16_per_beat_icarus():
    """32 lanes, 64-byte bus (kv-hbm3's geometry) with bf16 pass-through: one packed beat per
    value beat, so a bf16 tile right behind a BFP tile must wait for the tile store to drain."""
    _run(runner.build(generate("kv-decode", ("lanes=32",)), "icarus"), "kv-l32b64", SMALL)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [TWO_ROWS, ()], ids=["l64b32", "kv-decode"])
def test_verilator(overrides):
    _run(runner.build(generate("kv-decode", overrides), "verilator"), "kv-decode-verilator",
         SMALL)


def _bench(*args):
    result = subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", "bench", "kvcodec", *args],
                            capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout, result.stderr


def test_bench_on_a_dequantizer_preset(tmp_path):
    """bench kvcodec on kv-decode (32 lanes here, a cheap Icarus build): bf16 tiles, JSON
    figures, --save; the saved x replayed with --inputs (formats cycling BFP8, BFP4)."""
    saved = tmp_path / "run.npz"
    code, stdout, stderr = _bench("--preset", "kv-decode", "--set", "lanes=32", "--tiles", "2",
                                  "--tile-format", "bf16", "--sim", "icarus", "--seed", "3",
                                  "--json", "--save", str(saved))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["correct"] is True and result["shape"] == {"tiles": 2, "tile_format": "bf16"}
    assert result["packed_bytes"] == 2 * 2048 and result["compression_vs_bf16"] == 1.0
    assert result["bus_utilization"] > 0.9 and result["values_per_cycle"] > 0.9 * 32
    with np.load(saved) as npz:
        assert set(npz.files) == {"x", "unpacked", "meta"}
        assert np.array_equal(npz["unpacked"], npz["x"])          # bf16: passed through
        replay = tmp_path / "replay.npz"
        np.savez(replay, x=npz["x"])
    code, stdout, stderr = _bench("--preset", "kv-decode", "--set", "lanes=32", "--sim",
                                  "icarus", "--inputs", str(replay), "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["correct"] is True and result["shape"] == {"tiles": 2, "tile_format": "cycle"}
    assert result["packed_bytes"] == 1088 + 576


def test_bench_dequantizer_errors_are_one_line():
    code, _, stderr = _bench("--preset", "kv-tiny", "--tile-format", "bfp8")
    assert code == 2 and stderr.startswith(
        "hybridgen: error: --tile-format: needs a dequantizer preset")
    code, _, stderr = _bench("--preset", "kv-decode", "--set", "bf16=false", "--tile-format",
                             "bf16")
    assert code == 2 and stderr.startswith(
        "hybridgen: error: --tile-format: must be one of the configured formats bfp8, bfp4, "
        "not bf16")
    code, _, stderr = _bench("--preset", "kv-decode", "--set", "unit=codec")
    assert code == 2 and stderr.startswith("hybridgen: error: lanes: must be a power of two "
                                           "in 2..32, not 128")
