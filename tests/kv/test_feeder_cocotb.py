# amaranth: UnusedElaboratable=no
"""cocotb regression of ``rtl/kv/feeder.py`` (the dequantizer-fed QK front end) on both
simulators: 32 lanes on a 64-byte bus, BFP8 / BFP4 / bf16 per tile, dot 8, two q heads per kv
head, two dim tiles per group (d = 64). Marked ``slow``: the design is converted from the
component on every run (no generation cache; about 10 s on an idle machine, 30 s loaded) and
its two 16-Kbit tile registers make Icarus slow; run with ``-m slow``."""

import pytest

from hybridgen.gen.elaborate import design_from_component
from hybridgen.rtl.kv import TileGeometry
from hybridgen.rtl.kv.feeder import KvScoreFeeder
from hybridgen.verif import runner

PARAMS = {"lanes": 32, "bus_bytes": 64, "formats": ["bfp8", "bfp4", "bf16"], "dot": 8,
          "heads": 2, "dim_tiles": 2}


def _design(params):
    geometry = TileGeometry(lanes=params["lanes"], bus_bytes=params["bus_bytes"],
                            formats=tuple(params["formats"]))
    feeder = KvScoreFeeder(geometry, dot=params["dot"], heads=params["heads"],
                           dim_tiles=params["dim_tiles"])
    return design_from_component(feeder, "kv_feeder", info={"feeder": params})


@pytest.mark.slow
def test_feeder(sim):
    build = runner.build(_design(PARAMS), sim)
    for testcase in ("stream", "throughput"):
        runner.run(build, "hybridgen.verif.kv.tb_feeder", testcase=testcase,
                   name=f"kv-feeder-{testcase}", env={"KV_GROUPS": "3"})


def test_feeder_rejects_bad_parameters():
    geometry = TileGeometry(lanes=32, bus_bytes=64, formats=("bfp8",))
    with pytest.raises(ValueError, match="dot must be a power of two"):
        KvScoreFeeder(geometry, dot=3, heads=1, dim_tiles=1)
    with pytest.raises(ValueError, match="heads must be a positive integer"):
        KvScoreFeeder(geometry, dot=8, heads=0, dim_tiles=1)
    with pytest.raises(ValueError, match="dim_tiles must be a positive integer"):
        KvScoreFeeder(geometry, dot=8, heads=1, dim_tiles=0)
