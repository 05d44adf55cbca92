"""PartialCombine (rtl/decode/combine.py) in the Amaranth simulator: the per-unit partial
triples of golden.decode_attn.decode_attention_bits (4 units, dot 32; cache lengths 0, 40 and
200 so that some units read no tile) folded in unit order, random bubbles and back-pressure;
the bf16 rows must equal the golden o bit for bit."""

import numpy as np
import pytest
from amaranth.hdl import Value
from amaranth.sim import Simulator

from hybridgen.golden.decode_attn import decode_attention_bits, decode_attention_case
from hybridgen.rtl.decode.combine import PartialCombine, partial_layout, row_layout

UNITS, D = 4, 64


@pytest.mark.parametrize("lanes", [4, pytest.param(1, marks=pytest.mark.slow),
                                   pytest.param(8, marks=pytest.mark.slow)])
def test_partial_combine(seed, lanes):
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    case = decode_attention_case(rng, b=3, sk=200, hq=2, hkv=1, d=D, fmt="bfp8",
                                 cache_lens=[0, 40, 200], units=UNITS, dot=32)
    o, (m_, l_, O_) = decode_attention_bits(case["q"], case["k_packed"], case["v_packed"],
                                            case["cache_lens"], "bfp8", units=UNITS, dot=32,
                                            return_partials=True)
    assert np.array_equal(o, case["o"])
    rows = [(bi, h) for bi in range(3) for h in range(2)]
    dut = PartialCombine(dims=D, lanes=lanes)
    il, ol = partial_layout(D), row_layout(D)
    got = []

    async def drive(ctx):
        for bi, h in rows:
            for u in range(UNITS):
                while rng.random() < 0.3:
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick()
                ctx.set(dut.i.payload, il.const({"m": int(m_[u, bi, h]), "l": int(l_[u, bi, h]),
                                                 "o": [int(x) for x in O_[u, bi, h]],
                                                 "last": int(u == UNITS - 1)}))
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def collect(ctx):
        while len(got) < len(rows):
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
    sim.run_until(1e-8 * len(rows) * UNITS * (D + 60))
    assert len(got) == len(rows), f"{len(got)} of {len(rows)} rows"
    for (bi, h), raw in zip(got and rows, got):
        view = ol.from_bits(raw)
        row = np.array([int(view.o[e]) for e in range(D)], np.uint16)
        assert np.array_equal(row, o[bi, h]), f"batch {bi} head {h}: " \
            f"{np.flatnonzero(row != o[bi, h])[:8].tolist()}"
