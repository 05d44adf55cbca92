"""Amaranth-simulator test of the vector unit (4 lanes, plain submodules) and the single-lane
``SfuLane`` through their streams: random ops per vector, random bubbles and back-pressure,
bit-exact against golden.numerics.vector_op / lane_op."""

import numpy as np
from amaranth.hdl import Value
from amaranth.sim import Simulator

from hybridgen.golden import numerics
from hybridgen.rtl.vector.lane import LANE_OPERANDS, SfuLane
from hybridgen.rtl.vector.unit import VectorUnit
from hybridgen.verif.vector import operands



def stream(dut, payloads, *, seed, limit_factor=12):
    """Drive payload ints into ``dut.i`` with bubbles, collect ``dut.o`` with back-pressure,
    checking that ``o`` holds while stalled. Returns the output ints."""
    rng = np.random.default_rng(seed)
    results = []

    async def drive(ctx):
        payload = Value.cast(dut.i.payload)
        for beat in payloads:
            while rng.random() < 0.3:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(payload, beat)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def collect(ctx):
        out = Value.cast(dut.o.payload)
        held = None
        for _ in range(limit_factor * len(payloads) + 200):
            ready = int(rng.random() >= 0.3)
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-8)
            valid = ctx.get(dut.o.valid)
            value = ctx.get(out)
            if held is not None:
                assert valid and value == held, "o changed while stalled"
            if valid and ready:
                results.append(value)
                held = None
            elif valid:
                held = value
            await ctx.tick()
            if len(results) == len(payloads):
                return

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(collect)
    sim.run()
    assert len(results) == len(payloads)
    return results


def _int_row(row):
    return int.from_bytes(np.asarray(row, dtype="<u4").tobytes(), "little")


def test_vector_unit_random_ops_with_stalls(seed):
    width, rows = 4, 120
    rng = np.random.default_rng(seed)
    dut = VectorUnit(width=width)
    ops = operands.random_ops(rng, rows)
    a = operands.fp32_random(rng, rows * width).reshape(rows, width)
    b = operands.fp32_random(rng, rows * width).reshape(rows, width)
    small = rng.random(rows) < 0.4
    a[small] = rng.integers(0x3E000000, 0x40800000, (small.sum(), width), dtype=np.uint32)
    layout = dut.i.payload.shape()
    payloads = [int(op) | (_int_row(a[r]) << layout["a"].offset)
                | (_int_row(b[r]) << layout["b"].offset) for r, op in enumerate(ops)]
    got = stream(dut, payloads, seed=seed)
    got = np.array([[(w >> (32 * k)) & 0xFFFFFFFF for k in range(width)] for w in got],
                   dtype=np.uint32)
    names = {code: name for name, code in numerics.VECTOR_OPS.items()}
    for r in range(rows):
        want = numerics.vector_op(names[int(ops[r])], a[r:r + 1], b[r:r + 1])[0]
        assert np.array_equal(got[r], want), (names[int(ops[r])], r, got[r], want)


def test_sfu_lane_every_op(seed):
    rng = np.random.default_rng(seed + 1)
    dut = SfuLane()
    n = 400
    ops = operands.random_ops(rng, n)
    a, b = operands.fp32_random(rng, n), operands.fp32_random(rng, n)
    payloads = [int(op) | (int(x) << LANE_OPERANDS["a"].offset)
                | (int(y) << LANE_OPERANDS["b"].offset) for op, x, y in zip(ops, a, b)]
    got = np.array(stream(dut, payloads, seed=seed), dtype=np.uint32)
    names = {code: name for name, code in numerics.VECTOR_OPS.items()}
    for code in np.unique(ops):
        sel = ops == code
        want = numerics.lane_op(names[int(code)], a[sel], b[sel])
        assert np.array_equal(got[sel], want), names[int(code)]
