"""The systolic GEMM engine of the prefill chiplets (DUET prefill package, SPAD prefill chip).

* :mod:`.pe` - the processing element (weight-stationary, double-buffered weights);
* :mod:`.core` - skew, the R x C mesh of PEs and deskew, emitted as templated Verilog around the
  PE (converted once), with a pure-Amaranth twin for the equivalence test;
* :mod:`.array` - the array as a component with stream ports;
* :mod:`.engine` - scratchpad, accumulator and the GEMM controller, on the shared AXI4 DMA of
  :mod:`hybridgen.rtl.mem`.
"""
