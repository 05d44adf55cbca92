"""cocotb regressions of the decode read path's dequantizer (``rtl/kv``, ``unit = "dequantizer"``).

``kv-decode`` (128 lanes, 64-byte bus: BFP8 and BFP4 chosen per tile, bf16 pass-through) on both
simulators: edge-case, random and decode-sweep tiles in random formats with random stalls, and
the throughput/latency check (the packed bus busy every cycle in every format). A 64-lane
geometry on a 32-byte bus (two tile rows per beat, BFP8 only with bf16 gathered from four beats)
runs on Icarus.
"""

import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner

TB = "hybridgen.verif.kv.tb_dequantizer"


def test_kv_decode(sim):
    """kv-decode: bit-exact with stalls, then bus-limited throughput and exact latencies."""
    build = runner.build(generate("kv-decode"), sim)
    for testcase in ("stream", "throughput"):
        runner.run(build, TB, testcase=testcase, name=f"kv-decode-{testcase}",
                   env={"KV_TILES": "6", "KV_SWEEP_TILES": "6"})


def test_kv_64_lanes_icarus():
    build = runner.build(generate("kv-decode", ("lanes=64", "bus_bytes=32", "format=bfp8")),
                         "icarus")
    for testcase in ("stream", "throughput"):
        runner.run(build, TB, testcase=testcase, name=f"kv-l64b32-{testcase}",
                   env={"KV_TILES": "3", "KV_SWEEP_TILES": "3", "KV_THROUGHPUT_TILES": "3"})
