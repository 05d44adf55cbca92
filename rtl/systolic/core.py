"""The array core: row skew, the R x C mesh of processing elements, column deskew.

Two implementations of one contract:

* :func:`core_verilog` emits the core as templated Verilog (``generate`` loops around the PE,
  which Amaranth converts once): generation cost does not grow with R x C (docs/systolic.md,
  "Generation": a 128 x 128 array in a few seconds).
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

from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.pipeline import pipeline_delay

from .pe import ACC_WIDTH, ELEMENT_WIDTH, ProcessingElement, os_interleave, pe_timing

__all__ = ["CoreGeometry", "core_verilog", "delay_verilog", "SystolicCoreReference"]


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
    """A ``W``-bit, ``D``-stage shift register module (``RESET=1``: cleared by ``rst``)."""
    return f"""module {name} #(parameter W = 1, parameter D = 1, parameter RESET = 0) (
  input clk, input rst, input [W-1:0] d, output [W-1:0] q);
  reg [W-1:0] sr [0:D-1];
  integer i;
  initial for (i = 0; i < D; i = i + 1) sr[i] = {{W{{1'b0}}}};
  always @(posedge clk) begin
    if (RESET && rst) begin
      for (i = 0; i < D; i = i + 1) sr[i] <= {{W{{1'b0}}}};
    end else begin
      sr[0] <= d;
      for (i = 1; i < D; i = i + 1) sr[i] <= sr[i-1];
    end
  end
  assign q = sr[D-1];
endmodule
"""


def core_verilog(name, geometry, pe_name, delay_name):
    """Verilog of core module ``name`` (see the module docstring) around PE module ``pe_name``."""
    g = geometry
    R, C, EW, L, TW = g.rows, g.cols, g.element_width, g.psum_latency, g.tag_width
    A = ACC_WIDTH
    both = g.dataflow == "both"

    def pick(os_value, ws_value):
        """The mesh input of the current dataflow."""
        if both:
            return f"os ? {os_value} : {ws_value}"
        return os_value if g.dataflow == "os" else ws_value

    a_row0 = f"a_in[{EW - 1}:0]"
    a_skewed = pick(f"a_in[r*{EW} +: {EW}]", f"a_sk[r*{EW} +: {EW}]")
    s_skewed = pick("sel_in[r]", "s_sk[r]")
    w_top = pick(f"w_sk[c*{EW} +: {EW}]", f"w_in[c*{EW} +: {EW}]")
    w_shift_col = pick("shift_sk[c]", "w_shift")
    row_skew = ""
    if g.has_ws:
        row_skew = f"""
      if (r > 0) begin : skew
        {delay_name} #(.W({EW + 1}), .D(r * {L})) d (.clk(clk), .rst(rst),
          .d({{sel_in[r], a_in[r*{EW} +: {EW}]}}), .q({{s_sk[r], a_sk[r*{EW} +: {EW}]}}));
      end else begin : direct
        assign a_sk[{EW - 1}:0] = {a_row0};
        assign s_sk[0] = sel_in[0];
      end"""
    col_skew = ""
    if g.has_os:
        col_skew = f"""
      if (c > 0) begin : b_skew
        {delay_name} #(.W({EW + 1}), .D(c)) d (.clk(clk), .rst(rst),
          .d({{w_shift, w_in[c*{EW} +: {EW}]}}), .q({{shift_sk[c], w_sk[c*{EW} +: {EW}]}}));
      end else begin : b_direct
        assign w_sk[{EW - 1}:0] = w_in[{EW - 1}:0];
        assign shift_sk[0] = w_shift;
      end"""
    ws_wires = (f"  wire [{R * EW - 1}:0] a_sk;           // rows after the WS skew\n"
                f"  wire [{R - 1}:0] s_sk;\n") if g.has_ws else ""
    os_wires = (f"  wire [{C * EW - 1}:0] w_sk;           // columns of B after the OS skew\n"
                f"  wire [{C - 1}:0] shift_sk;\n" if g.has_os else "")
    if both:
        tags = f"""  wire ws_v, os_v;
  wire [{TW - 1}:0] ws_tag, os_tag;
  {delay_name} #(.W(1), .D({g.latency}), .RESET(1)) valid_delay (.clk(clk), .rst(rst),
    .d(v_in & ~os), .q(ws_v));
  {delay_name} #(.W({TW}), .D({g.latency})) tag_delay (.clk(clk), .rst(rst),
    .d(tag_in), .q(ws_tag));
  {delay_name} #(.W(1), .D({g.os_latency}), .RESET(1)) os_valid_delay (.clk(clk), .rst(rst),
    .d(v_in & os), .q(os_v));
  {delay_name} #(.W({TW}), .D({g.os_latency})) os_tag_delay (.clk(clk), .rst(rst),
    .d(tag_in), .q(os_tag));
  assign v_out = ws_v | os_v;
  assign tag_out = os_v ? os_tag : ws_tag;"""
    else:
        depth = g.os_latency if g.dataflow == "os" else g.latency
        tags = f"""  {delay_name} #(.W(1), .D({depth}), .RESET(1)) valid_delay (.clk(clk), .rst(rst),
    .d(v_in), .q(v_out));
  {delay_name} #(.W({TW}), .D({depth})) tag_delay (.clk(clk), .rst(rst),
    .d(tag_in), .q(tag_out));"""
    return f"""module {name} (
  input clk, input rst,{" input os," if both else ""}
  input [{R * EW - 1}:0] a_in, input [{R - 1}:0] sel_in, input v_in, input [{TW - 1}:0] tag_in,
  input [{C * EW - 1}:0] w_in, input w_shift, input w_bank,
  output [{C * A - 1}:0] psum_out, output v_out, output [{TW - 1}:0] tag_out);
  // {R} x {C} {g.dtype} PEs, dataflow {g.dataflow}; WS latency {g.latency}, OS latency {g.os_latency}
  wire [{R * (C + 1) * EW - 1}:0] ah;   // a entering column c of row r: index r*{C + 1}+c
  wire [{R * (C + 1) - 1}:0] sh;
  wire [{(R + 1) * C * EW - 1}:0] wv;   // weight entering row r of column c: index r*{C}+c
  wire [{(R + 1) * C * A - 1}:0] pv;    // partial sum entering row r of column c
  wire [{C - 1}:0] wshift;              // weight shift of column c
{ws_wires}{os_wires}  genvar r, c;
  generate
    for (r = 0; r < {R}; r = r + 1) begin : row{row_skew}
      assign ah[r*{(C + 1) * EW} +: {EW}] = {a_skewed};
      assign sh[r*{C + 1}] = {s_skewed};
    end
    for (c = 0; c < {C}; c = c + 1) begin : col{col_skew}
      assign wv[c*{EW} +: {EW}] = {w_top};
      assign wshift[c] = {w_shift_col};
      assign pv[c*{A} +: {A}] = {A}'d0;
      if (c == {C - 1}) begin : direct
        assign psum_out[c*{A} +: {A}] = pv[({R * C}+c)*{A} +: {A}];
      end else begin : deskew
        {delay_name} #(.W({A}), .D({C - 1} - c)) d (.clk(clk), .rst(rst),
          .d(pv[({R * C}+c)*{A} +: {A}]), .q(psum_out[c*{A} +: {A}]));
      end
    end
    for (r = 0; r < {R}; r = r + 1) begin : mr
      for (c = 0; c < {C}; c = c + 1) begin : mc
        {pe_name} pe (.clk(clk), .rst(rst),{" .os(os)," if both else ""}
          .a_in(ah[(r*{C + 1}+c)*{EW} +: {EW}]), .sel_in(sh[r*{C + 1}+c]),
          .a_out(ah[(r*{C + 1}+c+1)*{EW} +: {EW}]), .sel_out(sh[r*{C + 1}+c+1]),
          .w_in(wv[(r*{C}+c)*{EW} +: {EW}]), .w_shift(wshift[c]), .w_bank(w_bank),
          .w_out(wv[((r+1)*{C}+c)*{EW} +: {EW}]),
          .psum_in(pv[(r*{C}+c)*{A} +: {A}]), .psum_out(pv[((r+1)*{C}+c)*{A} +: {A}]));
      end
    end
  endgenerate
{tags}
endmodule
"""


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
