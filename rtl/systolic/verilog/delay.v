// W-bit, D-stage shift register (RESET = 1: cleared by rst). The module is emitted renamed
// with the design's prefix (hybridgen.rtl.systolic.static).
module hg_delay #(parameter W = 1, parameter D = 1, parameter RESET = 0) (
  input clk, input rst, input [W-1:0] d, output [W-1:0] q);
  reg [W-1:0] sr [0:D-1];
  integer i;
  initial for (i = 0; i < D; i = i + 1) sr[i] = {W{1'b0}};
  always @(posedge clk) begin
    if (RESET && rst) begin
      for (i = 0; i < D; i = i + 1) sr[i] <= {W{1'b0}};
    end else begin
      sr[0] <= d;
      for (i = 1; i < D; i = i + 1) sr[i] <= sr[i-1];
    end
  end
  assign q = sr[D-1];
endmodule
