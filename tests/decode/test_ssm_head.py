"""rtl/decode/ssm_head.py (Amaranth simulator): the decode step's scalar, per-row and output
datapaths bit-exact against the order of golden/decode.py ssm_step, random clock enables."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hybridgen.golden.numerics import (bf16_to_fp32, fp32_add, fp32_exp, fp32_mul, fp32_silu,
                                       fp32_softplus, fp32_to_bf16, fp32_to_bits)
from hybridgen.rtl.decode.ssm_head import SsmFinish, SsmHeadScalars, SsmRowValues

SEED = 20261203


def _run(dut, inputs, outputs, seed):
    """Present ``inputs`` (lists of (port, int)) on enabled cycles (random disabled cycles in
    between) and return, for each, the ``outputs`` (port -> value) ``latency`` enabled cycles
    later."""
    rng = np.random.default_rng(seed)
    got = []

    async def bench(ctx):
        history = []
        for item in inputs + [None] * (dut.latency + 1):
            while rng.random() < 0.3:
                ctx.set(dut.en, 0)
                await ctx.tick()
            ctx.set(dut.en, 1)
            for port, value in (item or []):
                ctx.set(port, value)
            history.append(item)
            e = len(history) - 1 - dut.latency
            if 0 <= e < len(inputs):
                got.append({name: ctx.get(port) for name, port in outputs.items()})
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def _bf16(rng, count, scale=1.0):
    return fp32_to_bf16(fp32_to_bits((rng.standard_normal(count) * scale).astype(np.float32)))


def test_head_scalars():
    print(f"SEED={SEED}")
    rng = np.random.default_rng([SEED, 1])
    N = 24
    dt_raw = _bf16(rng, N, 3.0)
    dt_raw[:2] = fp32_to_bf16(fp32_to_bits(np.float32([25.0, -30.0])))  # softplus x > 20
    bias = fp32_to_bits(rng.standard_normal(N).astype(np.float32))
    a = fp32_to_bits((-np.exp(rng.uniform(-1, 1.5, N))).astype(np.float32))
    on = rng.random(N) < 0.7
    dut = SsmHeadScalars()
    got = _run(dut, [[(dut.dt_raw, int(dt_raw[i])), (dut.dt_bias, int(bias[i])), (dut.a, int(a[i])),
                      (dut.softplus, int(on[i]))] for i in range(N)],
               {"dt": dut.o.dt, "da": dut.o.da}, SEED)
    dt = fp32_add(bf16_to_fp32(dt_raw), bias)
    dt = np.where(on, fp32_softplus(dt), dt)
    da = fp32_exp(fp32_mul(dt, a))
    assert [g["dt"] for g in got] == [int(v) for v in dt]
    assert [g["da"] for g in got] == [int(v) for v in da]


def test_row_values():
    rng = np.random.default_rng([SEED, 2])
    N = 24
    x, z = _bf16(rng, N), _bf16(rng, N, 4.0)
    dt = fp32_to_bits(rng.uniform(0, 2, N).astype(np.float32))
    d = fp32_to_bits(rng.standard_normal(N).astype(np.float32))
    dut = SsmRowValues()
    got = _run(dut, [[(dut.x, int(x[i])), (dut.z, int(z[i])), (dut.dt, int(dt[i])), (dut.d, int(d[i]))]
                     for i in range(N)], {"u": dut.o.u, "dx": dut.o.dx, "sz": dut.o.sz}, SEED)
    xf = bf16_to_fp32(x)
    assert [g["u"] for g in got] == [int(v) for v in fp32_mul(xf, dt)]
    assert [g["dx"] for g in got] == [int(v) for v in fp32_mul(d, xf)]
    assert [g["sz"] for g in got] == [int(v) for v in fp32_silu(bf16_to_fp32(z))]


def test_finish():
    rng = np.random.default_rng([SEED, 3])
    N = 24
    acc, dx, sz = (fp32_to_bits(rng.standard_normal(N).astype(np.float32)) for _ in range(3))
    dx[:3] = acc[:3] ^ np.uint32(0x8000_0000)   # exact cancellation: y = +0
    with_z = rng.random(N) < 0.5
    with_z[0] = True
    sz[0] = 0x8000_0000                          # +0 * -0 = -0, written as +0
    dut = SsmFinish()
    got = _run(dut, [[(dut.acc, int(acc[i])), (dut.dx, int(dx[i])), (dut.sz, int(sz[i])),
                      (dut.with_z, int(with_z[i]))] for i in range(N)], {"y": dut.o}, SEED)
    y = fp32_add(acc, dx)
    y = fp32_to_bf16(np.where(with_z, fp32_mul(y, sz), y))
    y = np.where((y & 0x7FFF) == 0, 0, y)
    assert [g["y"] for g in got] == [int(v) for v in y]
