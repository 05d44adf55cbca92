"""The DPE beat order (:mod:`hybridgen.rtl.ursc.dpe_order`) on the Amaranth simulator.

* The RTL beat stream equals :func:`dpe_jobs_order` (random jobs, chained or not, with equal
  and different chunk counts, random valid stalls on ``job`` and ready stalls on ``beat``; no
  missing or extra beat), also on a whole attention kernel's S and P V job streams.
* The order meets the DPE's contract: a :class:`~hybridgen.rtl.ursc.dpe.Dpe` (2 x 2 x 4, the
  ursc-tiny DPE) fed A row chunks and B column chunks in that order, jobs chained across
  groups (fillers carry random bits), gives, tile by tile and job by job in order, exactly
  :func:`hybridgen.golden.ursc.dpe_matmul`: chaining leaves the bits unchanged.
* Filler counts over whole attention kernels (the figures of docs/ursc.md).

Seeded (``seed`` fixture, printed on failure).
"""

import random

import numpy as np
from amaranth.sim import Simulator

from hybridgen.golden.ursc import dpe_matmul
from hybridgen.rtl.ursc.dpe import Dpe
import pytest

from hybridgen.golden.ursc import EngineParams
from hybridgen.rtl.ursc.attention_seq import attention_items
from hybridgen.rtl.ursc.dpe_order import (SLOTS, DpeOrder, dpe_filler_count, dpe_groups,
                                          dpe_jobs_order, dpe_order)


TINY = EngineParams.of(None, lanes=2, dpus=2, mults=4)   # the ursc-tiny DPE
SMALL = EngineParams.of(None)                             # ursc-small: 4 x 4 x 16


def _ceil(a, b):
    return -(-a // b)


def attention_jobs(*, b=1, sq, sk, hq, hkv, d, causal, block_q, block_k, config):
    """The S (DPE0) and P V (DPE1) job streams of an attention kernel, all chained: S on
    ``ceil(visible / dpus)`` tiles x ``ceil(d / mults)`` chunks, P V on ``ceil(d / dpus)``
    tiles x ``ceil(extent / mults)`` chunks, as verif/ursc/attention_model.py computes them."""
    p = EngineParams.of(config)
    s_jobs, pv_jobs = [], []
    for it in attention_items(b=b, sq=sq, sk=sk, hq=hq, hkv=hkv, block_q=block_q,
                              block_k=block_k, causal=causal, lanes=p.lanes):
        vis = it["visible"]
        if vis:
            extent = min(it["keys"], _ceil(vis, p.mults) * p.mults)
            s_jobs.append((_ceil(vis, p.dpus), _ceil(d, p.mults), 1))
            pv_jobs.append((_ceil(d, p.dpus), _ceil(extent, p.mults), 1))
    for jobs in s_jobs, pv_jobs:
        jobs[-1] = jobs[-1][:2] + (0,)
    return s_jobs, pv_jobs


def _run_order(jobs, rng):
    want = dpe_jobs_order(jobs)
    dut = DpeOrder()
    got = []
    budget = 4 * len(want) + 50

    async def source(ctx):
        for tiles, chunks, chain in jobs:
            while rng.random() < 0.3:
                await ctx.tick()
            ctx.set(dut.job.payload, {"tiles": tiles, "chunks": chunks, "chain": chain})
            ctx.set(dut.job.valid, 1)
            for _ in range(budget):      # bounded: a job never taken fails, not hangs
                *_, ready = await ctx.tick().sample(dut.job.ready)
                if ready:
                    break
            else:
                return
            ctx.set(dut.job.valid, 0)

    async def sink(ctx):
        for _ in range(budget):
            ready = rng.random() < 0.7
            ctx.set(dut.beat.ready, ready)
            if ready and ctx.get(dut.beat.valid):
                payload = ctx.get(dut.beat.payload)
                got.append({name: int(getattr(payload, name)) for name in want[0]})
            await ctx.tick()
        return

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return got, want


def test_order_matches_reference(seed):
    rng = random.Random(seed)
    jobs = [(1, 1, 0), (3, 1, 0), (4, 2, 0), (2, 3, 0), (4, 2, 1), (1, 2, 1), (1, 2, 1),
            (2, 2, 1), (5, 2, 1), (2, 3, 1), (3, 1, 1), (3, 1, 1), (2, 1, 0)]
    jobs += [(rng.randint(1, 8), rng.randint(1, 3), int(rng.random() < 0.7))
             for _ in range(14)] + [(rng.randint(1, 8), 2, 0)]
    got, want = _run_order(jobs, rng)
    assert got == want, f"seed {seed}: {len(got)} beats, want {len(want)}"


def test_order_attention_stream(seed):
    """RTL vs reference on a causal kernel's S and P V streams (short jobs, chunk changes)."""
    rng = random.Random(seed)
    for jobs in attention_jobs(sq=24, sk=24, hq=2, hkv=1, d=12, causal=True, block_q=8,
                               block_k=8, config=TINY):
        got, want = _run_order(jobs, rng)
        assert got == want, f"seed {seed}: {len(got)} beats, want {len(want)}"


def test_order_feeds_dpe(seed):
    lanes, dpus, mults = 2, 2, 4
    gen = np.random.default_rng(seed)
    rng = random.Random(seed)
    cases = []
    # (tiles, k, chain): unchained jobs; a chained run of equal chunk counts with short jobs
    # (groups spanning two jobs); chains into fewer and into more chunks (fillers)
    for tiles, k, chain in [(1, 4, 0), (4, 9, 0), (4, 12, 1), (1, 10, 1), (2, 11, 1),
                            (3, 3, 1), (2, 4, 1), (1, 1, 1), (1, 2, 1), (2, 9, 0)]:
        a = gen.integers(0x3E00, 0x4100, (lanes, k)).astype(np.uint16)
        a[gen.random(a.shape) < 0.5] ^= 0x8000
        b = gen.integers(0x3E00, 0x4100, (k, tiles * dpus)).astype(np.uint16)
        cases.append((tiles, k, chain, a, b))
    jobs = [(tiles, _ceil(k, mults), chain) for tiles, k, chain, *_ in cases]
    beats = dpe_jobs_order(jobs)
    groups = dpe_groups(jobs)
    assert any(len({e[0] for e in slots if e}) == 2 for _, slots in groups)  # chained groups
    assert any(None in slots for _, slots in groups)                         # and fillers
    dut = Dpe(lanes=lanes, dpus=dpus, mults=mults)
    outputs = []

    def chunk(row, c):
        part = np.zeros(mults, np.uint16)
        piece = row[c * mults:(c + 1) * mults]
        part[:piece.size] = piece
        return [int(x) for x in part]

    async def source(ctx):
        newest = -1      # the sender's view: the newest job whose tile 0 has started
        for beat in beats:
            if beat["filler"]:
                av = [[rng.randrange(1 << 16) for _ in range(mults)] for _ in range(lanes)]
                bv = [[rng.randrange(1 << 16) for _ in range(mults)] for _ in range(dpus)]
            else:
                if beat["first"] and beat["tile"] == 0 and beat["job"] != newest % 2:
                    newest += 1
                job = newest if beat["job"] == newest % 2 else newest - 1
                _, _, _, a, b = cases[job]
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
    for tiles, k, _, a, b in cases:
        want = dpe_matmul(a, b, mults)
        for t in range(tiles):
            got = np.array(outputs[index], np.uint32)
            assert (got == want[:, t * dpus:(t + 1) * dpus]).all(), \
                f"seed {seed}: tiles {tiles} k {k} tile {t}: {got} != {want[:, t*dpus:(t+1)*dpus]}"
            index += 1


# (causal, d, hq, hkv, L): (S beats, S fillers, P V beats, P V fillers) on ursc-small, blocks
# of 128, all jobs chained (docs/ursc.md, "PipeFlash controller"). Non-causal: every job of a
# stream has the same chunk count, so the only fillers are the empty slots of the kernel's last
# group, ((-tiles) mod 3) * chunks. Causal P V: a chunk count changes (ceil(visible / mults)
# on the diagonal blocks) every 4 row tiles; each change ends a chain.
FILLERS = {
    (0, 128, 2, 2, 256): (65544, 8, 65544, 8),
    (0, 96, 2, 2, 256): (49158, 6, 49152, 0),
    (1, 128, 2, 2, 256): (33288, 8, 34944, 128),
    (1, 96, 2, 2, 256): (24966, 6, 26112, 0),
    (1, 128, 8, 2, 256): (133152, 32, 139776, 512),
}
FILLERS_SLOW = {
    (0, 128, 2, 2, 512): (262152, 8, 262152, 8),
    (1, 128, 2, 2, 512): (132120, 24, 135456, 288),
    (0, 96, 2, 2, 512): (196614, 6, 196608, 0),
    (1, 96, 2, 2, 512): (99090, 18, 101376, 0),
    (0, 128, 2, 2, 2048): (4194312, 8, 4194312, 8),
    (0, 96, 2, 2, 2048): (3145734, 6, 3145728, 0),
    (1, 128, 2, 2, 2048): (2101272, 24, 2114688, 1152),
    (1, 96, 2, 2, 2048): (1575954, 18, 1585152, 0),
    (0, 128, 8, 2, 2048): (16777224, 8, 16777224, 8),
    (1, 128, 8, 2, 2048): (8405016, 24, 8458752, 4608),
    (0, 96, 8, 2, 2048): (12582918, 6, 12582912, 0),
    (1, 96, 8, 2, 2048): (6303762, 18, 6340608, 0),
}


def _check_fillers(table):
    for (causal, d, hq, hkv, L), want in table.items():
        s_jobs, pv_jobs = attention_jobs(sq=L, sk=L, hq=hq, hkv=hkv, d=d, causal=bool(causal),
                                         block_q=128, block_k=128, config=SMALL)
        got = dpe_filler_count(s_jobs) + dpe_filler_count(pv_jobs)
        assert got == want, f"causal {causal} d {d} {hq}:{hkv} L {L}: {got} != {want}"
        # the beats are the useful beats (tiles x chunks) plus the fillers
        for jobs, (beats, fillers) in (s_jobs, want[:2]), (pv_jobs, want[2:]):
            assert beats - fillers == sum(tiles * chunks for tiles, chunks, _ in jobs)
        if not causal:
            for jobs, fillers in (s_jobs, want[1]), (pv_jobs, want[3]):
                assert fillers == (-sum(job[0] for job in jobs)) % SLOTS * jobs[0][1]
        # unchained (one job per item) the S stream alone has more fillers
        assert dpe_filler_count([job[:2] for job in s_jobs])[1] > want[1]


def test_attention_filler_counts():
    _check_fillers(FILLERS)


@pytest.mark.slow
def test_attention_filler_counts_large():
    _check_fillers(FILLERS_SLOW)
