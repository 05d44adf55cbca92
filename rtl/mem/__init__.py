"""Memory-side pieces shared by every block that talks to off-chip memory.

* :mod:`.axi` - the AXI4 master port (the documented subset) as Amaranth signatures;
* :mod:`.dma` - row-granular read and write DMA over that port (any byte address and length,
  INCR bursts that never cross 4 KB, several bursts in flight).

The GEMM engine (:mod:`hybridgen.rtl.systolic.engine`) uses them; the URSC core and the decode
array are to use the same ones. The contract and the measured throughput: docs/mem.md.
"""
