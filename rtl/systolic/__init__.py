"""The systolic GEMM engine of the prefill chiplets (DUET prefill package, SPAD prefill chip).

* :mod:`.pe` - the processing element (weight-stationary, double-buffered weights);
* :mod:`.core` - skew, the R x C mesh of PEs and deskew, emitted as templated Verilog around the
  PE (converted once), with a pure-Amaranth twin for the equivalence test;
* :mod:`.array` - the array as a component with stream ports;
* :mod:`.geometry` - :class:`.geometry.EngineGeometry`, every derived figure of an engine;
* :mod:`.layouts` - codes (enums), widths and payload layouts of the host interface and agents;
* :mod:`.engine` - the GEMM engine: one component per agent (setup, request arbiter, fills,
  weight loader, WS and OS feeds, accumulate, write-back, memories, tokens) on the shared
  AXI4 DMA of :mod:`hybridgen.rtl.mem` and the shared intake and counters of
  :mod:`hybridgen.rtl.ctrl`.
"""
