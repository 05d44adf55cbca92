"""ScoreLanes (rtl/decode/scores.py) in the Amaranth simulator: packed K tiles (BFP8, BFP4 and
bf16, chosen per position tile group) through the fused dequantizer into 2 lanes of dot 32,
two q heads, d = 32 and 64 (runtime), random bubbles and back-pressure; bit-exact against the
score of golden.decode_attn (dot 32: ``fp32_mul(dot_bf16_accumulate(q, K_p, 32), c)``)."""

import numpy as np
import pytest
from amaranth.hdl import Value
from amaranth.sim import Simulator

from hybridgen.golden.decode_attn import dequantized_cache, score_scale_bits
from hybridgen.golden.kvquant import pack_kv_cache
from hybridgen.golden.numerics import dot_bf16_accumulate, fp32_mul
from hybridgen.rtl.decode.scores import POSITIONS, ScoreLanes, score_layout
from hybridgen.rtl.kv.bfp import TileGeometry
from hybridgen.rtl.kv.layouts import packed_layout

GEOMETRY = TileGeometry(lanes=32, bus_bytes=64, formats=("bfp8", "bfp4", "bf16"))
HEADS, MAX_TILES = 2, 2


def _bf16(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32).view(np.uint32)
    return ((x + 0x7FFF + ((x >> 16) & 1)) >> 16).astype(np.uint16)


def _case(rng, d, groups):
    """q [heads, d] and ``groups`` position tile groups, each (fmt, packed [d/32, bytes],
    expected scores [heads, 32])."""
    q = _bf16(rng, (HEADS, d))
    out = []
    for _ in range(groups):
        fmt = str(rng.choice(["bfp8", "bfp4", "bf16"]))
        k = _bf16(rng, (1, POSITIONS, 1, d))
        packed = pack_kv_cache(k, fmt)                              # [1, 1, 1, d/32, bytes]
        K = dequantized_cache(packed, fmt)[0, 0, 0]                 # [32, d]
        s = fp32_mul(dot_bf16_accumulate(q[:, None, :], K[None], 32), score_scale_bits(d))
        out.append((fmt, packed[0, 0, 0], s))
    return q, out


# d = 32 took 96 s on the loaded 2-core machine; d = 64 (two dim tiles: the accumulation over
# them) stays in the regression
@pytest.mark.parametrize("d", [pytest.param(32, marks=pytest.mark.slow), 64])
def test_score_lanes(seed, d):
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    q, groups = _case(rng, d, 3)
    dut = ScoreLanes(GEOMETRY, width=2, heads=HEADS, max_dim_tiles=MAX_TILES)
    layout, out_layout = packed_layout(GEOMETRY), score_layout(HEADS)
    qpad = np.zeros((HEADS, 32 * MAX_TILES), np.uint16)
    qpad[:, :d] = q
    got = []

    async def drive(ctx):
        ctx.set(Value.cast(dut.q), int.from_bytes(qpad.astype("<u2").tobytes(), "little"))
        ctx.set(dut.dim_tiles, d // 32)
        for fmt, packed, _ in groups:
            for tile in packed:
                beats = tile.reshape(-1, 64)
                for n, beat in enumerate(beats):
                    while rng.random() < 0.25:
                        ctx.set(dut.i.valid, 0)
                        await ctx.tick()
                    ctx.set(dut.i.payload, layout.const({
                        "data": [int(x) for x in beat], "last": int(n == len(beats) - 1),
                        "bfp4": int(fmt == "bfp4"), "bf16": int(fmt == "bf16")}))
                    ctx.set(dut.i.valid, 1)
                    await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def collect(ctx):
        while len(got) < HEADS * len(groups):
            ready = int(rng.random() >= 0.4)
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(dut.o.valid):
                got.append(ctx.get(Value.cast(dut.o.payload)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(collect)
    sim.run_until(1e-8 * 150 * len(groups) * d // 32 + 1e-8 * 500)
    assert len(got) == HEADS * len(groups), f"{len(got)} of {HEADS * len(groups)} beats"
    for n, raw in enumerate(got):
        view = out_layout.from_bits(raw)
        fmt, _, s = groups[n // HEADS]
        assert int(view.head) == n % HEADS
        s_rtl = np.array([int(view.s[p]) for p in range(POSITIONS)], np.uint32)
        assert np.array_equal(s_rtl, s[n % HEADS]), f"group {n // HEADS} ({fmt}) head {n % HEADS}"
