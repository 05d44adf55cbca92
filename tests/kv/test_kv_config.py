"""KV codec configuration, presets and elaboration of every top (no simulation)."""

import pytest

from hybridgen.gen.config import Config
from hybridgen.gen.elaborate import generate
from hybridgen.gen.errors import ConfigError
from hybridgen.gen.presets import resolve
from hybridgen.rtl.kv import TileGeometry


def test_presets_and_derived_figures():
    _, tiny = resolve("kv-tiny")
    assert (tiny.lanes, tiny.bus_bytes, tiny.format) == (8, 16, "both")
    _, small = resolve("kv-small")
    assert small.lanes == 16 and small.peak_values_per_cycle == {"bfp8": 16, "bfp4": 16}
    assert small.packed_beats_per_tile == {"bfp8": 34, "bfp4": 18}
    assert small.compression_vs_bf16 == {"bfp8": 1.882353, "bfp4": 3.555556}
    _, hbm = resolve("kv-hbm3")
    assert hbm.bus_bytes == 64 and hbm.peak_values_per_cycle["bfp8"] == 32
    # a bus narrower than 1.0625 x lanes limits BFP8 but not BFP4
    narrow = small.override(["bus_bytes=16"])
    assert narrow.peak_values_per_cycle == {"bfp8": round(16 * 1024 / 1088, 6), "bfp4": 16}


@pytest.mark.parametrize("assignment, message", [
    ("lanes=12", "lanes: must be a power of two in 2..32, not 12"),
    ("lanes=64", "lanes: must be a power of two in 2..32, not 64"),
    ("bus_bytes=128", "bus_bytes: must be a power of two in 1..64, not 128"),
    ("format=mx8", "format: must be one of 'bfp8', 'bfp4', 'both', not 'mx8'"),
    ("unit=link", "unit: must be one of 'codec', 'packer', 'dequantizer', not 'link'"),
])
def test_bad_values_name_the_field(assignment, message):
    _, config = resolve("kv-small")
    with pytest.raises(ConfigError) as info:
        config.override([assignment])
    assert str(info.value) == message


def test_geometry_rejects_bad_values():
    with pytest.raises(ValueError, match="lanes"):
        TileGeometry(lanes=3, bus_bytes=8, formats=("bfp8",))
    with pytest.raises(ValueError, match="bus_bytes"):
        TileGeometry(lanes=8, bus_bytes=128, formats=("bfp8",))


@pytest.mark.parametrize("unit, ports", [
    ("packer", {"i__payload", "o__payload"}),
    ("dequantizer", {"i__payload", "o__payload"}),
    ("codec", {"packer_i__payload", "packer_o__payload", "dequantizer_i__payload",
               "dequantizer_o__payload"}),
])
def test_every_unit_elaborates(unit, ports):
    design = generate("kv-tiny", [f"unit={unit}", "format=bfp8"])
    names = {p["name"] for p in design.sidecar["ports"]}
    assert ports <= names
    fields = {p["name"]: {f["name"] for f in p["fields"]} for p in design.sidecar["ports"]
              if "fields" in p}
    # one format: no bfp4 sideband on any stream
    assert all("bfp4" not in f for f in fields.values())
    assert isinstance(design.config, Config) and design.config.unit == unit


def test_runtime_format_sideband_and_layout():
    design = generate("kv-tiny")
    ports = {p["name"]: p for p in design.sidecar["ports"]}
    packer_i = {f["name"]: f for f in ports["packer_i__payload"]["fields"]}
    assert packer_i["data"] == {"name": "data", "offset": 0, "width": 128, "signed": False}
    assert packer_i["bfp4"]["width"] == 1
    packed = {f["name"]: f for f in ports["packer_o__payload"]["fields"]}
    assert packed["data"]["width"] == 128 and {"last", "bfp4"} <= packed.keys()
    assert ports["packer_o__payload"] == ports["dequantizer_i__payload"] | {
        "name": "packer_o__payload", "direction": "output"}


def test_decode_width_dequantizer_config():
    """64 / 128 lanes and bf16 pass-through for the dequantizer alone; the other units keep 32."""
    _, decode = resolve("kv-decode")
    assert (decode.lanes, decode.bus_bytes, decode.unit) == (128, 64, "dequantizer")
    assert decode.formats == ("bfp8", "bfp4", "bf16")
    assert decode.packed_beats_per_tile == {"bfp8": 17, "bfp4": 9, "bf16": 32}
    assert decode.peak_values_per_cycle == {"bfp8": 60.235294, "bfp4": 113.777778, "bf16": 32}
    assert decode.override(["lanes=64", "bus_bytes=32"]).value_beats_per_tile == 16
    for assignment, message in [
        (["lanes=256"], "lanes: must be an integer in 2..128, not 256"),
        (["lanes=96"], "lanes: must be a power of two in 2..128, not 96"),
        (["bus_bytes=4"], "bus_bytes: must be at least lanes / 16 = 8 with 128 lanes, not 4"),
        (["lanes=16"],
         "bf16: bf16 pass-through needs 2 * lanes >= bus_bytes, not lanes 16 with bus_bytes 64"),
        (["lanes=32", "unit=codec"],
         "bf16: bf16 pass-through needs unit = 'dequantizer', not 'codec'"),
    ]:
        with pytest.raises(ConfigError) as info:
            decode.override(assignment)
        assert str(info.value) == message
    with pytest.raises(ValueError, match="packer takes at most 32 lanes"):
        from hybridgen.rtl.kv import BfpPacker
        BfpPacker(TileGeometry(lanes=64, bus_bytes=64, formats=("bfp8",)))
    with pytest.raises(ValueError, match="at least one BFP format"):
        TileGeometry(lanes=32, bus_bytes=64, formats=("bf16",))
    design = generate("kv-decode")
    fields = {p["name"]: {f["name"] for f in p["fields"]} for p in design.sidecar["ports"]
              if "fields" in p}
    assert fields["i__payload"] == {"data", "last", "bfp4", "bf16"}
