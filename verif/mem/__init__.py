"""Testbench parts of the memory-side blocks (:mod:`hybridgen.rtl.mem`)."""
