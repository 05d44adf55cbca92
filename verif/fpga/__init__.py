"""cocotb testbench of the FPGA self-test top (:mod:`hybridgen.rtl.fpga.selftest`)."""
