"""The GEMM engine: ``C = A @ B`` from off-package memory, on a systolic array that is
weight-stationary (WS), output-stationary (OS) or both (the descriptor chooses per GEMM).

Host interface: a descriptor stream ``desc`` (one GEMM per beat, :data:`descriptor_layout`) and
a completion stream ``done`` (one beat per GEMM: performance counters and an error code,
:data:`completion_layout`). Memory: one AXI4 master port ``m_axi`` (:mod:`hybridgen.rtl.mem.axi`,
:mod:`hybridgen.rtl.mem.dma`).

Operands in memory, row-major with byte row strides: A is M x K at ``a_addr`` (row stride
``lda``), B is K x N at ``b_addr`` (``ldb``), C is M x N at ``c_addr`` (``ldc``); elements int8
or bf16 (A, B) and int32 or fp32 (C). Any M, K, N >= 1; edges are padded in hardware (zeros in
A and B, results outside C never written).

Schedule (R x C array; R is the K extent of a tile, C the N extent)::

    for each M block of mb = min(acc_rows, spad_rows // ceil(K / R)) rows:
        for each N tile (C columns):
            for each K tile t (R rows of B):        # one *job*
                weights B[tR:(t+1)R, n0:n0+C] -> weight bank (t parity)
                stream the block's A rows (R values of K tile t each) through the array
                accumulate-on-write into accumulator bank (N tile parity)
            write the N tile's mb x C results back to C

Overlap: the A rows of the next M block load into the other scratchpad bank while the current
block computes; the next job's weights load into the other weight bank while the current job
streams (double-buffered weights hide the R-cycle preload); the finished N tile is written back
from one accumulator bank while the next N tile accumulates into the other. A job shorter than
``min_slot`` cycles is padded with bubbles (the accumulator's read-modify-write must finish
before the next job touches the same row).

Accumulation order (bf16): see :mod:`hybridgen.golden.gemm` - column sums from row 0 down in the array
per K tile, then ``fp32_add`` of the tiles in K order on write.

Output-stationary schedule (I = ``interleave``: 1 for int8, the adder latency for bf16; a PE
computes I outputs at once, rows ``m0 + r * I + u`` of its column, u = 0 .. I - 1)::

    for each M block of mb rows (mb a multiple of R * I where possible):
        for each N tile (C columns):                   # B slab: all K rows -> weight buffer
            for each M tile (R * I rows of the block): # one *job*: ceil(K / R) * R * I cycles
                K step k takes I cycles: array row r streams A[m0 + r * I + u, k] in cycle u,
                B row k waits in the PEs; every PE keeps its I outputs in place and drains
                the previous job's results while this one computes
            write the N tile back

Each of the R * I output rows of a job has a serializer that takes R of its A values (one
scratchpad chunk) at a time; one serializer is loaded per cycle, row r's I cycles after row
r - 1's (the skew for free). The results of a job leave the array while the next job (or,
after the last, a flush) runs and are written into the accumulator bank unchanged (each OS
output is one running sum in K order, :mod:`hybridgen.golden.gemm`).

Performance counters (per GEMM, in the completion beat): ``cycles`` (descriptor accepted to
last write response), ``busy_cycles`` (cycles an A row entered the array; OS: cycles of a job's
first K steps, not its padding), bytes read and
written (row data), and every other cycle classified by what the A stream waited for:
``stall_setup`` (before the first row: address setup, first loads), ``stall_weights`` (OS:
the B slab), ``stall_a`` (A rows not yet in the scratchpad), ``stall_acc`` (accumulator bank
not yet written back), ``stall_slot`` (padding of short jobs; OS: K padding to a multiple of R
and frame alignment), ``stall_drain`` (after the last row: array latency, OS flush and
write-back). They sum to ``cycles``.

Structure (each agent a component in this package; :mod:`.gemm` only places and connects
them; :mod:`.tokens` owns every token the agents hand each other)::

    desc -> DescriptorIntake (rtl/ctrl/descriptor.py) <-> GemmSetup (setup.py) -> job
    job -> RequestArbiter (requests.py) -> ReadDma -> Fills (fills.py) -> memories
    memories -> WeightLoader (weights.py) / WsFeed (ws_feed.py) / OsFeed (os_feed.py)
            -> DataflowSwitch (switch.py) -> SystolicArray -> Accumulate (accumulate.py)
    accumulator -> WriteBack (writeback.py) -> WriteDma; CounterBank (rtl/ctrl/counters.py)
    -> the completion beat
"""

from ..layouts import (COUNTERS, DIM_BITS, Dataflow, Dtype, Error, completion_layout,
                       descriptor_layout, tag_layout)
from .gemm import GemmEngine

__all__ = ["GemmEngine", "descriptor_layout", "completion_layout", "tag_layout", "Error",
           "DIM_BITS", "Dtype", "Dataflow", "COUNTERS"]
