"""Codes, widths and payload layouts of the GEMM engine's host interface and of its agents.

The host interface (descriptor in, completion out) is what the generated register map
(``<top>_regs.json`` / ``_regs.h``, :mod:`hybridgen.gen.regmap`) documents; the rest are the
payloads the engine's agents (:mod:`hybridgen.rtl.systolic.engine`) pass to each other.
"""

from amaranth.lib import data, enum

from hybridgen.rtl.ctrl.counters import counter_layout
from hybridgen.rtl.mem.widths import address_bits
from hybridgen.rtl.ctrl.descriptor import completion_layout as _completion_layout

__all__ = ["DIM_BITS", "DTYPE_BITS", "DATAFLOW_BITS", "ERROR_BITS", "COUNTER_BITS", "Dtype",
           "Dataflow", "Error", "COUNTERS", "COUNTED", "STALL_CLASSES", "DESCRIPTOR_DOCS", "COUNTER_DOCS",
           "descriptor_layout", "completion_layout", "counters_layout", "tag_layout",
           "job_layout"]

#: Width of M, K and N in a descriptor.
DIM_BITS = 16
#: Width of the descriptor's dtype and dataflow fields.
DTYPE_BITS = 16
DATAFLOW_BITS = 32
#: Width of every performance counter and of the completion's error flags.
COUNTER_BITS = 32
ERROR_BITS = 32


class Dtype(enum.Enum, shape=DTYPE_BITS):
    """Operand type of a GEMM: int8 (C int32) or bf16 (C fp32)."""
    INT8 = 0
    BF16 = 1


class Dataflow(enum.Enum, shape=DATAFLOW_BITS):
    """Dataflow of a GEMM: weight-stationary or output-stationary."""
    WS = 0
    OS = 1


class Error(enum.Flag, shape=ERROR_BITS):
    """Error flags of the completion beat (0: the GEMM ran)."""
    DTYPE = 1        # dtype differs from the configured one
    SHAPE = 2        # M, K or N is zero
    K_TOO_LARGE = 4  # a row of A does not fit a scratchpad bank (OS: or K > os_max_k)
    DATAFLOW = 8     # the engine was not built for the dataflow


#: The performance counters, in completion order.
COUNTERS = ("cycles", "busy_cycles", "read_bytes", "write_bytes", "stall_setup",
            "stall_weights", "stall_a", "stall_acc", "stall_slot", "stall_drain")
#: The counters the engine's counter bank holds (the byte counts come from the DMA).
COUNTED = ("cycles",) + tuple(name for name in COUNTERS[1:]
                              if name not in ("read_bytes", "write_bytes"))
#: The counters that classify every counted cycle (they add up to ``cycles``).
STALL_CLASSES = ("busy_cycles", "stall_setup", "stall_weights", "stall_a", "stall_acc",
                 "stall_slot", "stall_drain")

DESCRIPTOR_DOCS = {
    "m": "rows of A and C (1..65535)", "k": "columns of A, rows of B", "n": "columns of B and C",
    "dtype": "0 int8 (C int32), 1 bf16 (C fp32); must match the configured dtype",
    "dataflow": "0 weight-stationary, 1 output-stationary; must be one the engine was built for",
    "a_addr": "byte address of A[0][0]", "b_addr": "byte address of B[0][0]",
    "c_addr": "byte address of C[0][0]", "lda": "bytes from A[i][0] to A[i+1][0]",
    "ldb": "bytes from B[i][0] to B[i+1][0]", "ldc": "bytes from C[i][0] to C[i+1][0]",
}
COUNTER_DOCS = {
    "cycles": "descriptor accepted to last write response",
    "busy_cycles": "cycles an A row entered the array",
    "read_bytes": "row bytes read (A and B)", "write_bytes": "bytes of C written",
    "stall_setup": "cycles before the first A row", "stall_weights": "waiting for weights",
    "stall_a": "waiting for A rows in the scratchpad",
    "stall_acc": "waiting for an accumulator bank to be written back",
    "stall_slot": "bubbles after jobs shorter than min_slot",
    "stall_drain": "after the last A row: array drain and write-back",
    "error": "0 ok; 1 dtype mismatch, 2 zero dimension, 4 K too large for the scratchpad "
             "(OS: or above os_max_k), 8 dataflow not built",
}


def descriptor_layout(addr_bits):
    """One GEMM: shape, dtype code (:class:`Dtype`), dataflow code (:class:`Dataflow`), base
    addresses and row strides (bytes)."""
    return data.StructLayout({
        "m": DIM_BITS, "k": DIM_BITS, "n": DIM_BITS, "dtype": Dtype, "dataflow": Dataflow,
        "a_addr": addr_bits, "b_addr": addr_bits, "c_addr": addr_bits,
        "lda": addr_bits, "ldb": addr_bits, "ldc": addr_bits,
    })


def counters_layout():
    """The performance counters (:data:`COUNTERS` order, :data:`COUNTER_BITS` each)."""
    return counter_layout(COUNTERS, COUNTER_BITS)


def completion_layout():
    """Counters (:data:`COUNTERS` order) and the error flags (:class:`Error`)."""
    return _completion_layout(counters_layout(), Error)


def tag_layout(acc_rows):
    """What travels with an A row (WS) or announces a result row (OS) through the array:
    accumulator ``row`` and ``bank``, ``first`` (write, do not add), ``last`` (the row's final
    value), ``write`` (OS: the row is inside C) and ``end`` (OS: a job's last result)."""
    return data.StructLayout({"row": address_bits(acc_rows), "bank": 1, "first": 1,
                              "last": 1, "write": 1, "end": 1})


def job_layout(row_bits):
    """OS: a job whose results are in the array: ``valid``, first row ``m_sub`` of its M tile
    within the block, the block's ``rows`` and the accumulator ``bank``."""
    return data.StructLayout({"valid": 1, "m_sub": row_bits, "rows": row_bits, "bank": 1})
