"""Static geometry of the GEMM engine: the array, the memories and every figure derived from
them, computed once here. :class:`hybridgen.gen.blocks.systolic.SystolicConfig` builds it; the
RTL (:mod:`hybridgen.rtl.systolic.engine`) takes it, never the configuration; the testbench
rebuilds it from the sidecar's ``derived.geometry`` (the constructor's arguments)."""

from amaranth.utils import ceil_log2

from hybridgen.rtl.mem.widths import address_bits

from .core import CoreGeometry
from .layouts import DIM_BITS, completion_layout, descriptor_layout, tag_layout

__all__ = ["EngineGeometry"]

_DTYPES = {"int8": 1, "bf16": 2}
_DATAFLOWS = ("ws", "os", "both")


class EngineGeometry:
    """Shape of a GEMM engine.

    Parameters (keyword-only, exposed as attributes)
    ----------
    rows, cols : int
        The array (R: the K extent of a WS weight tile; C: the N extent of a tile).
    dtype : str
        ``"int8"`` or ``"bf16"``.
    dataflow : str
        ``"ws"``, ``"os"`` or ``"both"``.
    adder_latency : int
        fp32 adder stages (bf16 PEs and accumulator).
    bus_bytes, addr_bits, outstanding : int
        The AXI port: data bytes per beat, address bits, bursts in flight per direction.
    acc_rows : int
        Rows of C per accumulator bank (two banks).
    spad_rows : int
        Scratchpad capacity per buffer in chunks of ``rows`` A values (two buffers).
    os_max_k : int
        Largest K of an output-stationary GEMM (sizes the weight buffer; unused for "ws").
    """

    def __init__(self, *, rows, cols, dtype, dataflow, adder_latency, bus_bytes, addr_bits,
                 outstanding, acc_rows, spad_rows, os_max_k):
        for name, value in (("rows", rows), ("cols", cols), ("adder_latency", adder_latency),
                            ("bus_bytes", bus_bytes), ("addr_bits", addr_bits),
                            ("outstanding", outstanding), ("acc_rows", acc_rows),
                            ("spad_rows", spad_rows), ("os_max_k", os_max_k)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be 'int8' or 'bf16', not {dtype!r}")
        if dataflow not in _DATAFLOWS:
            raise ValueError(f"dataflow must be 'ws', 'os' or 'both', not {dataflow!r}")
        self.rows, self.cols, self.dtype, self.dataflow = rows, cols, dtype, dataflow
        self.adder_latency, self.bus_bytes, self.addr_bits = adder_latency, bus_bytes, addr_bits
        self.outstanding, self.acc_rows, self.spad_rows = outstanding, acc_rows, spad_rows
        self.os_max_k = os_max_k

        #: bytes per operand element
        self.element_bytes = _DTYPES[dtype]
        #: the dataflows a descriptor may choose (the first is the bench's)
        self.dataflows = ["ws", "os"] if dataflow == "both" else [dataflow]
        self.has_ws, self.has_os = dataflow != "os", dataflow != "ws"
        #: the array core (PEs, skew, deskew) and its timing
        self.core = CoreGeometry(rows, cols, dtype, adder_latency=adder_latency,
                                 tag_width=tag_layout(acc_rows).size, dataflow=dataflow)
        #: WS: cycles from an A row entering the array to its result row leaving it
        self.array_latency = self.core.latency
        #: OS: cycles from a tile's first A value in row 0 to the previous tile's first result
        self.os_latency = self.core.os_latency
        #: OS: outputs each PE accumulates at once (1 for int8, the adder latency for bf16)
        self.os_interleave = self.core.interleave
        #: OS: rows of C of one job (one M tile)
        self.os_tile_rows = rows * self.os_interleave
        #: OS: most rows of an M block (acc_rows rounded down to a multiple of the M tile when
        #: at least one tile); the scratchpad may allow fewer
        tile = self.os_tile_rows
        self.os_block_rows = acc_rows - acc_rows % tile if acc_rows >= tile else acc_rows
        #: OS: cycles of the longest job (K = 2**DIM_BITS - 1)
        self.os_max_job_cycles = -(-((1 << DIM_BITS) - 1) // rows) * tile
        #: cycles a job (one weight tile) occupies the A stream at least: the accumulator's
        #: read-modify-write (read 1 + add + write 1) plus 2
        self.min_slot = 1 + (1 if dtype == "int8" else adder_latency) + 1 + 2

        #: bits of one scratchpad chunk (``rows`` A values)
        self.chunk_bits = 8 * rows * self.element_bytes
        chunk = rows * self.element_bytes
        q = 1
        while 2 * q * chunk <= bus_bytes:
            q *= 2
        #: chunks per scratchpad line (the largest power of two whose line fits one bus beat):
        #: each buffer has this many banks, one per chunk of a line
        self.line_chunks = q
        self.line_chunks_bits = ceil_log2(q)
        #: bytes per scratchpad line
        self.line_bytes = q * chunk
        #: lines per scratchpad bank
        self.spad_lines = max(1, spad_rows // q)
        #: largest K of a GEMM (a scratchpad bank holds one row of A)
        self.max_k = min(self.spad_lines * q * rows, (1 << DIM_BITS) - 1)
        #: weight buffer: two slots of R rows of B (WS) or of all K rows (OS B slab)
        self.slot_words = max(rows, os_max_k) if self.has_os else rows
        self.slot_bits = address_bits(self.slot_words)
        self.wbuf_depth = 2 << self.slot_bits
        self.wbuf_width = 8 * cols * self.element_bytes
        #: bytes of C per accumulator row (int32 / fp32 results)
        self.c_row_bytes = cols * 4

        self.scratchpad_bytes = 2 * spad_rows * rows * self.element_bytes
        self.accumulator_bytes = 2 * acc_rows * cols * 4
        self.weight_buffer_bytes = self.wbuf_depth * cols * self.element_bytes
        #: the host interface and the array's tags
        self.descriptor_layout = descriptor_layout(addr_bits)
        self.completion_layout = completion_layout()
        self.tag_layout = tag_layout(acc_rows)
        self.descriptor_words = self.descriptor_layout.size // 32

    def params(self):
        """The constructor's arguments (``EngineGeometry(**g.params())`` is ``g`` again)."""
        return {name: getattr(self, name) for name in (
            "rows", "cols", "dtype", "dataflow", "adder_latency", "bus_bytes", "addr_bits",
            "outstanding", "acc_rows", "spad_rows", "os_max_k")}

    def block_rows(self, k, dataflow):
        """Rows of an M block of a GEMM with ``k`` columns of A in ``dataflow``: as many rows
        as the scratchpad holds (``spad_lines // ceil(ceil(k / rows) / line_chunks)``), at
        most ``acc_rows`` (WS) or ``os_block_rows`` (OS). 0: K too large. (The engine's setup
        divides the same way in hardware.)"""
        kt = -(-k // self.rows)
        lines_per_row = -(-kt // self.line_chunks)
        cap = self.os_block_rows if dataflow == "os" else self.acc_rows
        return min(self.spad_lines // lines_per_row, cap)
