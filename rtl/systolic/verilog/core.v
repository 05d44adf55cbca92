// The array core (contract: hybridgen.rtl.systolic.core): row skew, R rows of C PEs, column
// deskew. MODE 0 weight-stationary, 1 output-stationary, 2 both (the input os selects; it is
// ignored otherwise). L is the PE's psum latency, LAT / OS_LAT the core's WS / OS latencies.
// Each mesh row is one module (hg_core_row, C PEs): the unit of Verilator's hierarchical
// build, which verilates it once however many rows the core has.
module hg_core #(parameter R = 2, parameter C = 2, parameter EW = 8, parameter L = 1,
    parameter TW = 1, parameter MODE = 0, parameter LAT = 2, parameter OS_LAT = 2) (
  input clk, input rst, input os,
  input [R*EW-1:0] a_in, input [R-1:0] sel_in, input v_in, input [TW-1:0] tag_in,
  input [C*EW-1:0] w_in, input w_shift, input w_bank,
  output [C*32-1:0] psum_out, output v_out, output [TW-1:0] tag_out);
  localparam A = 32;
  localparam HAS_WS = MODE != 1;
  localparam HAS_OS = MODE != 0;
  wire os_mode = MODE == 2 ? os : MODE == 1;
  wire [(R+1)*C*EW-1:0] wv;  // weights entering mesh row r: wv[r*C*EW +: C*EW]
  wire [(R+1)*C*A-1:0] pv;   // partial sums entering mesh row r: pv[r*C*A +: C*A]
  wire [C-1:0] wshift;       // weight shift of column c
  genvar r, c;
  generate
    for (r = 0; r < R; r = r + 1) begin : row
      wire [EW-1:0] a_sk;    // row r after the WS skew
      wire s_sk;
      if (HAS_WS && r > 0) begin : skew
        hg_delay #(.W(EW + 1), .D(r * L)) d (.clk(clk), .rst(rst),
          .d({sel_in[r], a_in[r*EW +: EW]}), .q({s_sk, a_sk}));
      end else begin : direct
        assign a_sk = a_in[r*EW +: EW];
        assign s_sk = sel_in[r];
      end
      hg_core_row mesh (.clk(clk), .rst(rst), .os(os),
        .a_in(os_mode ? a_in[r*EW +: EW] : a_sk), .sel_in(os_mode ? sel_in[r] : s_sk),
        .w_in(wv[r*C*EW +: C*EW]), .w_shift(wshift), .w_bank(w_bank),
        .w_out(wv[(r+1)*C*EW +: C*EW]),
        .psum_in(pv[r*C*A +: C*A]), .psum_out(pv[(r+1)*C*A +: C*A]));
    end
    for (c = 0; c < C; c = c + 1) begin : col
      wire [EW-1:0] w_sk;    // column c of B after the OS skew
      wire shift_sk;
      if (HAS_OS && c > 0) begin : b_skew
        hg_delay #(.W(EW + 1), .D(c)) d (.clk(clk), .rst(rst),
          .d({w_shift, w_in[c*EW +: EW]}), .q({shift_sk, w_sk}));
      end else begin : b_direct
        assign w_sk = w_in[c*EW +: EW];
        assign shift_sk = w_shift;
      end
      assign wv[c*EW +: EW] = os_mode ? w_sk : w_in[c*EW +: EW];
      assign wshift[c] = os_mode ? shift_sk : w_shift;
      assign pv[c*A +: A] = {A{1'b0}};
      if (c == C - 1) begin : direct
        assign psum_out[c*A +: A] = pv[(R*C + c)*A +: A];
      end else begin : deskew
        hg_delay #(.W(A), .D(C - 1 - c)) d (.clk(clk), .rst(rst),
          .d(pv[(R*C + c)*A +: A]), .q(psum_out[c*A +: A]));
      end
    end
    if (MODE == 2) begin : tags_both
      wire ws_v, os_v;
      wire [TW-1:0] ws_tag, os_tag;
      hg_delay #(.W(1), .D(LAT), .RESET(1)) valid_delay (.clk(clk), .rst(rst),
        .d(v_in & ~os), .q(ws_v));
      hg_delay #(.W(TW), .D(LAT)) tag_delay (.clk(clk), .rst(rst), .d(tag_in), .q(ws_tag));
      hg_delay #(.W(1), .D(OS_LAT), .RESET(1)) os_valid_delay (.clk(clk), .rst(rst),
        .d(v_in & os), .q(os_v));
      hg_delay #(.W(TW), .D(OS_LAT)) os_tag_delay (.clk(clk), .rst(rst), .d(tag_in),
        .q(os_tag));
      assign v_out = ws_v | os_v;
      assign tag_out = os_v ? os_tag : ws_tag;
    end else begin : tags
      hg_delay #(.W(1), .D(MODE == 1 ? OS_LAT : LAT), .RESET(1)) valid_delay (.clk(clk),
        .rst(rst), .d(v_in), .q(v_out));
      hg_delay #(.W(TW), .D(MODE == 1 ? OS_LAT : LAT)) tag_delay (.clk(clk), .rst(rst),
        .d(tag_in), .q(tag_out));
    end
  endgenerate
endmodule

// One mesh row: a enters at the left and moves right one PE per cycle; weights and partial
// sums enter from the row above (column c at [c*EW +: EW], [c*32 +: 32]) and leave below.
// Its figures are local parameters, set when the file is emitted (the core's C, EW, MODE),
// because Verilator 5.048 replaces instances by a hierarchy block only for a module
// without parameters.
module hg_core_row (clk, rst, os, a_in, sel_in, w_in, w_shift, w_bank, w_out, psum_in,
    psum_out);
  localparam C = 2;
  localparam EW = 8;
  localparam MODE = 0;
  input clk, rst, os;
  input [EW-1:0] a_in;
  input sel_in;
  input [C*EW-1:0] w_in;
  input [C-1:0] w_shift;
  input w_bank;
  output [C*EW-1:0] w_out;
  input [C*32-1:0] psum_in;
  output [C*32-1:0] psum_out;
  localparam A = 32;
  wire [(C+1)*EW-1:0] ah;    // a entering column c: ah[c*EW +: EW]
  wire [C:0] sh;
  assign ah[EW-1:0] = a_in;
  assign sh[0] = sel_in;
  genvar c;
  generate
    for (c = 0; c < C; c = c + 1) begin : pe_col
      if (MODE == 2) begin : both
        // only elaborated when the PE has an os input (Verilator checks the pins of cells in
        // every generate branch)
        /* verilator lint_off PINNOTFOUND */
        hg_pe pe (.clk(clk), .rst(rst), .os(os),
          .a_in(ah[c*EW +: EW]), .sel_in(sh[c]), .a_out(ah[(c+1)*EW +: EW]),
          .sel_out(sh[c+1]), .w_in(w_in[c*EW +: EW]), .w_shift(w_shift[c]),
          .w_bank(w_bank), .w_out(w_out[c*EW +: EW]),
          .psum_in(psum_in[c*A +: A]), .psum_out(psum_out[c*A +: A]));
        /* verilator lint_on PINNOTFOUND */
      end else begin : single
        hg_pe pe (.clk(clk), .rst(rst),
          .a_in(ah[c*EW +: EW]), .sel_in(sh[c]), .a_out(ah[(c+1)*EW +: EW]),
          .sel_out(sh[c+1]), .w_in(w_in[c*EW +: EW]), .w_shift(w_shift[c]),
          .w_bank(w_bank), .w_out(w_out[c*EW +: EW]),
          .psum_in(psum_in[c*A +: A]), .psum_out(psum_out[c*A +: A]));
      end
    end
  endgenerate
endmodule
