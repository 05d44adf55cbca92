"""Unit tests of :mod:`hybridgen.rtl.ctrl.counters` on the Amaranth simulator: random
increment pulses from several sources and random clears against a Python model; the
first-match classification against its definition. Seeded (``$SEED`` or drawn; printed)."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hybridgen.rtl.ctrl.counters import CounterBank, counter_layout, first_match


NAMES = ("cycles", "busy", "stall_a", "stall_b")


def _run(dut, bench, cycles):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run_until(1e-6 * (cycles + 10))


@pytest.mark.parametrize("width,sources", [(4, 1), (8, 3)])
def test_counter_bank_against_model(width, sources, seed):
    rng = random.Random(seed)
    dut = CounterBank(NAMES, width=width, sources=sources)
    steps = 400
    errors = []

    async def bench(ctx):
        model = {name: 0 for name in NAMES}
        for step in range(steps):
            clear = rng.random() < 0.03
            pulses = [{name: int(rng.random() < 0.4) for name in NAMES} for _ in range(sources)]
            ctx.set(dut.clear, clear)
            for inc, values in zip(dut.inc, pulses):
                for name, value in values.items():
                    ctx.set(getattr(inc, name), value)
            for name in NAMES:
                got = ctx.get(getattr(dut.count, name))
                zero = ctx.get(getattr(dut.zero, name))
                if got != model[name] or zero != (model[name] == 0):
                    errors.append(f"step {step}: {name} = {got} (zero {zero}), "
                                  f"model {model[name]}")
            await ctx.tick()
            for name in NAMES:
                if clear:
                    model[name] = 0
                elif any(values[name] for values in pulses):
                    model[name] = (model[name] + 1) % (1 << width)

    _run(dut, bench, steps)
    assert not errors, f"seed {seed}: {errors[:5]}"


class _Classifier(wiring.Component):
    """``first_match`` over four conditions (the last is 1) when ``enable``."""

    def __init__(self):
        super().__init__({"cond": In(3), "enable": In(1),
                          "inc": Out(counter_layout(NAMES, 1))})

    def elaborate(self, platform):
        m = Module()
        first_match(m, self.inc, [(self.cond[0], "busy"), (self.cond[1], "stall_a"),
                                  (self.cond[2], "stall_b"), (1, "cycles")],
                    enable=self.enable)
        return m


def test_first_match_sets_exactly_the_first_true_class():
    """Every combination of the conditions (exhaustive: no seed)."""
    dut = _Classifier()
    errors = []
    order = ("busy", "stall_a", "stall_b", "cycles")

    async def bench(ctx):
        for enable in (0, 1):
            for cond in range(8):
                ctx.set(dut.cond, cond)
                ctx.set(dut.enable, enable)
                await ctx.delay(1e-7)
                got = {name: ctx.get(getattr(dut.inc, name)) for name in NAMES}
                first = next((i for i in range(3) if cond >> i & 1), 3)
                want = {name: int(enable and name == order[first]) for name in NAMES}
                if got != want:
                    errors.append(f"enable {enable} cond {cond:03b}: {got}, want {want}")

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert not errors, errors


def test_bad_parameters_are_rejected():
    check = CounterBank.check_parameters
    with pytest.raises(ValueError, match="distinct"):
        check(("a", "a"), 8, 1)
    with pytest.raises(ValueError, match="width must be a positive integer, not 0"):
        check(("a",), 0, 1)
    with pytest.raises(ValueError, match="sources must be a positive integer, not 0"):
        check(("a",), 8, 0)
