"""Unit tests of :mod:`hybridgen.rtl.ctrl.descriptor` on the Amaranth simulator.

A toy block around the intake: it rejects descriptors with ``a == 0`` (code BAD), runs an
accepted one for ``b + 1`` cycles and then finishes, or fails with code LATE when ``a`` is odd;
its status counts the cycles the intake counts and reports the registered ``b``. Random
valid stalls on the descriptor stream and random ready stalls on the completion stream; every
completion is checked (in order, error code, cycle count, descriptor), and no extra completion
may appear. Seeded (``$SEED`` or drawn; printed on failure).
"""

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hybridgen.rtl.ctrl.descriptor import DescriptorIntake, completion_layout


DESCRIPTOR = data.StructLayout({"a": 8, "b": 6})
STATUS = data.StructLayout({"cycles": 16, "b": 6})


class Code(enum.Flag, shape=8):
    BAD = 1
    LATE = 4


class _Block(wiring.Component):
    """The intake and a toy job (see the module docstring)."""

    def __init__(self):
        self.intake = DescriptorIntake(descriptor=DESCRIPTOR, status=STATUS, error=Code)
        super().__init__({
            "desc": In(stream.Signature(DESCRIPTOR)),
            "done": Out(stream.Signature(completion_layout(STATUS, Code))),
            "starts": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.intake = intake = self.intake
        wiring.connect(m, host=wiring.flipped(self.desc), intake=intake.desc)
        wiring.connect(m, intake=intake.done, host=wiring.flipped(self.done))
        left, cycles = Signal(6), Signal(16)
        with m.If(intake.incoming.a == 0):
            m.d.comb += intake.check.eq(Code.BAD)
        with m.If(intake.start):
            m.d.sync += [left.eq(intake.incoming.b), self.starts.eq(self.starts + 1)]
        with m.If(intake.busy):
            with m.If(left == 0):
                with m.If(intake.descriptor.a[0]):
                    m.d.comb += intake.fail.eq(Code.LATE)
                with m.Else():
                    m.d.comb += intake.finish.eq(1)
            with m.Else():
                m.d.sync += left.eq(left - 1)
        with m.If(intake.taken):
            m.d.sync += cycles.eq(0)
        with m.Elif(intake.counting):
            m.d.sync += cycles.eq(cycles + 1)
        m.d.comb += [intake.status.cycles.eq(cycles), intake.status.b.eq(intake.descriptor.b)]
        return m


def _expected(a, b):
    if a == 0:
        return {"error": Code.BAD.value, "cycles": 0, "b": b}
    if a & 1:
        return {"error": Code.LATE.value, "cycles": b + 1, "b": b}
    return {"error": 0, "cycles": b, "b": b}


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_intake_against_model(stall, seed):
    rng = random.Random(seed)
    dut = _Block()
    beats = [(rng.choice([0, rng.randrange(256)]), rng.randrange(64)) for _ in range(40)]
    got, errors, starts = [], [], []

    async def drive(ctx):
        for a, b in beats:
            while rng.random() < stall:
                await ctx.tick()
            ctx.set(dut.desc.payload, {"a": a, "b": b})
            ctx.set(dut.desc.valid, 1)
            await ctx.tick().until(dut.desc.ready)
            ctx.set(dut.desc.valid, 0)

    async def collect(ctx):
        for _ in range(40 * 140):
            ctx.set(dut.done.ready, rng.random() >= stall)
            *_, valid, ready, payload = await ctx.tick().sample(
                dut.done.valid, dut.done.ready, dut.done.payload)
            if valid and ready:
                error = payload.error
                got.append({"error": int(getattr(error, "value", error)),
                            "cycles": payload.cycles, "b": payload.b})
        starts.append(ctx.get(dut.starts))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(collect)
    sim.run_until(1e-6 * 40 * 150)
    want = [_expected(a, b) for a, b in beats]
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            errors.append(f"completion {i} (a={beats[i][0]}, b={beats[i][1]}): {g}, want {w}")
    accepted = sum(1 for a, _ in beats if a != 0)
    if starts != [accepted]:
        errors.append(f"{starts} start pulses for {accepted} accepted descriptors")
    if len(got) != len(want):
        errors.append(f"{len(got)} completions for {len(want)} descriptors")
    assert not errors, f"seed {seed}: {errors[:5]}"


def test_completion_layout_appends_the_error():
    layout = completion_layout(STATUS, Code)
    assert [name for name, _ in layout] == ["cycles", "b", "error"]
    assert layout["error"].offset == 22
    with pytest.raises(ValueError, match="must not have a field named 'error'"):
        completion_layout(data.StructLayout({"error": 1}), Code)
