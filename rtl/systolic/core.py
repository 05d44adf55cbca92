"""The array core: row skew, the R x C mesh of processing elements, column deskew.

Two implementations of one contract:

* :func:`core_verilog` emits the core from the static parameterised file ``verilog/core.v``
  (``generate`` loops around the PE, which Amaranth converts once; see :mod:`.static`):
  generation cost does not grow with R x C (docs/systolic.md, "Generation": a 128 x 128 array
  in a few seconds). The mesh is R instances of a row module of C PEs, so Verilator's
  hierarchical build verilates one row, not R x C PEs (:mod:`hybridgen.verif.runner`).
* :class:`SystolicCoreReference` builds the same core in pure Amaranth (one PE instance per
  cell); the equivalence test (``tests/systolic``) simulates both on random stimulus.

Contract (module ports, all sampled at the rising edge of ``clk``)::

    a_in[R*EW], sel_in[R], v_in, tag_in[TW]   one array row of A per cycle (row r of the
                                              vector feeds mesh row r), its weight bank and
                                              valid bit, and a tag carried alongside
    w_in[C*EW], w_shift, w_bank               weight load: on w_shift every column's bank
                                              w_bank shifts down one PE, w_in entering row 0
    psum_out[C*32], v_out, tag_out[TW]        the result row, ``latency`` cycles after its
                                              A row: psum_out[c] = sum over r of a[r] * W[r][c]
                                              (accumulated from row 0 down, starting at zero)

Weight-stationary skew: row r is delayed ``r * psum_latency`` cycles before the mesh so that
each PE sees its ``a`` value ``product_delay`` cycles before the partial sum from above; column
c is delayed ``C - 1 - c`` cycles after the mesh so a result row leaves at once.
``latency = R * psum_latency + C - 1 + product_delay``. Loading a weight tile takes R shifts of
one bank, rows in the order R-1 first, 0 last.

Output-stationary (``dataflow`` "os", or "both" with input ``os`` = 1; see :mod:`.pe`), with
I = ``interleave``: time runs in K steps of I cycles; in step k, cycle u, row r of the array
works on output row ``r * I + u`` of the tile. ``a_in[r]`` and ``sel_in[r]`` (the *first*
marker) enter mesh row r directly - the caller skews rows, row r ``I`` cycles after row r - 1.
``w_in`` (a row of B) and ``w_shift`` (once per K step; ``w_bank`` = 0) are delayed ``c``
cycles before column c, where every PE of the column shifts bank 0 down together. A row of B
must be shifted in at the end of the cycle before step k's first A value enters row 0. Let
the first beat of a new tile (``sel`` = 1) enter row 0 at cycle t. Then the previous tile's
results leave ``psum_out`` (deskewed as above) as ``R * I`` consecutive rows from cycle
``t + os_latency`` on, ``os_latency = product_delay + C - 1 + (R + 1) * I``: result row ``j``
is output row ``(R - 1 - j // I) * I + j % I`` (PE row ``R - 1 - j // I``, output
``j % I``) of every column. ``v_in`` and ``tag_in`` are delayed ``os_latency`` cycles in this
mode (the caller sends each result row's tag ``os_latency`` cycles ahead of it). Tiles must
start at least ``R * I`` cycles apart.

``v_out`` is cleared by reset; data registers are not (they carry no state that outlives a
row or a tile).
"""

import re

from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.pipeline import pipeline_delay

from .pe import ACC_WIDTH, ELEMENT_WIDTH, ProcessingElement, os_interleave, pe_timing
from .static import static_verilog

__all__ = ["CoreGeometry", "core_verilog", "core_row_name", "delay_verilog", "SystolicCoreReference"]


class CoreGeometry:
    """Shape and timing of a core: ``rows`` x ``cols`` PEs of ``dtype``, ``tag_width`` tag bits,
    ``dataflow`` "ws", "os" or "both" (then the core has an ``os`` input)."""

    def __init__(self, rows, cols, dtype, *, adder_latency=3, tag_width=1, dataflow="ws"):
        self.rows, self.cols, self.dtype = rows, cols, dtype
        self.adder_latency, self.tag_width, self.dataflow = adder_latency, tag_width, dataflow
        self.psum_latency, self.product_delay = pe_timing(dtype, adder_latency)
        self.interleave = os_interleave(dtype, adder_latency)
        self.element_width = ELEMENT_WIDTH[dtype]

    @property
    def has_ws(self):
        return self.dataflow != "os"

    @property
    def has_os(self):
        return self.dataflow != "ws"

    def make_pe(self):
        return ProcessingElement(self.dtype, adder_latency=self.adder_latency,
                                 dataflow=self.dataflow)

    @property
    def pe_key(self):
        """Module library key of the PE (one module per distinct PE)."""
        key = f"pe_{self.dtype}" + (f"_l{self.adder_latency}" if self.dtype == "bf16" else "")
        return key + ("" if self.dataflow == "ws" else f"_{self.dataflow}")

    @property
    def latency(self):
        """WS: cycles from an A row at the core's inputs to its result row at ``psum_out``."""
        return self.rows * self.psum_latency + self.cols - 1 + self.product_delay

    @property
    def os_latency(self):
        """OS: cycles from a tile's first beat in row 0 to the previous tile's first result."""
        return self.product_delay + self.cols - 1 + (self.rows + 1) * self.interleave

    def signature(self):
        R, C, EW = self.rows, self.cols, self.element_width
        return wiring.Signature({
            "a_in": In(R * EW), "sel_in": In(R), "v_in": In(1), "tag_in": In(self.tag_width),
            "w_in": In(C * EW), "w_shift": In(1), "w_bank": In(1),
            "psum_out": Out(C * ACC_WIDTH), "v_out": Out(1), "tag_out": Out(self.tag_width),
            **({"os": In(1)} if self.dataflow == "both" else {}),
        })


def delay_verilog(name):
    """A ``W``-bit, ``D``-stage shift register module (``RESET=1``: cleared by ``rst``), from
    ``verilog/delay.v``."""
    return static_verilog("delay.v", {"hg_delay": name})


#: The core's dataflow as the template's ``MODE`` parameter.
CORE_MODE = {"ws": 0, "os": 1, "both": 2}


def core_row_name(name):
    """Name of the mesh-row module (C PEs) of core module ``name``: the unit Verilator's
    hierarchical build verilates once. It has no double underscore (``__`` in a hierarchy
    block's name keeps Verilator 5.048 from using the block: it inlines the module instead),
    so ``<top>__core_...`` becomes ``<top>_core_..._row``."""
    return re.sub("_+", "_", name) + "_row"


def core_verilog(name, geometry, pe_name, delay_name):
    """Verilog of core module ``name`` (see the module docstring) around PE module ``pe_name``:
    ``verilog/core.v`` with the geometry's values as parameter defaults, plus its mesh-row
    module :func:`core_row_name`.

    The Verilog module always has an ``os`` input; it selects the dataflow only when
    ``geometry.dataflow`` is "both" and is ignored otherwise (tie it to 0).
    """
    g = geometry
    return static_verilog(
        "core.v", {"hg_core": name, "hg_core_row": core_row_name(name), "hg_pe": pe_name,
                   "hg_delay": delay_name},
        {"R": g.rows, "C": g.cols, "EW": g.element_width, "L": g.psum_latency,
         "TW": g.tag_width, "MODE": CORE_MODE[g.dataflow], "LAT": g.latency,
         "OS_LAT": g.os_latency})


class SystolicCoreReference(wiring.Component):
    """The core of :func:`core_verilog` in pure Amaranth (for the equivalence test only).

    One PE submodule per cell: fine for small arrays, far too slow to convert for large ones.
    """

    def __init__(self, geometry):
        self.geometry = geometry
        super().__init__(geometry.signature())

    def elaborate(self, platform):
        m = Module()
        g = self.geometry
        R, C, EW, L = g.rows, g.cols, g.element_width, g.psum_latency
        one = 1
        os_mode = {"ws": 0, "os": 1, "both": getattr(self, "os", None)}[g.dataflow]
        a_rows, sel_rows = [], []
        for r in range(R):
            a_direct, s_direct = self.a_in[r * EW:(r + 1) * EW], self.sel_in[r]
            a = pipeline_delay(m, one, a_direct, r * L, name=f"skew_a{r}")
            s = pipeline_delay(m, one, s_direct, r * L, name=f"skew_s{r}")
            a_rows.append(Mux(os_mode, a_direct, a))
            sel_rows.append(Mux(os_mode, s_direct, s))
        weights, shifts = [], []
        for c in range(C):
            w_direct = self.w_in[c * EW:(c + 1) * EW]
            w_skewed = pipeline_delay(m, one, w_direct, c, name=f"skew_w{c}")
            weights.append(Mux(os_mode, w_skewed, w_direct))
            shift_skewed = pipeline_delay(m, one, self.w_shift, c, name=f"skew_shift{c}")
            shifts.append(Mux(os_mode, shift_skewed, self.w_shift))
        psums = [0] * C
        for r in range(R):
            a, sel = a_rows[r], sel_rows[r]
            for c in range(C):
                pe = g.make_pe()
                m.submodules[f"pe_{r}_{c}"] = pe
                m.d.comb += [pe.a_in.eq(a), pe.sel_in.eq(sel), pe.w_in.eq(weights[c]),
                             pe.w_shift.eq(shifts[c]), pe.w_bank.eq(self.w_bank),
                             pe.psum_in.eq(psums[c])]
                if g.dataflow == "both":
                    m.d.comb += pe.os.eq(self.os)
                a, sel, weights[c], psums[c] = pe.a_out, pe.sel_out, pe.w_out, pe.psum_out
        for c in range(C):
            out = pipeline_delay(m, one, psums[c], C - 1 - c, name=f"deskew{c}")
            m.d.comb += self.psum_out[c * ACC_WIDTH:(c + 1) * ACC_WIDTH].eq(out)
        valid_ws = pipeline_delay(m, one, self.v_in & ~os_mode, g.latency, name="valid")
        valid_os = pipeline_delay(m, one, self.v_in & os_mode, g.os_latency, name="valid_os")
        tag_ws = pipeline_delay(m, one, self.tag_in, g.latency, name="tag")
        tag_os = pipeline_delay(m, one, self.tag_in, g.os_latency, name="tag_os")
        m.d.comb += [self.v_out.eq(valid_ws | valid_os),
                     self.tag_out.eq(Mux(valid_os, tag_os, tag_ws))]
        return m
