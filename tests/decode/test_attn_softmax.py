"""SoftmaxStep (rtl/decode/softmax.py) in the Amaranth simulator: random score tiles (NaN / inf
past ``count``), random heads and sequence starts, random bubbles and back-pressure, bit-exact
against golden.decode_attn.softmax_step; SerialPairwiseSum against vector_rowsum."""

import numpy as np
from amaranth.hdl import Value
from amaranth.sim import Simulator

from hybridgen.golden.decode_attn import softmax_step
from hybridgen.golden.numerics import vector_rowsum
from hybridgen.rtl.decode.softmax import (NEG_INF, POSITIONS, SerialPairwiseSum, SoftmaxStep,
                                          softmax_in_layout, softmax_out_layout)

JUNK = np.array([0x7FC00000, 0xFF800000, 0x7F800000, 0x7F7FFFFF], np.uint32)


def _beats(rng, n, heads):
    """Random input beats: scores N(0, 4) (a few tiles shifted by +-40 so that alpha is far
    from 1 or underflows), junk past ``count``; every head starts with ``first``."""
    started, beats = set(), []
    for _ in range(n):
        h = int(rng.integers(heads))
        first = h not in started or rng.random() < 0.15
        started.add(h)
        count = int(rng.choice([0, 1, 5, 17, 31, 32, 32]))
        s = (rng.standard_normal(POSITIONS) * 4 + rng.choice([0, 0, 40, -40])).astype(np.float32)
        s = s.view(np.uint32).copy()
        s[count:] = rng.choice(JUNK, POSITIONS - count)
        beats.append((s, count, h, first))
    return beats


def _expected(beats, heads):
    m = np.full(heads, NEG_INF, np.uint32)
    l = np.zeros(heads, np.uint32)
    out = []
    for s, count, h, first in beats:
        m0, l0 = (np.uint32(NEG_INF), np.uint32(0)) if first else (m[h], l[h])
        valid = np.arange(POSITIONS) < count
        mn, ln, alpha, P = softmax_step(np.asarray(m0), np.asarray(l0), s, valid)
        if count:
            m[h], l[h] = mn, ln
            out.append((P, int(alpha), int(mn), int(ln), h))
        else:
            m[h], l[h] = m0, l0
            out.append((np.zeros(POSITIONS, np.uint16), None, int(m0), int(l0), h))
    return out


def test_softmax_step(seed):
    heads = 3
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    beats = _beats(rng, 14, heads)
    expected = _expected(beats, heads)
    dut = SoftmaxStep(heads=heads)
    in_layout, out_layout = softmax_in_layout(heads), softmax_out_layout(heads)
    got = []

    async def drive(ctx):
        for s, count, h, first in beats:
            while rng.random() < 0.3:
                await ctx.tick()
            ctx.set(dut.i.payload, in_layout.const({"s": [int(x) for x in s], "count": count,
                                                    "head": h, "first": int(first), "last": 0}))
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def collect(ctx):
        while len(got) < len(beats):
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
    sim.run_until(1e-8 * len(beats) * (dut.cycles_per_beat + 40))
    assert len(got) == len(beats), f"{len(got)} of {len(beats)} results"
    for n, (raw, (P, alpha, mm, ll, h)) in enumerate(zip(got, expected)):
        view = out_layout.from_bits(raw)
        p = np.array([int(view.p[q]) for q in range(POSITIONS)], np.uint16)
        assert int(view.head) == h, f"beat {n}: head"
        assert np.array_equal(p, P), f"beat {n}: P {p.tolist()} != {P.tolist()}"
        if alpha is not None:
            assert int(view.alpha) == alpha, f"beat {n}: alpha {int(view.alpha):#x} != {alpha:#x}"
        assert int(view.m) == mm, f"beat {n}: m {int(view.m):#x} != {mm:#x}"
        assert int(view.l) == ll, f"beat {n}: l {int(view.l):#x} != {ll:#x}"


def test_serial_pairwise_sum(seed):
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    groups = (rng.standard_normal((3, 8)) * 2.0 ** rng.integers(-20, 20, (3, 8))).astype(np.float32)
    groups = groups.view(np.uint32)
    dut = SerialPairwiseSum(n=8)
    got = []

    async def drive(ctx):
        for x in groups.reshape(-1):
            while rng.random() < 0.3:
                ctx.set(dut.i_valid, 0)
                await ctx.tick()
            ctx.set(dut.i, int(x))
            ctx.set(dut.i_valid, 1)
            await ctx.tick()
        ctx.set(dut.i_valid, 0)

    async def collect(ctx):
        while len(got) < len(groups):
            await ctx.delay(1e-9)
            if ctx.get(dut.o_valid):
                got.append(ctx.get(dut.o))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(collect)
    sim.run_until(1e-8 * 200)
    assert got == [int(x) for x in vector_rowsum(groups)]
