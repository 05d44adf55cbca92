"""Running values of interleaved reductions: the accumulator state shared by the DPU and the RVPE.

A reduction whose step is a pipelined operation of latency ``L`` (an fp32 adder: ``L = 3``)
cannot take one beat per cycle on its own: beat j needs the result of beat j - 1, which appears
``L`` cycles later. The URSC engines therefore interleave ``slots = L`` independent reductions:
accepted beats go to slots 0, 1, ..., L - 1, 0, 1, ... in order (the slot of a beat is its index
among the valid beats modulo ``slots``), and each slot keeps its own running value here.
"""

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.pipeline import pipeline_delay

__all__ = ["InterleavedCarry"]


class InterleavedCarry(wiring.Component):
    """One register per slot holding the running value of that slot's reduction.

    The owner has an *issue* stage, where a beat reads its slot's running value (``o``) into a
    pipelined step of latency ``distance``, and a *retire* stage ``distance`` enabled cycles
    later, where the step's result (``result``) becomes the slot's new running value. The slot of
    a beat is counted here: the n-th valid beat seen at the issue stage (from reset) has slot
    ``n mod slots``. ``o`` is the running value of the issuing beat's slot, forwarded from
    ``result`` when the retiring beat is of that slot (its register is written at the same
    edge), so a slot may issue again exactly ``slots`` valid beats later when
    ``slots >= distance``.

    Pipelined-datapath convention (:mod:`hybridgen.rtl.arith.pipeline`): state advances only when
    ``en`` is 1.

    Parameters
    ----------
    width : int
        Bits of a running value.
    slots : int
        Interleaved reductions, >= ``distance``.
    distance : int
        Enabled cycles from the issue stage to the retire stage.

    Members
    -------
    en : In(1)
    issue : In(1)
        A valid beat is at the issue stage.
    result : In(width)
        The step's result for the beat at the retire stage.
    o : Out(width)
        Running value of the issuing beat's slot (combinational).
    slot : Out(range(slots))
        Slot of the beat at the issue stage.
    retire_slot : Out(range(slots))
    retire : Out(1)
        A valid beat is at the retire stage (``result`` is written into ``retire_slot``).
    """

    def __init__(self, *, width, slots, distance):
        if not isinstance(slots, int) or not isinstance(distance, int) or slots < distance:
            raise ValueError(f"Interleaved slots must be an integer >= the step distance "
                             f"{distance!r}, not {slots!r}")
        self._width, self._slots, self._distance = width, slots, distance
        super().__init__({"en": In(1), "issue": In(1), "result": In(width), "o": Out(width),
                          "slot": Out(range(slots)), "retire_slot": Out(range(slots)),
                          "retire": Out(1)})

    @property
    def slots(self):
        return self._slots

    def elaborate(self, platform):
        m = Module()
        en, slots = self.en, self._slots
        with m.If(en & self.issue):
            m.d.sync += self.slot.eq(Mux(self.slot == slots - 1, 0, self.slot + 1))
        m.d.comb += [
            self.retire.eq(pipeline_delay(m, en, self.issue, self._distance, name="retire")),
            self.retire_slot.eq(pipeline_delay(m, en, self.slot, self._distance,
                                               name="retire_slot")),
        ]
        values = Array(Signal(self._width, name=f"value{s}") for s in range(slots))
        with m.If(en & self.retire):
            m.d.sync += values[self.retire_slot].eq(self.result)
        forward = self.retire & (self.retire_slot == self.slot)
        m.d.comb += self.o.eq(Mux(forward, self.result, values[self.slot]))
        return m
