"""AttnUnit (rtl/decode/attn_unit.py) in the Amaranth simulator: the split-KV jobs of two units
(tiles 0, 2 and tile 1 of a cache of length 77, BFP8 with NaN / inf past the length) through
one unit's datapath (fused dequantizers, 2 lanes of dot 32 per path, softmax step), GQA with
two q heads, d = 64, random bubbles and back-pressure on every stream; the partials must equal
those of golden.decode_attn.decode_attention_bits (units = 2, dot = 32) bit for bit, and so
does their combine. Marked ``slow`` (about 50 s of CPU in the Amaranth simulator)."""

import numpy as np
import pytest
from amaranth.hdl import Value
from amaranth.sim import Simulator

from hybridgen.golden.decode_attn import (combine_partials, decode_attention_bits,
                                          decode_attention_case)
from hybridgen.rtl.decode.attn_unit import AttnUnit, tile_info_layout
from hybridgen.rtl.decode.combine import partial_layout
from hybridgen.rtl.kv.bfp import TileGeometry
from hybridgen.rtl.kv.layouts import packed_layout

GEOMETRY = TileGeometry(lanes=32, bus_bytes=64, formats=("bfp8", "bfp4", "bf16"))
UNITS, HEADS, D, LEN = 2, 2, 64, 77


@pytest.mark.slow
def test_attn_unit(seed):
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    fmt = "bfp8"
    case = decode_attention_case(rng, b=1, sk=LEN + 10, hq=HEADS, hkv=1, d=D, fmt=fmt,
                                 cache_lens=[LEN], units=UNITS, dot=32)
    o, (pm, pl, pO) = decode_attention_bits(case["q"], case["k_packed"], case["v_packed"],
                                            case["cache_lens"], fmt, units=UNITS, dot=32,
                                            return_partials=True)
    tiles = -(-LEN // 32)
    jobs = [[t for t in range(u, tiles, UNITS)] for u in range(UNITS)]
    dut = AttnUnit(GEOMETRY, width=2, heads=HEADS, max_dim_tiles=D // 32)
    pk, il, ol = packed_layout(GEOMETRY), tile_info_layout(), partial_layout(D)
    got = []

    def packed_driver(port, key):
        async def drive(ctx):
            for job in jobs:
                for t in job:
                    for tile in case[key][0, 0, t]:
                        beats = tile.reshape(-1, 64)
                        for n, beat in enumerate(beats):
                            while rng.random() < 0.25:
                                ctx.set(port.valid, 0)
                                await ctx.tick()
                            ctx.set(port.payload, pk.const({
                                "data": [int(x) for x in beat], "last": int(n == len(beats) - 1),
                                "bfp4": 0, "bf16": 0}))
                            ctx.set(port.valid, 1)
                            await ctx.tick().until(port.ready)
            ctx.set(port.valid, 0)
        return drive

    async def info(ctx):
        ctx.set(Value.cast(dut.q), int.from_bytes(case["q"][0].astype("<u2").tobytes(), "little"))
        ctx.set(dut.dim_tiles, D // 32)
        for job in jobs:
            for n, t in enumerate(job):
                ctx.set(dut.info.payload, il.const({"count": min(32, LEN - 32 * t),
                                                    "first": int(n == 0),
                                                    "last": int(n == len(job) - 1)}))
                ctx.set(dut.info.valid, 1)
                await ctx.tick().until(dut.info.ready)
        ctx.set(dut.info.valid, 0)

    async def collect(ctx):
        while len(got) < UNITS * HEADS:
            ready = int(rng.random() >= 0.4)
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(dut.o.valid):
                got.append(ctx.get(Value.cast(dut.o.payload)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for bench in (packed_driver(dut.k, "k_packed"), packed_driver(dut.v, "v_packed"), info,
                  collect):
        sim.add_testbench(bench)
    sim.run_until(1e-8 * 600 * tiles + 1e-8 * 1000)
    assert len(got) == UNITS * HEADS, f"{len(got)} of {UNITS * HEADS} partials"
    m_rtl = np.zeros((UNITS, 1, HEADS), np.uint32)
    l_rtl, O_rtl = m_rtl.copy(), np.zeros((UNITS, 1, HEADS, D), np.uint32)
    for n, raw in enumerate(got):
        u, h = divmod(n, HEADS)
        view = ol.from_bits(raw)
        m_rtl[u, 0, h], l_rtl[u, 0, h] = int(view.m), int(view.l)
        O_rtl[u, 0, h] = [int(view.o[e]) for e in range(D)]
        assert m_rtl[u, 0, h] == pm[u, 0, h], f"unit {u} head {h}: m"
        assert l_rtl[u, 0, h] == pl[u, 0, h], f"unit {u} head {h}: l"
        assert np.array_equal(O_rtl[u, 0, h], pO[u, 0, h]), f"unit {u} head {h}: O"
    assert np.array_equal(combine_partials(m_rtl, l_rtl, O_rtl), o)
