"""AttnRequests (rtl/decode/attn_requests.py) in the Amaranth simulator: the read requests, tile
info and job tokens of every channel of ``decode-attn-tiny`` for a GQA problem with lengths
around the tile and a 0, against the layout (rtl/decode/attn_layout.py), with random
back-pressure on all three streams."""

import numpy as np
from amaranth.hdl import Value
from amaranth.sim import Simulator

from hybridgen.gen.presets import resolve
from hybridgen.golden.kvquant import KV_TILE_BYTES
from hybridgen.rtl.decode.attn_layout import AttnLayout
from hybridgen.rtl.decode.attn_requests import (KIND_K, KIND_LENS, KIND_Q, KIND_V,
                                                AttnRequests)
from hybridgen.rtl.decode.layouts import KvFormat, Op


def expected(g, c, lay, lens, addr):
    """(requests, info, tokens) of channel ``c``."""
    reqs = [(addr["lens"], 4 * lay.b, KIND_LENS)]
    info, tokens = [], []
    q_row = 2 * lay.group * lay.d
    pending = []                     # a job's last V group: read after the next job's K_0
    for b in range(lay.b):
        for h in range(lay.hkv):
            e = b * lay.hkv + h
            n = lay.channel_tiles(c, lens[b])
            tokens.append(int(n > 0))
            if not n:
                reqs += pending          # a job without a tile here: read it now
                pending = []
                continue
            reqs.append((addr["q"] + e * q_row, q_row, KIND_Q))
            k0 = addr["k"] + e * lay.job_bytes
            v0 = addr["v"] + e * lay.job_bytes
            k = [(k0 + i * lay.slot_bytes, lay.slot_bytes, KIND_K) for i in range(n)]
            v = [(v0 + i * lay.slot_bytes, lay.slot_bytes, KIND_V) for i in range(n)]
            order = [k[0]] + pending
            for i in range(1, n):
                order += [k[i], v[i - 1]]
            reqs += order
            pending = [v[n - 1]]
            for i in range(n):
                t = i * g.channels + c
                info.append((min(32, lens[b] - 32 * t), int(i == 0), int(i == n - 1)))
    return reqs + pending, info, tokens


def run_channel(g, c, desc, lens, rng):
    dut = AttnRequests(g, c)
    got = {"req": [], "info": [], "token": []}
    per_chunk = g.bus_bytes // 4

    async def bench(ctx):
        for name, value in desc.items():
            ctx.set(Value.cast(getattr(dut.descriptor, name)), value)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        sent = False
        for _ in range(3000):
            ctx.set(dut.req.ready, int(rng.random() < 0.6))
            ctx.set(dut.info.ready, int(rng.random() < 0.6))
            ctx.set(dut.token.ready, int(rng.random() < 0.6))
            if got["req"] and not sent and rng.random() < 0.3:   # the lengths arrive
                words = sum(int(n) << (32 * i) for i, n in enumerate(lens[:per_chunk]))
                ctx.set(dut.lens.payload.data, words)
                ctx.set(dut.lens.valid, 1)
                sent = True
            else:
                ctx.set(dut.lens.valid, 0)
            if ctx.get(dut.req.valid) and ctx.get(dut.req.ready):
                p = dut.req.payload
                got["req"].append((ctx.get(p.addr), ctx.get(p.nbytes), ctx.get(p.kind)))
            if ctx.get(dut.info.valid) and ctx.get(dut.info.ready):
                p = dut.info.payload
                got["info"].append((ctx.get(p.count), ctx.get(p.first), ctx.get(p.last)))
            if ctx.get(dut.token.valid) and ctx.get(dut.token.ready):
                got["token"].append(ctx.get(dut.token.payload))
            await ctx.tick()
        assert ctx.get(dut.finished)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def test_attn_requests(seed):
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    _, config = resolve("decode-attn-tiny")
    g = config.geometry
    b, hq, hkv, d, sk = 2, 4, 2, 64, 100
    lens = [int(rng.integers(33, sk + 1)), 0]
    rng.shuffle(lens)
    lay = AttnLayout(g, b=b, hq=hq, hkv=hkv, d=d, sk=sk, fmt="bfp4")
    addr = {"lens": 0x104, "q": 0x212, "k": 0x1000, "v": 0x9000}
    desc = {"op": Op.ATTN.value, "batch": b, "hq": hq, "hkv": hkv, "d": d, "sk": sk,
            "kv_format": KvFormat.BFP4.value, "lens_addr": addr["lens"], "q_addr": addr["q"],
            "k_addr": addr["k"], "v_addr": addr["v"]}
    assert lay.slot_bytes == 2 * KV_TILE_BYTES["bfp4"]
    for c in range(g.channels):
        got = run_channel(g, c, desc, lens, rng)
        reqs, info, tokens = expected(g, c, lay, lens, addr)
        assert got["req"] == reqs, f"channel {c}"
        assert got["info"] == info, f"channel {c}"
        assert got["token"] == tokens, f"channel {c}"
