"""The DPE beat order (:mod:`hybridgen.rtl.ursc.dpe_order`) on the Amaranth simulator.

* The RTL beat stream equals :func:`dpe_order` job after job (random jobs, random valid stalls
  on ``job`` and ready stalls on ``beat``; no missing or extra beat).
* The order meets the DPE's contract: a :class:`~hybridgen.rtl.ursc.dpe.Dpe` (2 x 2 x 4, the
  ursc-tiny DPE) fed A row chunks and B column chunks in that order (fillers carry random
  bits) gives, tile by tile in order, exactly :func:`hybridgen.golden.ursc.dpe_matmul`.

Seeded (``seed`` fixture, printed on failure).
"""

import random

import numpy as np
from amaranth.sim import Simulator

from hybridgen.golden.ursc import dpe_matmul
from hybridgen.rtl.ursc.dpe import Dpe
from hybridgen.rtl.ursc.dpe_order import DpeOrder, dpe_order


def test_order_matches_reference(seed):
    rng = random.Random(seed)
    jobs = [(1, 1), (3, 1), (4, 2), (2, 3)] + [(rng.randint(1, 8), rng.randint(1, 5))
                                              for _ in range(10)]
    want = [beat for job in jobs for beat in dpe_order(*job)]
    dut = DpeOrder()
    got = []

    async def source(ctx):
        for tiles, chunks in jobs:
            while rng.random() < 0.3:
                await ctx.tick()
            ctx.set(dut.job.payload, {"tiles": tiles, "chunks": chunks})
            ctx.set(dut.job.valid, 1)
            await ctx.tick().until(dut.job.ready)
            ctx.set(dut.job.valid, 0)

    async def sink(ctx):
        for _ in range(4 * len(want) + 50):
            ready = rng.random() < 0.7
            ctx.set(dut.beat.ready, ready)
            if ready and ctx.get(dut.beat.valid):
                payload = ctx.get(dut.beat.payload)
                got.append({name: int(getattr(payload, name)) for name in want[0]})
            await ctx.tick()
        assert got == want, f"seed {seed}: {len(got)} beats, want {len(want)}"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()


def test_order_feeds_dpe(seed):
    lanes, dpus, mults = 2, 2, 4
    gen = np.random.default_rng(seed)
    rng = random.Random(seed)
    cases = []
    for tiles, k in [(1, 4), (4, 9), (5, 16), (3, 3)]:
        a = gen.integers(0x3E00, 0x4100, (lanes, k)).astype(np.uint16)
        a[gen.random(a.shape) < 0.5] ^= 0x8000
        b = gen.integers(0x3E00, 0x4100, (k, tiles * dpus)).astype(np.uint16)
        cases.append((tiles, k, a, b))
    dut = Dpe(lanes=lanes, dpus=dpus, mults=mults)
    outputs = []

    def chunk(row, c):
        part = np.zeros(mults, np.uint16)
        piece = row[c * mults:(c + 1) * mults]
        part[:piece.size] = piece
        return [int(x) for x in part]

    async def source(ctx):
        for tiles, k, a, b in cases:
            chunks = -(-k // mults)
            for beat in dpe_order(tiles, chunks):
                if beat["filler"]:
                    av = [[rng.randrange(1 << 16) for _ in range(mults)] for _ in range(lanes)]
                    bv = [[rng.randrange(1 << 16) for _ in range(mults)] for _ in range(dpus)]
                else:
                    t, c = beat["tile"], beat["chunk"]
                    av = [chunk(a[l], c) for l in range(lanes)]
                    bv = [chunk(b[:, t * dpus + n], c) for n in range(dpus)]
                ctx.set(dut.i.payload, {"a": av, "b": bv, "first": beat["first"],
                                        "last": beat["last"]})
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
                ctx.set(dut.i.valid, 0)
                if rng.random() < 0.2:
                    await ctx.tick()

    async def sink(ctx):
        total = sum(tiles for tiles, *_ in cases)
        while len(outputs) < total:
            ready = rng.random() < 0.7
            ctx.set(dut.o.ready, ready)
            if ready and ctx.get(dut.o.valid):
                payload = ctx.get(dut.o.payload)
                outputs.append([[int(payload[l][n]) for n in range(dpus)]
                                for l in range(lanes)])
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    index = 0
    for tiles, k, a, b in cases:
        want = dpe_matmul(a, b, mults)
        for t in range(tiles):
            got = np.array(outputs[index], np.uint32)
            assert (got == want[:, t * dpus:(t + 1) * dpus]).all(), \
                f"seed {seed}: tiles {tiles} k {k} tile {t}: {got} != {want[:, t*dpus:(t+1)*dpus]}"
            index += 1
