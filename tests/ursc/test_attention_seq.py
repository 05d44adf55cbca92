"""The PipeFlash loop nest (:mod:`hybridgen.rtl.ursc.attention_seq`) on the Amaranth simulator:
the RTL item stream equals :func:`attention_items` item by item (no missing or extra item,
``busy`` falls with the ``end`` item) under random ready stalls, over random small shapes
(MHA and GQA, causal and not, sq < sk, sq > sk, sq = 1, blocks not dividing the lengths); and
the reference items cover every visible (query, key) pair exactly once. Seeded (``seed``
fixture, printed on failure)."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hybridgen.golden.ursc import _visible
from hybridgen.rtl.ursc.attention_seq import AttentionSequencer, attention_items

FIXED = [dict(b=1, sq=1, sk=9, hq=2, hkv=2, block_q=4, block_k=4, causal=1),
         dict(b=2, sq=5, sk=7, hq=4, hkv=1, block_q=3, block_k=2, causal=1),
         dict(b=1, sq=9, sk=4, hq=2, hkv=1, block_q=4, block_k=3, causal=1),
         dict(b=1, sq=6, sk=6, hq=8, hkv=2, block_q=6, block_k=6, causal=0)]


def _shapes(rng, count):
    for _ in range(count):
        hkv = rng.choice([1, 2])
        yield dict(b=rng.randint(1, 2), sq=rng.randint(1, 10), sk=rng.randint(1, 10),
                   hq=hkv * rng.choice([1, 2, 3]), hkv=hkv, block_q=rng.randint(1, 5),
                   block_k=rng.randint(1, 5), causal=rng.randint(0, 1))


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_reference_covers_visible_pairs(lanes, seed):
    rng = random.Random(seed)
    for shape in FIXED + list(_shapes(rng, 40)):
        seen = np.zeros((shape["b"], shape["hq"], shape["sq"], shape["sk"]), int)
        for it in attention_items(**shape, lanes=lanes):
            assert it["kv_head"] == it["head"] // (shape["hq"] // shape["hkv"])
            r0 = it["q0"] + it["t0"]
            keys = slice(it["j0"], it["j0"] + it["visible"])
            seen[it["batch"], it["head"], r0:r0 + it["tile"], keys] += 1
        vis = _visible(shape["sq"], shape["sk"], shape["causal"])
        covered = seen[..., vis]
        assert (covered == 1).all(), f"seed {seed} {shape}: a visible pair not covered once"
        # Pairs an item computes beyond a row's own limit are masked, never counted as useful.
        assert seen.max() <= 1


@pytest.mark.parametrize("lanes", [1, 2])
def test_rtl_matches_reference(lanes, seed):
    rng = random.Random(seed)
    shapes = FIXED + list(_shapes(rng, 12))
    dut = AttentionSequencer(lanes=lanes)

    async def bench(ctx):
        for shape in shapes:
            want = attention_items(**shape, lanes=lanes)
            desc = dict(shape, d=16, scale=0x3F800000)
            for name, value in desc.items():
                ctx.set(getattr(dut.desc, name), value)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            got = []
            for _ in range(20 * len(want) + 20):
                ready = rng.random() < 0.7
                ctx.set(dut.items.ready, ready)
                valid = ctx.get(dut.items.valid)
                if valid and ready:
                    payload = ctx.get(dut.items.payload)
                    got.append({name: int(getattr(payload, name)) for name in want[0]})
                await ctx.tick()
                if not ctx.get(dut.busy):
                    break
            assert not ctx.get(dut.items.valid)
            differ = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
            assert got == want, (f"seed {seed} lanes {lanes} {shape}: {len(got)} items, want "
                                 f"{len(want)}; first difference at {differ[:1]}")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
