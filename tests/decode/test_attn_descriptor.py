"""The decode-attention descriptor (``Op.ATTN``, rtl/decode/layouts.py) and its checks in
:class:`hybridgen.rtl.decode.control.GemvControl` (Amaranth simulator, combinational verdict on
``incoming``), and the configuration's attention fields (one-line errors naming the field)."""

import pytest
from amaranth.hdl import Value
from amaranth.sim import Simulator

from hybridgen.gen.errors import ConfigError
from hybridgen.gen.presets import resolve
from hybridgen.rtl.decode.control import GemvControl
from hybridgen.rtl.decode.layouts import Error, KvFormat, Op


def _geometry(formats="bfp8,bf16"):
    _, config = resolve("decode-attn-tiny")
    return config.override([f"kv_formats={formats}"]).geometry


GOOD = {"op": Op.ATTN.value, "batch": 2, "hq": 4, "hkv": 2, "d": 64, "sk": 77,
        "kv_format": KvFormat.BFP8.value}

CASES = [
    ({}, 0),
    ({"hq": 2}, 0),                                    # MHA
    ({"d": 128}, 0),                                   # the largest d (q_kib = 1)
    ({"kv_format": KvFormat.BF16.value}, 0),
    ({"batch": 0}, Error.ATTN_SHAPE),
    ({"batch": 3}, Error.ATTN_SHAPE),                  # above max_batch
    ({"hkv": 0}, Error.ATTN_SHAPE),
    ({"hq": 0}, Error.ATTN_SHAPE),
    ({"hq": 5}, Error.ATTN_SHAPE),                     # not a multiple of hkv
    ({"hq": 6}, Error.ATTN_SHAPE),                     # g = 3 above attn_heads = 2
    ({"d": 0}, Error.ATTN_SHAPE),
    ({"d": 48}, Error.ATTN_SHAPE),                     # not a multiple of 32
    ({"d": 160}, Error.ATTN_SHAPE),                    # above the q buffer's 128
    ({"sk": 0}, Error.ATTN_SHAPE),
    ({"kv_format": KvFormat.BFP4.value}, Error.ATTN_FORMAT),   # not in this build
    ({"kv_format": 3}, Error.ATTN_FORMAT),
    ({"d": 48, "kv_format": KvFormat.BFP4.value}, Error.ATTN_SHAPE | Error.ATTN_FORMAT),
]


def test_attention_descriptor_checks():
    g = _geometry()
    assert (g.attn_heads, g.attn_max_d, g.kv_formats) == (2, 128, ("bfp8", "bf16"))
    dut = GemvControl(g)
    seen = []

    async def bench(ctx):
        for extra, want in CASES:
            values = {**GOOD, **extra}
            for name, value in values.items():
                ctx.set(Value.cast(getattr(dut.incoming, name)), value)
            seen.append((extra, ctx.get(dut.check), Error(want)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) == len(CASES)
    for extra, got, want in seen:
        assert got == want, f"{extra}: check {got!r}, expected {want!r}"


def test_without_attention_hardware_the_op_is_unknown():
    _, config = resolve("decode-tiny")
    dut = GemvControl(config.geometry)
    got = []

    async def bench(ctx):
        for name, value in GOOD.items():
            ctx.set(Value.cast(getattr(dut.incoming, name)), value)
        got.append(ctx.get(dut.check))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert got == [Error.OP]


@pytest.mark.parametrize("preset, assignment, message", [
    ("decode-tiny", "attn_heads=2", "attn_heads: needs dot = 32 (a lane's dot product is one "
                                    "32-value tile row), not dot 8"),
    ("decode-attn-tiny", "q_kib=0", "q_kib: must be an integer in 1..4096, not 0"),
    ("decode-small", "attn_heads=64", "attn_heads: must be an integer in 0..16, not 64"),
    ("decode-attn-tiny", "kv_formats=bf16", "kv_formats: must hold bfp8 or bfp4 for decode "
                                            "attention, not 'bf16'"),
    ("decode-attn-tiny", "attn_lanes=16", "attn_lanes: must be one of 32, 64, 128, not 16"),
])
def test_attention_config_errors(preset, assignment, message):
    _, config = resolve(preset)
    with pytest.raises(ConfigError) as info:
        config.override([assignment])
    assert str(info.value) == message


def test_attention_layout_entry():
    _, config = resolve("decode-attn-tiny")
    layout = config.w_layout["attention"]
    assert (layout["heads_per_kv_head"], layout["max_d"]) == (2, 128)
    assert layout["kv_formats"] == ["bfp8", "bfp4", "bf16"]
    assert {"k", "v", "q", "o", "cache_lens", "tile"} <= set(layout)
    _, tiny = resolve("decode-tiny")
    assert "attention" not in tiny.w_layout
