// The output-stationary row feeder (contract: hybridgen.rtl.systolic.feeder): R * I
// serializers of R EW-bit values; array row r reads serializer r * I + pick. TB and UB are the
// widths of target and pick, ZERO the dtype's no-data A value.
module hg_feeder #(parameter R = 2, parameter I = 1, parameter EW = 8, parameter TB = 1,
    parameter UB = 1, parameter ZERO = 0) (
  input clk, input rst,
  input [R*EW-1:0] bus, input load, input [TB-1:0] target, input ok_in,
  input [UB-1:0] pick, input active, input first,
  output [R*EW-1:0] a_out, output [R-1:0] first_out);
  localparam [EW-1:0] NO_DATA = ZERO;
  wire [R*I*EW-1:0] heads;  // first value of serializer s: heads[s*EW +: EW]
  wire [R*I-1:0] ok;
  genvar s, r;
  generate
    for (s = 0; s < R * I; s = s + 1) begin : ser
      reg [R*EW-1:0] data;
      reg valid;
      always @(posedge clk) begin
        if (load && target == s) data <= bus;
        else if (pick == s % I) data <= data >> EW;
        if (rst) valid <= 1'b0;
        else if (load && target == s) valid <= ok_in;
      end
      assign heads[s*EW +: EW] = data[EW-1:0];
      assign ok[s] = valid;
    end
    for (r = 0; r < R; r = r + 1) begin : row
      wire [1:0] ctrl;  // {active, first} of this row
      hg_delay #(.W(2), .D(2 + r * I), .RESET(1)) skew (.clk(clk), .rst(rst),
        .d({active, first}), .q(ctrl));
      wire [EW-1:0] value = heads[(r * I + pick)*EW +: EW];
      assign a_out[r*EW +: EW] = (ctrl[1] && ok[r * I + pick]) ? value : NO_DATA;
      assign first_out[r] = ctrl[0];
    end
  endgenerate
endmodule
