// Synchronous SRAM: W bits x D words, A address bits, one write port, READS (1 or 2)
// synchronous read ports, read-before-write (see hybridgen.rtl.systolic.sram).
module hg_sram #(parameter W = 8, parameter D = 2, parameter A = 1,
    parameter READS = 1) (
  input clk,
  input we, input [A-1:0] waddr, input [W-1:0] wdata,
  input [A-1:0] raddr0, output reg [W-1:0] rdata0,
  input [A-1:0] raddr1, output reg [W-1:0] rdata1);
  reg [W-1:0] mem [0:D-1];
  always @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
    rdata0 <= mem[raddr0];
  end
  generate if (READS > 1) begin : second
    always @(posedge clk) rdata1 <= mem[raddr1];
  end else begin : none
    always @(posedge clk) rdata1 <= {W{1'b0}};
  end endgenerate
endmodule
