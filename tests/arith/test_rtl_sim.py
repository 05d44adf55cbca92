"""Amaranth-simulator unit tests of the arithmetic units against golden/numerics.py, bit-exact.

Operands come from verif/operands.py; every stream test inserts random input bubbles and random
output back-pressure and checks the stream rules (o.valid held until accepted, o.payload stable
while stalled, no loss, no duplication, results in order).
"""

import gc
import warnings

import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable, Value
from amaranth.lib import data
from amaranth.sim import Simulator

from hybridgen.golden import numerics
from hybridgen.rtl.arith.fp32 import Bf16MulExact, Fp32Add
from hybridgen.rtl.arith.mac import MAC_BF16_OPERANDS, MAC_INT8_OPERANDS, MacBf16, MacInt8
from hybridgen.rtl.arith.pipeline import StreamPipeline
from hybridgen.verif import operands

FP32_ADD_OPERANDS = data.StructLayout({"a": 32, "b": 32})
BF16_MUL_OPERANDS = data.StructLayout({"a": 16, "b": 16})


def pack(layout, **fields):
    """Integer bit pattern of a ``layout`` payload from integer fields (two's complement)."""
    word = 0
    for name, value in fields.items():
        field = layout[name]
        word |= (int(value) & ((1 << field.width) - 1)) << field.offset
    return word


def run_stream(dut, beats, *, seed, bubble_probability=0.3, stall_probability=0.3,
               vcd=None):
    """Drive ``beats`` (payload integers) into ``dut.i`` and collect ``dut.o`` payloads.

    Random input bubbles and output back-pressure; asserts the stream rules on ``o`` every
    cycle. Returns ``(results, cycles)``.
    """
    rng = np.random.default_rng(seed)
    results = []
    cycles = 0
    limit = 10 * len(beats) + 100

    async def drive(ctx):
        payload = Value.cast(dut.i.payload)
        for beat in beats:
            while rng.random() < bubble_probability:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(payload, beat)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def monitor(ctx):
        nonlocal cycles
        waiting = None  # payload offered and not accepted on the previous cycle
        while len(results) < len(beats):
            ready = bool(rng.random() >= stall_probability)
            ctx.set(dut.o.ready, ready)
            *_, valid, payload = await ctx.tick().sample(dut.o.valid, Value.cast(dut.o.payload))
            cycles += 1
            if waiting is not None:
                assert valid, f"o.valid dropped before the beat was accepted (cycle {cycles})"
                assert payload == waiting, f"o.payload changed while stalled (cycle {cycles})"
            if valid and ready:
                results.append(payload)
            waiting = payload if valid and not ready else None
            assert cycles < limit, f"timeout: {len(results)} of {len(beats)} results"
        # No extra beat may follow the last one.
        ctx.set(dut.o.ready, 1)
        for _ in range(dut.latency + 2):
            *_, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, "more results than inputs"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(monitor)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return results, cycles


def first_result_cycle(dut, beat):
    """Cycles from accepting one beat (no stalls) until its result is accepted on ``o``."""
    cycles = None

    async def bench(ctx):
        nonlocal cycles
        ctx.set(dut.o.ready, 1)
        ctx.set(Value.cast(dut.i.payload), beat)
        ctx.set(dut.i.valid, 1)
        await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        for cycle in range(1, 20):
            *_, valid = await ctx.tick().sample(dut.o.valid)
            if valid:
                cycles = cycle
                return

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return cycles


def assert_bits_equal(got, expected, *operand_arrays, width=32):
    got = np.asarray(got, dtype=np.uint64)
    expected = np.asarray(expected).astype(np.int64).astype(np.uint64) & ((1 << width) - 1)
    bad = np.flatnonzero(got != expected)
    if bad.size:
        i = bad[0]
        operands_text = ", ".join(f"0x{int(x[i]) & 0xFFFFFFFF:08x}" for x in operand_arrays)
        raise AssertionError(f"{bad.size} mismatches; first at {i}: operands {operands_text} "
                             f"got 0x{int(got[i]):08x} expected 0x{int(expected[i]):08x}")


# -- fp32 adder ---------------------------------------------------------------------------------

def fp32_add_stream(latency):
    return StreamPipeline(Fp32Add(latency=latency), in_layout=FP32_ADD_OPERANDS)


@pytest.mark.parametrize("latency", [3])
def test_fp32_add_random_classes(latency, seed):
    a, b, coverage = operands.fp32_add_operands(np.random.default_rng(seed), 5000)
    coverage.assert_all_hit()
    beats = [pack(FP32_ADD_OPERANDS, a=x, b=y) for x, y in zip(a, b)]
    results, _ = run_stream(fp32_add_stream(latency), beats, seed=seed)
    assert_bits_equal(results, numerics.fp32_add(a, b), a, b)


@pytest.mark.parametrize("latency", [1, 2, 4, 5])
def test_fp32_add_other_latencies(latency, seed):
    a, b, coverage = operands.fp32_add_operands(np.random.default_rng(seed + latency), 800)
    beats = [pack(FP32_ADD_OPERANDS, a=x, b=y) for x, y in zip(a, b)]
    results, _ = run_stream(fp32_add_stream(latency), beats, seed=seed + latency)
    assert_bits_equal(results, numerics.fp32_add(a, b), a, b)


def test_fp32_add_special_values(seed):
    a, b = operands.fp32_add_specials()
    beats = [pack(FP32_ADD_OPERANDS, a=x, b=y) for x, y in zip(a, b)]
    results, _ = run_stream(fp32_add_stream(3), beats, seed=seed, bubble_probability=0.0,
                            stall_probability=0.0)
    assert_bits_equal(results, numerics.fp32_add(a, b), a, b)


@pytest.mark.parametrize("latency", [1, 2, 3, 4, 5])
def test_fp32_add_latency_and_throughput(latency):
    dut = fp32_add_stream(latency)
    assert dut.latency == latency
    assert first_result_cycle(dut, pack(FP32_ADD_OPERANDS, a=0x3F800000, b=0x3F800000)) \
        == latency
    # Without stalls, n beats take n + latency cycles (one result per cycle).
    beats = [pack(FP32_ADD_OPERANDS, a=0x3F800000, b=k << 10) for k in range(50)]
    results, cycles = run_stream(fp32_add_stream(latency), beats, seed=0,
                                 bubble_probability=0.0, stall_probability=0.0)
    assert len(results) == 50
    assert cycles == 50 + latency


def test_fp32_add_output_is_registered_and_held_without_enable():
    dut = Fp32Add()

    async def bench(ctx):
        ctx.set(dut.a, 0x3F800000)
        ctx.set(dut.b, 0x40000000)
        ctx.set(dut.en, 1)
        assert ctx.get(dut.o) == 0  # no combinational path
        for _ in range(dut.latency):
            await ctx.tick()
        assert ctx.get(dut.o) == 0x40400000  # 1 + 2 = 3
        ctx.set(dut.a, 0)
        ctx.set(dut.b, 0)
        ctx.set(dut.en, 0)
        for _ in range(5):
            await ctx.tick()
            assert ctx.get(dut.o) == 0x40400000  # held while en = 0
        ctx.set(dut.en, 1)
        for _ in range(dut.latency):
            await ctx.tick()
        assert ctx.get(dut.o) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_bad_latencies_are_rejected():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)  # the half-built components
        with pytest.raises(ValueError, match=r"one of \[1, 2, 3, 4, 5\], not 7"):
            Fp32Add(latency=7)
        with pytest.raises(ValueError, match="1 or 2, not 0"):
            Bf16MulExact(latency=0)
        with pytest.raises(ValueError, match="one of .*, not 'fast'"):
            MacBf16(adder_latency="fast")
        gc.collect()


# -- bf16 multiplier ----------------------------------------------------------------------------

@pytest.mark.parametrize("latency", [1, 2])
def test_bf16_mul_exact(latency, seed):
    a, b, _acc, _coverage = operands.bf16_mac_operands(np.random.default_rng(seed), 1000)
    special_a, special_b, _ = operands.bf16_mac_specials()
    pairs = sorted(set(zip(special_a.tolist(), special_b.tolist())))
    a = np.concatenate([a, np.array([p[0] for p in pairs], dtype=np.uint16)])
    b = np.concatenate([b, np.array([p[1] for p in pairs], dtype=np.uint16)])
    dut = StreamPipeline(Bf16MulExact(latency=latency), in_layout=BF16_MUL_OPERANDS)
    beats = [pack(BF16_MUL_OPERANDS, a=x, b=y) for x, y in zip(a, b)]
    results, _ = run_stream(dut, beats, seed=seed)
    assert_bits_equal(results, numerics.bf16_mul_exact(a, b), a, b)


# -- MACs ---------------------------------------------------------------------------------------

def test_mac_int8(seed):
    a, b, acc, coverage = operands.int8_mac_operands(np.random.default_rng(seed), 1500)
    coverage.assert_all_hit()
    special = operands.int8_mac_specials()
    a, b, acc = (np.concatenate([x, y]) for x, y in zip((a, b, acc), special))
    dut = MacInt8()
    assert dut.latency == 2
    beats = [pack(MAC_INT8_OPERANDS, a=x, b=y, acc=z) for x, y, z in zip(a, b, acc)]
    results, _ = run_stream(dut, beats, seed=seed)
    assert_bits_equal(np.asarray(results) & 0xFFFFFFFF, numerics.mac_int8(a, b, acc), a, b, acc)


def test_mac_bf16(seed):
    a, b, acc, coverage = operands.bf16_mac_operands(np.random.default_rng(seed), 5000)
    coverage.assert_all_hit()
    dut = MacBf16()
    assert dut.latency == 4
    beats = [pack(MAC_BF16_OPERANDS, a=x, b=y, acc=z) for x, y, z in zip(a, b, acc)]
    results, _ = run_stream(dut, beats, seed=seed)
    assert_bits_equal(results, numerics.mac_bf16(a, b, acc), a, b, acc)


def test_mac_bf16_special_values(seed):
    a, b, acc = operands.bf16_mac_specials()
    dut = MacBf16(adder_latency=2, multiplier_latency=2)
    assert dut.latency == 4
    beats = [pack(MAC_BF16_OPERANDS, a=x, b=y, acc=z) for x, y, z in zip(a, b, acc)]
    results, _ = run_stream(dut, beats, seed=seed, bubble_probability=0.05,
                            stall_probability=0.05)
    assert_bits_equal(results, numerics.mac_bf16(a, b, acc), a, b, acc)


@pytest.mark.parametrize("make", [MacInt8, MacBf16], ids=["int8", "bf16"])
def test_mac_latency(make):
    dut = make()
    assert first_result_cycle(dut, 0) == dut.latency
