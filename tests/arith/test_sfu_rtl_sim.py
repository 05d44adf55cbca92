"""Amaranth-simulator tests of the fp32 units of rtl/arith against golden/numerics.py,
bit-exact: multiplier, min/max, compare, conversions, exp/exp2, reciprocal, sigmoid/silu,
softplus, each on specials + random fp32 (whole range and the unsaturated range), clock enable
held low at random to check that every register obeys ``en``. The exhaustive sweeps run
through the vector unit in cocotb (tests/vector/test_vector_cocotb.py)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hybridgen.golden import numerics
from hybridgen.rtl.arith.compare import Fp32Compare, Fp32MinMax
from hybridgen.rtl.arith.convert import Bf16ToFp32, Fp32ToBf16, Fp32ToInt32, Int32ToFp32
from hybridgen.rtl.arith.exp import Fp32Exp
from hybridgen.rtl.arith.fp32_mul import Fp32Mul
from hybridgen.rtl.arith.reciprocal import Fp32Reciprocal
from hybridgen.rtl.arith.sigmoid import Fp32Sigmoid
from hybridgen.rtl.arith.softplus import Fp32Softplus
from hybridgen.verif import operands as mac_operands
from hybridgen.verif.vector import operands

COUNT = 600


def run_datapath(dut, inputs, *, seed, output="o"):
    """Feed one input set per enabled cycle (``en`` low at random); return the outputs."""
    rng = np.random.default_rng(seed)
    n = len(next(iter(inputs.values())))
    results = []

    async def testbench(ctx):
        fed = 0
        enabled = 0  # enabled cycles so far
        while len(results) < n:
            en = int(rng.random() >= 0.2)
            ctx.set(dut.en, en)
            if en and fed < n:
                for name, values in inputs.items():
                    ctx.set(getattr(dut, name), int(values[fed]))
                fed += 1
            await ctx.tick()
            if en:
                enabled += 1
                if enabled >= dut.latency and len(results) < min(fed, n):
                    value = ctx.get(getattr(dut, output))
                    results.append(int(value.as_value().value) if hasattr(value, "as_value")
                                   else int(value))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return np.array(results, dtype=np.int64)


def fp32_inputs(seed):
    rng = np.random.default_rng(seed)
    return np.concatenate([mac_operands.FP32_SPECIAL_VALUES, operands.fp32_random(rng, COUNT)])


def _check(got, want, *inputs):
    want = np.asarray(want).astype(np.int64)
    bad = np.flatnonzero(got != want)
    assert not bad.size, [(tuple(hex(int(x[i])) for x in inputs), hex(int(got[i])),
                           hex(int(want[i]))) for i in bad[:5]]


@pytest.mark.parametrize("unit", ["mul", "max", "min", "compare"])
def test_binary_units(unit, seed):
    a, b = fp32_inputs(seed), fp32_inputs(seed + 1)[::-1].copy()
    b[:100] = a[:100] ^ np.uint32(0x80000000)
    if unit == "mul":
        got, want = run_datapath(Fp32Mul(), {"a": a, "b": b}, seed=seed), numerics.fp32_mul(a, b)
    elif unit == "compare":
        got = run_datapath(Fp32Compare(), {"a": a, "b": b}, seed=seed)
        want = numerics.fp32_compare(a, b)
    else:
        minimum = np.full(len(a), unit == "min")
        got = run_datapath(Fp32MinMax(), {"a": a, "b": b, "minimum": minimum}, seed=seed)
        want = numerics.fp32_min(a, b) if unit == "min" else numerics.fp32_max(a, b)
    _check(got, want, a, b)


def test_conversions(seed):
    x = fp32_inputs(seed + 2)
    _check(run_datapath(Fp32ToBf16(), {"a": x}, seed=seed), numerics.fp32_to_bf16(x), x)
    _check(run_datapath(Fp32ToInt32(), {"a": x}, seed=seed) & 0xFFFFFFFF,
           numerics.fp32_to_int32(x).astype(np.int64) & 0xFFFFFFFF, x)
    ints = x.view(np.int32)
    _check(run_datapath(Int32ToFp32(), {"a": ints}, seed=seed), numerics.int32_to_fp32(ints),
           x)
    half = (x >> 16).astype(np.uint16)
    _check(run_datapath(Bf16ToFp32(), {"a": half}, seed=seed), numerics.bf16_to_fp32(half),
           half)


@pytest.mark.parametrize("op", ["exp", "exp2", "recip", "sigmoid", "silu", "softplus"])
def test_special_function_units(op, seed):
    x = fp32_inputs(seed + 3)
    if op in ("exp", "exp2"):
        dut, extra = Fp32Exp(), {"natural": np.full(len(x), op == "exp")}
    elif op in ("sigmoid", "silu"):
        dut, extra = Fp32Sigmoid(), {"silu": np.full(len(x), op == "silu")}
    else:
        dut, extra = (Fp32Reciprocal() if op == "recip" else Fp32Softplus()), {}
    _check(run_datapath(dut, {"a": x, **extra}, seed=seed), numerics.sfu_op(op, x), x)


@pytest.mark.parametrize("params", [
    dict(exp_table_bits=0, exp_degree=5, recip_table_bits=4, recip_seed_degree=1,
         recip_newton_steps=1, log_table_bits=0, log_degree=5),
    dict(exp_table_bits=5, exp_degree=2, recip_table_bits=9, recip_seed_degree=0,
         recip_newton_steps=2, log_table_bits=4, log_degree=2),
])
def test_other_parameters_stay_bit_exact(params, seed):
    params = numerics.SfuParams(**params)
    x = fp32_inputs(seed + 4)[:300]
    for dut, extra, op in ((Fp32Exp(params), {"natural": np.ones(len(x))}, "exp"),
                           (Fp32Softplus(params), {}, "softplus"),
                           (Fp32Sigmoid(params), {"silu": np.ones(len(x))}, "silu")):
        _check(run_datapath(dut, {"a": x, **extra}, seed=seed), numerics.sfu_op(op, x, None,
                                                                                params), x)
