"""rtl/decode/ssm_job.py SsmJob and rtl/decode/ssm_requests.py SsmReadRequests (Amaranth
simulator): the job's figures equal the channel layout's (rtl/decode/ssm_layout.py SsmLayout)
for random shapes, and the read requests come in the order record 0, record 1, state 0,
record 2, state 1, ... with the layout's addresses and sizes under random ready stalls,
nothing missing and nothing extra."""

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hybridgen.gen.presets import resolve
from hybridgen.rtl.decode.sequencer import Phase
from hybridgen.rtl.decode.ssm_job import (SSM_FLAG_BF16, SSM_FLAG_SOFTPLUS, SSM_FLAG_Z, SsmJob,
                                          SsmKind)
from hybridgen.rtl.decode.ssm_layout import SsmLayout
from hybridgen.rtl.decode.ssm_requests import SsmReadRequests

STATE_ADDR, RECORD_ADDR, Y_ADDR = 0x1_0040, 0x8_0000, 0xC_0010


def _shapes(rng, config, count):
    """(b, h, p, n, groups, dtype, z), random up to the record slots' p and n; a channel with
    no head and the largest p and n included."""
    shapes = [(1, 1, 1, 1, 1, "fp32", False),
              (1, config.channels + 1, config.ssm_headdim, config.ssm_dstate, 1, "bf16", True)]
    while len(shapes) < count:
        groups = int(rng.integers(1, 4))
        shapes.append((int(rng.integers(1, 4)), groups * int(rng.integers(1, 4)),
                       int(rng.integers(1, config.ssm_headdim + 1)),
                       int(rng.integers(1, config.ssm_dstate + 1)), groups,
                       str(rng.choice(["fp32", "bf16"])), bool(rng.random() < 0.5)))
    return shapes


def _descriptor(ctx, port, shape):
    b, h, p, n, _, dtype, z = shape
    flags = SSM_FLAG_SOFTPLUS | (SSM_FLAG_Z if z else 0) | (SSM_FLAG_BF16 if dtype == "bf16"
                                                           else 0)
    for name, value in (("batch", b), ("heads", h), ("headdim", p), ("dstate", n),
                        ("flags", flags), ("state_addr", STATE_ADDR),
                        ("record_addr", RECORD_ADDR), ("y_addr", Y_ADDR)):
        ctx.set(getattr(port, name), value)


def _layout(g, shape):
    b, h, p, n, groups, dtype, z = shape
    return SsmLayout(g, batch=b, heads=h, headdim=p, dstate=n, groups=groups, state_dtype=dtype,
                     with_z=z)


@pytest.mark.parametrize("preset", ["decode-tiny", "decode-small"])
def test_job_figures(preset, rng):
    config = resolve(preset)[1]
    g = config.geometry
    for index in range(g.channels):
        dut = SsmJob(g)
        shapes = _shapes(rng, config, 6)
        got = []

        async def bench(ctx):
            ctx.set(dut.channel, index)
            for shape in shapes:
                _descriptor(ctx, dut.descriptor, shape)
                ctx.set(dut.start, 1)
                await ctx.tick()
                ctx.set(dut.start, 0)
                assert ctx.get(dut.go) == 1
                got.append({name: ctx.get(getattr(dut.job, name)) for name in
                            ("K", "Pq", "rows", "record_beats", "head_state_bytes",
                             "channel_heads", "z_base", "b_base", "c_base", "bf16", "with_z",
                             "y_start")})
                await ctx.tick()
                assert ctx.get(dut.go) == 0

        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(bench)
        sim.run()
        for shape, fig in zip(shapes, got):
            lay = _layout(g, shape)
            want = {"K": lay.K, "Pq": lay.Pq, "rows": lay.Pq * lay.I,
                    "record_beats": lay.record_beats, "head_state_bytes": lay.head_state_bytes,
                    "channel_heads": len(lay.channel_heads(index)), "z_base": 1 + lay.x_beats,
                    "b_base": 1 + lay.x_beats + lay.z_beats,
                    "c_base": 1 + lay.x_beats + lay.z_beats + lay.bc_beats,
                    "bf16": int(shape[5] == "bf16"), "with_z": int(shape[6]),
                    "y_start": lay.y_address(index, 0, Y_ADDR)}
            assert fig == want, f"channel {index}, shape {shape}"


def _expected_requests(g, lay, index):
    """(addr, nbytes, kind) of channel ``index`` in the documented order."""
    heads = len(lay.channel_heads(index))
    rec_bytes = lay.record_beats * g.bus_bytes
    kind = SsmKind.STATE16 if lay.esize == 2 else SsmKind.STATE32
    records = [(RECORD_ADDR + i * rec_bytes, rec_bytes, SsmKind.RECORD.value)
               for i in range(heads)]
    states = [(STATE_ADDR + i * lay.head_state_bytes, lay.head_state_bytes, kind.value)
              for i in range(heads)]
    order = records[:2]
    for i in range(heads):
        order += [states[i]] + records[i + 2:i + 3]
    return order


@pytest.mark.parametrize("index", [0, 1])
def test_read_request_order(index, rng):
    g = resolve("decode-tiny")[1].geometry
    shapes = [(1, 5, 9, 7, 1, "fp32", True), (2, 3, 4, 13, 3, "bf16", False),
              (1, 1, 2, 3, 1, "fp32", False)]
    m = Module()
    m.submodules.job = job = SsmJob(g)
    m.submodules.dut = dut = SsmReadRequests(g)
    m.d.comb += [job.channel.eq(index), dut.go.eq(job.go), dut.job.eq(job.job)]
    results = []

    async def bench(ctx):
        for shape in shapes:
            ctx.set(dut.phase, Phase.IDLE)
            _descriptor(ctx, job.descriptor, shape)
            ctx.set(job.start, 1)
            await ctx.tick()
            ctx.set(job.start, 0)
            await ctx.tick()   # go: running from the next cycle
            ctx.set(dut.phase, Phase.RUN)
            got = []
            for _ in range(200):
                ready = int(rng.random() < 0.6)
                ctx.set(dut.req.ready, ready)
                if ctx.get(dut.req.valid) and ready:
                    pay = dut.req.payload
                    got.append((ctx.get(pay.addr), ctx.get(pay.nbytes), ctx.get(pay.kind)))
                await ctx.tick()
            results.append(got)
            assert ctx.get(dut.running) == 1
            ctx.set(dut.phase, Phase.DONE)
            await ctx.tick()
            assert ctx.get(dut.running) == 0 and ctx.get(dut.req.valid) == 0

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for shape, got in zip(shapes, results):
        want = _expected_requests(g, _layout(g, shape), index)
        assert got == want, f"channel {index}, shape {shape}"
