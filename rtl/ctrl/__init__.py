"""Control pieces shared by the blocks that run jobs from a host descriptor stream.

* :mod:`.descriptor` - descriptor intake: a descriptor stream in, validation with error codes,
  a job in progress, a completion stream out (the job's status and its error code);
* :mod:`.counters` - a bank of named performance counters, incremented by pulses from several
  sources, and the first-match classification of a cycle into one stall class;
* :mod:`.stream_fifo` - a stream link through a FIFO (``buffer_stream``).

The GEMM engine (:mod:`hybridgen.rtl.systolic.engine`) uses both; the URSC core and the decode
array are to use the same ones.
"""
