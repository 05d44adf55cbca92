"""The output-stationary row feeder: per-output-row serializers that stream A into the array.

An OS job covers ``R * I`` output rows (I = ``interleave``). Output row ``s = r * I + u`` has a
serializer of R A values. The scratchpad delivers one chunk (R values of one output row) per
cycle on ``bus``; ``load`` with ``target = s`` stores it in serializer s (with ``ok_in``: the
row is inside C). Array row r takes, in each cycle, the first value of serializer
``r * I + pick`` (``pick`` is the same for every row: rows are I cycles apart), and that
serializer shifts by one value after that. Row r's ``active`` and ``first`` are the inputs
``active``, ``first`` delayed ``2 + r * I`` cycles (the row skew). Output:
``a_out[r] = active_r & ok ? value : zero`` (``zero`` = the dtype's no-data value, -0 for
bf16: see :mod:`.pe`), ``first_out[r] = first_r``. Serializer data is not reset (a value is
only shown after a load); ``ok`` flags and the control delays are.

Two implementations of this contract, as for the array core (:mod:`.core`):
:func:`feeder_verilog` (the static parameterised ``verilog/feeder.v``, ``generate`` loops: the serializers are ``R * R * I``
values, a megabit for a 128x128 bf16 array, which Amaranth converts slowly) and
:class:`RowFeederReference` (pure Amaranth, for the equivalence test).
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.pipeline import pipeline_delay
from hybridgen.rtl.mem.widths import address_bits

from .pe import ZERO_A
from .static import static_verilog

__all__ = ["feeder_signature", "feeder_verilog", "RowFeederReference"]


def feeder_signature(geometry):
    """Ports of the feeder of a :class:`~.core.CoreGeometry` (see the module docstring)."""
    R, I, EW = geometry.rows, geometry.interleave, geometry.element_width
    return wiring.Signature({
        "bus": In(R * EW), "load": In(1), "target": In(address_bits(R * I)), "ok_in": In(1),
        "pick": In(address_bits(I)), "active": In(1), "first": In(1),
        "a_out": Out(R * EW), "first_out": Out(R),
    })


def feeder_verilog(name, geometry, delay_name):
    """Verilog of feeder module ``name`` (see the module docstring): ``verilog/feeder.v`` with
    the geometry's values as parameter defaults."""
    g = geometry
    R, I = g.rows, g.interleave
    return static_verilog("feeder.v", {"hg_feeder": name, "hg_delay": delay_name},
                          {"R": R, "I": I, "EW": g.element_width, "TB": address_bits(R * I),
                           "UB": address_bits(I), "ZERO": ZERO_A[g.dtype]})


class RowFeederReference(wiring.Component):
    """The feeder of :func:`feeder_verilog` in pure Amaranth (for the equivalence test)."""

    def __init__(self, geometry):
        self.geometry = geometry
        super().__init__(feeder_signature(geometry))

    def elaborate(self, platform):
        m = Module()
        g = self.geometry
        R, I, EW = g.rows, g.interleave, g.element_width
        values, oks = [], []
        for index in range(R * I):
            serial = Signal(R * EW, name=f"serial{index}")
            ok = Signal(name=f"ok{index}")
            with m.If(self.load & (self.target == index)):
                m.d.sync += [serial.eq(self.bus), ok.eq(self.ok_in)]
            with m.Elif(self.pick == index % I):
                m.d.sync += serial.eq(serial.shift_right(EW))
            values.append(serial[:EW])
            oks.append(ok)
        a_rows, firsts = [], []
        for r in range(R):
            active = pipeline_delay(m, 1, self.active, 2 + r * I, name=f"active{r}")
            first = pipeline_delay(m, 1, self.first, 2 + r * I, name=f"first{r}")
            value, ok = values[r * I], oks[r * I]
            for u in range(1, I):
                value = Mux(self.pick == u, values[r * I + u], value)
                ok = Mux(self.pick == u, oks[r * I + u], ok)
            a_rows.append(Mux(active & ok, value, ZERO_A[g.dtype]))
            firsts.append(first)
        m.d.comb += [self.a_out.eq(Cat(*a_rows)), self.first_out.eq(Cat(*firsts))]
        return m
