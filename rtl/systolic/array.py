"""The systolic array as a component: A rows in, weight rows in, result rows out."""

from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .core import core_row_name, core_verilog, delay_verilog
from .pe import ACC_WIDTH

__all__ = ["SystolicArray", "array_layouts", "HIERARCHY_MIN_PES"]

#: Cores with at least this many PEs are built by Verilator hierarchically, one mesh row per
#: hierarchy block (:mod:`hybridgen.verif.runner`).
HIERARCHY_MIN_PES = 256


def array_layouts(geometry):
    """Payload layouts ``(a, w, o)`` of the array's three streams."""
    g = geometry
    a = data.StructLayout({"data": data.ArrayLayout(g.element_width, g.rows), "sel": g.rows,
                           "tag": g.tag_width})
    w = data.StructLayout({"data": data.ArrayLayout(g.element_width, g.cols), "bank": 1})
    o = data.StructLayout({"data": data.ArrayLayout(ACC_WIDTH, g.cols), "tag": g.tag_width})
    return a, w, o


class SystolicArray(wiring.Component):
    """A ``rows`` x ``cols`` array (:mod:`.core`): weight-stationary with double-buffered
    weights, output-stationary, or both (then ``os`` selects; hold it for a whole GEMM).

    Weight-stationary streams (the array never stalls: ``a.ready`` and ``w.ready`` are always 1, and ``o`` must be
    accepted when valid - its ``ready`` is ignored; upstream logic reserves room downstream):

    ``a``  one row of A per beat: ``data[r]`` enters mesh row r (the K index within the tile),
           ``sel[r]`` the weight bank it multiplies (the same for every r), ``tag`` carried to
           the result unchanged.
    ``w``  one weight row per beat, shifted into bank ``bank`` of every column. A tile is R
           beats, the row for mesh row R-1 first. The caller must not shift a bank that rows
           still in flight use (a bank is free ``latency`` cycles after its last A row).
    ``o``  ``data[c] = sum_r a[r] * W_bank[r][c]``, accumulated from r = 0 down, starting at
           zero (int8: int32 wrapping; bf16: ``fp32_add(psum, bf16_mul_exact(a, w))`` in row
           order), exactly ``latency`` cycles after the A beat.

    Output-stationary (see :mod:`.core` for the timing): ``a.data[r]`` / ``a.sel[r]`` (first
    K step of a tile) enter row r directly, already skewed by the caller; ``w`` carries a row
    of B every cycle (``valid`` = 1, ``bank`` = 0); ``a.valid`` / ``a.tag`` announce result
    rows ``os_latency`` cycles ahead.

    The core is emitted from a static Verilog template (:mod:`.core`) into ``library``; its mesh
    rows are marked as Verilator hierarchy blocks for large arrays (``HIERARCHY_MIN_PES``).
    """

    def __init__(self, library, geometry):
        self.geometry = geometry
        self._library = library
        a, w, o = array_layouts(geometry)
        members = {"a": In(stream.Signature(a)), "w": In(stream.Signature(w)),
                   "o": Out(stream.Signature(o))}
        if geometry.dataflow == "both":
            members["os"] = In(1)
        super().__init__(members)

    @property
    def latency(self):
        """WS: cycles from an accepted ``a`` beat to its ``o`` beat."""
        return self.geometry.latency

    def elaborate(self, platform):
        m = Module()
        g, library = self.geometry, self._library
        pe_key = g.pe_key
        pe_name = library.define(pe_key, g.make_pe, instances=g.rows * g.cols)
        delay_name = library.define("delay", verilog=delay_verilog(f"{library.prefix}__delay"))
        core_key = f"core_{g.rows}x{g.cols}_{pe_key}_t{g.tag_width}"
        mode = self.os if g.dataflow == "both" else 0
        core_name = f"{library.prefix}__{core_key}"
        # Verilator verilates each mesh row (C PEs) once as a hierarchy block; below
        # HIERARCHY_MIN_PES a flat build is quicker
        blocks = [core_row_name(core_name)] if g.rows * g.cols >= HIERARCHY_MIN_PES else []
        library.define(core_key, verilog=core_verilog(core_name, g, pe_name, delay_name),
                       instances=1, hierarchy_blocks=blocks)
        m.d.comb += [self.a.ready.eq(1), self.w.ready.eq(1)]
        m.submodules.core = Instance(
            core_name,
            i_clk=ClockSignal(), i_rst=ResetSignal(),
            i_a_in=self.a.payload.data.as_value(), i_sel_in=self.a.payload.sel,
            i_v_in=self.a.valid, i_tag_in=self.a.payload.tag,
            i_w_in=self.w.payload.data.as_value(), i_w_shift=self.w.valid,
            i_w_bank=self.w.payload.bank,
            o_psum_out=self.o.payload.data.as_value(), o_v_out=self.o.valid,
            o_tag_out=self.o.payload.tag, i_os=mode)
        return m
