"""The GEMM engine: ``C = A @ B`` from off-package memory, on a systolic array that is
weight-stationary (WS), output-stationary (OS) or both (the descriptor chooses per GEMM).

Host interface: a descriptor stream ``desc`` (one GEMM per beat, :data:`descriptor_layout`) and
a completion stream ``done`` (one beat per GEMM: performance counters and an error code,
:data:`completion_layout`). Memory: one AXI4 master port ``m_axi`` (:mod:`.axi`, :mod:`.dma`).

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
"""

from amaranth.hdl import Cat, ClockSignal, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.fp32 import Fp32Add

from .array import SystolicArray
from ..mem.axi import axi_signature
from .core import CoreGeometry, delay_verilog
from ..mem.dma import ROW_BYTES_BITS, ReadDma, WriteDma
from .feeder import feeder_verilog
from .pe import ACC_WIDTH
from .sram import Sram

__all__ = ["GemmEngine", "descriptor_layout", "completion_layout", "tag_layout", "ERRORS",
           "DIM_BITS", "DTYPE_CODES", "DATAFLOW_CODES"]

#: Width of M, K and N in a descriptor.
DIM_BITS = 16
DTYPE_CODES = {"int8": 0, "bf16": 1}
DATAFLOW_CODES = {"ws": 0, "os": 1}
#: Error codes of the completion beat (bit flags).
ERRORS = {"dtype": 1, "shape": 2, "k_too_large": 4, "dataflow": 8}
COUNTERS = ("cycles", "busy_cycles", "read_bytes", "write_bytes", "stall_setup",
            "stall_weights", "stall_a", "stall_acc", "stall_slot", "stall_drain")


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
    """One GEMM: shape, dtype code (0 int8, 1 bf16), dataflow code (0 WS, 1 OS), base
    addresses and row strides (bytes)."""
    return data.StructLayout({
        "m": DIM_BITS, "k": DIM_BITS, "n": DIM_BITS, "dtype": DIM_BITS, "dataflow": 32,
        "a_addr": addr_bits, "b_addr": addr_bits, "c_addr": addr_bits,
        "lda": addr_bits, "ldb": addr_bits, "ldc": addr_bits,
    })


def completion_layout():
    """Counters (32 bits each, :data:`COUNTERS` order) and the error flags (:data:`ERRORS`)."""
    return data.StructLayout({**{name: 32 for name in COUNTERS}, "error": 32})


def tag_layout(acc_rows):
    """What travels with an A row (WS) or announces a result row (OS) through the array:
    accumulator ``row`` and ``bank``, ``first`` (write, do not add), ``last`` (the row's final
    value), ``write`` (OS: the row is inside C) and ``end`` (OS: a job's last result)."""
    return data.StructLayout({"row": (acc_rows - 1).bit_length() or 1, "bank": 1, "first": 1,
                              "last": 1, "write": 1, "end": 1})


def scratchpad_geometry(config):
    """``(q, line_bytes, lines)``: chunks of ``rows`` A values per scratchpad line (the largest
    power of two whose line fits one bus beat, at least 1), bytes per line, and lines per
    bank (each of the two buffers has ``q`` banks, one per chunk of a line)."""
    chunk = config.rows * config.element_bytes
    q = 1
    while 2 * q * chunk <= config.bus_bits // 8:
        q *= 2
    return q, q * chunk, max(1, config.spad_rows // q)


def _min(a, b):
    return Mux(a < b, a, b)


def _count_first(m, counters, cases):
    """Statements (under the caller's ``m.If``) that add one to the counter of the first
    ``(condition, name)`` of ``cases`` whose condition holds (the last one should be 1)."""
    condition, name = cases[0]
    with m.If(condition):
        m.d.sync += counters[name].eq(counters[name] + 1)
    for condition, name in cases[1:]:
        with m.Elif(condition):
            m.d.sync += counters[name].eq(counters[name] + 1)


def _next_chunk(m, t_base, t_sub, q, mb):
    """Statements (under the caller's ``m.If``) that move a scratchpad position from chunk t
    to chunk t + 1: bank ``t_sub = t mod q``, line base ``t_base = (t // q) * mb`` (line l of
    a block's row i is at ``l * mb + i``). Only the registers that change are assigned."""
    if q == 1:
        m.d.sync += t_base.eq(t_base + mb)
    else:
        m.d.sync += t_sub.eq(t_sub + 1)
        with m.If(t_sub == q - 1):
            m.d.sync += t_base.eq(t_base + mb)


class _Cursor:
    """Position in the job sequence (M block -> N tile -> K tile), one per agent. A K tile is
    ``kstep`` rows (WS: R; OS: all of K), an N tile ``cols`` columns.

    ``rows`` (rows of the current M block), ``nvalid`` (columns of the N tile), ``kvalid``
    (rows of the K tile) and the ``last_*`` flags are combinational; :meth:`advance_job`
    returns the statements that move to the next job.
    """

    def __init__(self, name, dims, kstep, cols):
        self.m_left = Signal(DIM_BITS + 1, name=f"{name}_m_left")
        self.n_left = Signal(DIM_BITS + 1, name=f"{name}_n_left")
        self.k_left = Signal(DIM_BITS + 1, name=f"{name}_k_left")
        self.parity = Signal(name=f"{name}_parity")        # job parity (weight bank)
        self.n_parity = Signal(name=f"{name}_n_parity")    # N tile parity (accumulator bank)
        self.m_parity = Signal(name=f"{name}_m_parity")    # M block parity (scratchpad bank)
        self.done = Signal(name=f"{name}_done")
        self._dims, self._kstep, self._cols = dims, kstep, cols
        self.rows = _min(self.m_left, dims["mb"])
        self.nvalid = _min(self.n_left, cols)
        self.kvalid = _min(self.k_left, kstep)
        self.last_k = self.k_left <= kstep
        self.last_n = self.n_left <= cols
        self.last_m = self.m_left <= dims["mb"]
        self.first_k = self.k_left == dims["k"]

    def reset(self):
        d = self._dims
        return [self.m_left.eq(d["m"]), self.n_left.eq(d["n"]), self.k_left.eq(d["k"]),
                self.parity.eq(0), self.n_parity.eq(0), self.m_parity.eq(0), self.done.eq(0)]

    def step(self, m):
        """Move to the next job (under the caller's ``m.If``): next K tile; after the last,
        the next N tile; after the last, the next M block; after the last, ``done``."""
        R, C, d = self._kstep, self._cols, self._dims
        m.d.sync += self.parity.eq(~self.parity)
        with m.If(~self.last_k):
            m.d.sync += self.k_left.eq(self.k_left - R)
        with m.Else():
            m.d.sync += [self.k_left.eq(d["k"]), self.n_parity.eq(~self.n_parity)]
            with m.If(~self.last_n):
                m.d.sync += self.n_left.eq(self.n_left - C)
            with m.Else():
                m.d.sync += [self.n_left.eq(d["n"]), self.m_parity.eq(~self.m_parity)]
                with m.If(~self.last_m):
                    m.d.sync += self.m_left.eq(self.m_left - d["mb"])
                with m.Else():
                    m.d.sync += self.done.eq(1)


class GemmEngine(wiring.Component):
    """See the module docstring. Built from a :class:`hybridgen.gen.blocks.systolic.SystolicConfig`."""

    def __init__(self, library, config):
        self.config = config
        self._library = library
        self.geometry = CoreGeometry(config.rows, config.cols, config.dtype,
                                     adder_latency=config.adder_latency,
                                     tag_width=self._tag_width(config),
                                     dataflow=config.dataflow)
        super().__init__({
            "desc": In(stream.Signature(descriptor_layout(config.addr_bits))),
            "done": Out(stream.Signature(completion_layout())),
            "m_axi": Out(axi_signature(config.addr_bits, config.bus_bits)),
        })

    @staticmethod
    def _tag_width(config):
        return tag_layout(config.acc_rows).size

    @property
    def min_slot(self):
        """Cycles a job occupies the A stream at least (:attr:`SystolicConfig.min_slot`)."""
        return self.config.min_slot

    def elaborate(self, platform):
        m = Module()
        cfg, g = self.config, self.geometry
        R, C, es = cfg.rows, cfg.cols, cfg.element_bytes
        bus = cfg.bus_bits // 8
        acc_rows = cfg.acc_rows

        m.submodules.array = array = SystolicArray(self._library, g)
        q, line_bytes, spad_lines = scratchpad_geometry(cfg)
        q_bits = q.bit_length() - 1
        m.submodules.reader = reader = ReadDma(addr_bits=cfg.addr_bits, bus_bytes=bus,
                                               chunk_bytes=(line_bytes, C * es),
                                               outstanding=cfg.outstanding)
        m.submodules.writer = writer = WriteDma(addr_bits=cfg.addr_bits, bus_bytes=bus,
                                                row_bytes=C * 4, outstanding=cfg.outstanding)
        for name, member in self.m_axi.signature.members.items():
            port = getattr(self.m_axi, name)
            side = reader.axi if name.startswith(("ar", "r")) else writer.axi
            if member.flow == Out:
                m.d.comb += port.eq(getattr(side, name))
            else:
                m.d.comb += getattr(side, name).eq(port)

        # -- descriptor, setup and the top-level state -------------------------------------
        d = Signal(descriptor_layout(cfg.addr_bits))
        kt = Signal(DIM_BITS + 1)
        lines_per_row = Signal(DIM_BITS + 1)  # ceil(kt / q)
        mb = Signal(range(acc_rows + 1))
        merge = Signal()  # A is dense and line-aligned: one request covers several rows
        merge_rows = Signal(range(acc_rows + 1))  # rows per request (requests <= 16 beats)
        error = Signal(32)
        running = Signal()
        # the dataflow of the current GEMM (a constant unless the engine is built for both)
        os_mode = Signal(init=int(cfg.dataflow == "os"))
        supported = [DATAFLOW_CODES[name] for name in cfg.dataflows]
        # K extent of a job (WS: a K tile; OS: all of K), for the cursors
        kstep = Mux(os_mode, d.k, R) if g.has_os else R
        # OS: M blocks of a multiple of R * I rows where possible (every job has R * I rows)
        os_mb_cap = cfg.os_block_rows if g.has_os else acc_rows
        counters = {name: Signal(32, name=f"count_{name}") for name in COUNTERS}
        dims = {"m": d.m, "n": d.n, "k": d.k, "mb": mb}
        # restoring divider, used for ceil(K / R) then spad_lines // ceil(kt / q)
        num, den, quo = Signal(DIM_BITS + 2), Signal(DIM_BITS + 2), Signal(DIM_BITS + 2)
        rem = Signal(DIM_BITS + 3)
        step = Signal(range(DIM_BITS + 3))
        writer_done = Signal()
        finishing = Signal()  # every result written and acknowledged
        start = Signal()  # one cycle: reset every agent's cursor

        num_bits = DIM_BITS + 2
        mb_steps = spad_lines.bit_length()

        def setup_mb(kt_value):
            """Statements: kt, lines per row, and the division spad_lines // lines per row
            (``mb_steps`` steps: the numerator is a constant of that many bits)."""
            lpr = (kt_value + q - 1) >> q_bits
            return [kt.eq(kt_value), lines_per_row.eq(lpr),
                    num.eq(spad_lines << (num_bits - mb_steps)), den.eq(lpr), quo.eq(0),
                    rem.eq(0), step.eq(mb_steps)]

        with m.FSM(name="control"):
            with m.State("IDLE"):
                m.d.comb += self.desc.ready.eq(1)
                with m.If(self.desc.valid):
                    p = self.desc.payload
                    m.d.sync += [d.eq(p), error.eq(0)]
                    if cfg.dataflow == "both":
                        m.d.sync += os_mode.eq(p.dataflow[0])
                    m.d.sync += [c.eq(0) for c in counters.values()]
                    with m.If((p.m == 0) | (p.k == 0) | (p.n == 0)):
                        m.d.sync += error.eq(ERRORS["shape"])
                        m.next = "DONE"
                    with m.Elif(p.dtype != DTYPE_CODES[cfg.dtype]):
                        m.d.sync += error.eq(ERRORS["dtype"])
                        m.next = "DONE"
                    with m.Elif(~Cat(*[p.dataflow == code for code in supported]).any()):
                        m.d.sync += error.eq(ERRORS["dataflow"])
                        m.next = "DONE"
                    with m.Else():
                        if R & (R - 1) == 0:  # ceil(K / R) is a shift
                            m.d.sync += setup_mb((p.k + R - 1) >> (R.bit_length() - 1))
                            m.next = "DIV_MB"
                        else:  # divide K + R - 1 (DIM_BITS + 1 bits, MSB-aligned) by R
                            m.d.sync += [num.eq((p.k + R - 1) << (num_bits - DIM_BITS - 1)),
                                         den.eq(R), quo.eq(0), rem.eq(0),
                                         step.eq(DIM_BITS + 1)]
                            m.next = "DIV_KT"
            for state, then in (("DIV_KT", "DIV_MB"), ("DIV_MB", "CHECK")):
                with m.State(state):
                    m.d.sync += counters["cycles"].eq(counters["cycles"] + 1)
                    m.d.sync += counters["stall_setup"].eq(counters["stall_setup"] + 1)
                    trial = Cat(num[-1], rem[:-1])
                    with m.If(step != 0):
                        m.d.sync += [step.eq(step - 1), num.eq(num << 1)]
                        with m.If(trial >= den):
                            m.d.sync += [rem.eq(trial - den), quo.eq(Cat(1, quo[:-1]))]
                        with m.Else():
                            m.d.sync += [rem.eq(trial), quo.eq(Cat(0, quo[:-1]))]
                    with m.Else():
                        if state == "DIV_KT":
                            m.d.sync += setup_mb(quo)
                        else:
                            cap = Mux(os_mode, os_mb_cap, acc_rows) if g.has_os else acc_rows
                            m.d.sync += mb.eq(_min(quo, cap))
                        m.next = then
            with m.State("CHECK"):
                m.d.sync += counters["cycles"].eq(counters["cycles"] + 1)
                m.d.sync += counters["stall_setup"].eq(counters["stall_setup"] + 1)
                too_large = (mb == 0) | (os_mode & (d.k > cfg.os_max_k)) if g.has_os else mb == 0
                with m.If(too_large):
                    m.d.sync += error.eq(ERRORS["k_too_large"])
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += merge.eq((d.lda == d.k * es) & (kt * R == d.k)
                                         & ((kt & (q - 1)) == 0))
                    # as many rows per request as fit 16 beats (a power of two), so that B
                    # rows for the next job never wait long behind a request of A rows
                    m.d.sync += merge_rows.eq(1)
                    for shift in range(1, acc_rows.bit_length()):
                        with m.If(((d.k * es) << shift) <= 16 * bus):
                            m.d.sync += merge_rows.eq(1 << shift)
                    m.d.comb += start.eq(1)
                    m.d.sync += running.eq(1)
                    m.next = "RUN"
            with m.State("RUN"):
                # the cycle after the last write response is not counted
                with m.If(finishing):
                    m.d.sync += running.eq(0)
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += counters["cycles"].eq(counters["cycles"] + 1)
            with m.State("DONE"):
                m.d.comb += self.done.valid.eq(1)
                with m.If(self.done.ready):
                    m.next = "IDLE"
        for name, counter in counters.items():
            if name == "read_bytes":
                m.d.comb += self.done.payload.read_bytes.eq(reader.read_bytes)
            elif name == "write_bytes":
                m.d.comb += self.done.payload.write_bytes.eq(writer.written_bytes)
            else:
                m.d.comb += getattr(self.done.payload, name).eq(counter)
        m.d.comb += [self.done.payload.error.eq(error), reader.clear.eq(start),
                     writer.clear.eq(start)]

        # -- shared tokens between the agents ----------------------------------------------
        spad_free = Signal(2, init=0b11)      # scratchpad bank may take a new M block
        rows_loaded = [Signal(range(acc_rows + 1), name=f"rows_loaded{i}") for i in range(2)]
        slot_full = Signal(2)                 # weight buffer slot holds a job's B rows
        slot_rows = Signal(2 * (DIM_BITS + 1))
        bank_free = Signal(2, init=0b11)      # weight bank may be overwritten
        bank_loaded = Signal(2)               # weight bank holds the next job's tile
        drain = [Signal(range(g.latency + 4), name=f"drain{i}") for i in range(2)]
        acc_free = Signal(2, init=0b11)       # accumulator bank may take a new N tile
        # rows of the N tile in each accumulator bank whose final value is written
        final_rows = [Signal(range(acc_rows + 1), name=f"final_rows{i}") for i in range(2)]
        # OS: rows of the N tile below which every result is written (results of a job arrive
        # in any order; at the end of a job's results all rows up to its last are in)
        os_final = [Signal(range(acc_rows + 1), name=f"os_final{i}") for i in range(2)]
        with m.If(start):
            m.d.sync += [spad_free.eq(0b11), slot_full.eq(0), bank_free.eq(0b11),
                         bank_loaded.eq(0), acc_free.eq(0b11), final_rows[0].eq(0),
                         final_rows[1].eq(0), os_final[0].eq(0), os_final[1].eq(0),
                         rows_loaded[0].eq(0), rows_loaded[1].eq(0)]

        # -- memories --------------------------------------------------------------------
        # scratchpad: two buffers (M block parity) x q banks (chunk index within a line)
        spads = [[Sram(m, self._library, f"spad{i}_{j}", width=8 * R * es, depth=spad_lines)
                  for j in range(q)] for i in range(2)]
        accs = [Sram(m, self._library, f"acc{i}", width=C * ACC_WIDTH, depth=acc_rows, reads=2)
                for i in range(2)]
        # weight buffer: two slots of R rows of B (WS) or of all K rows (OS B slab)
        slot_words = max(R, cfg.os_max_k) if g.has_os else R
        wb_bits = max(1, (slot_words - 1).bit_length())
        wbuf = Sram(m, self._library, "wbuf", width=8 * C * es, depth=2 << wb_bits)
        spad_w = [[mem.write for mem in banks] for banks in spads]
        spad_r = [[mem.reads[0] for mem in banks] for banks in spads]
        acc_w = [mem.write for mem in accs]
        acc_r = [mem.reads[0] for mem in accs]      # read-modify-write
        acc_wb = [mem.reads[1] for mem in accs]     # write-back
        wbuf_w, wbuf_r = wbuf.write, wbuf.reads[0]

        # the job whose B rows are consumed next: the weight loader's (WS, agent 3) or the
        # OS feed's (agent 4b)
        load = _Cursor("load", dims, kstep, C)
        ofeed = _Cursor("ofeed", dims, kstep, C)
        consumer = Mux(os_mode, ofeed.parity, load.parity)

        # -- agent 1: requests (B rows the loader waits for, A rows, B rows ahead) ----------
        fetch_b = _Cursor("fetch_b", dims, kstep, C)
        b_row = Signal(DIM_BITS + 1)
        b_kbase = Signal(cfg.addr_bits)       # address of B row t*R
        b_noff = Signal(cfg.addr_bits)        # byte offset of column n0
        b_ptr = Signal(cfg.addr_bits)
        a_left = Signal(DIM_BITS + 1)         # rows of A not yet requested
        a_row = Signal(range(acc_rows + 1))   # row within the block
        a_parity = Signal()
        a_ptr = Signal(cfg.addr_bits)
        a_rows = _min(a_left, mb)
        row_done = Signal()                   # a whole row of A reached the scratchpad
        want_b = running & ~fetch_b.done & ~slot_full.bit_select(fetch_b.parity, 1)
        b_slot_busy = Signal(2)               # slot claimed by the fetcher, not yet loaded
        want_b = want_b & ~b_slot_busy.bit_select(fetch_b.parity, 1)
        # A rows requested and not yet in the scratchpad: capped (4 requests of A when merged,
        # else 16 rows) so that the next job's B rows never queue behind much A traffic
        a_pending = Signal(range(4 * acc_rows + 17))
        a_limit = Mux(merge, merge_rows << 2, 16)
        want_a = (running & (a_left != 0) & ((a_row != 0) | spad_free.bit_select(a_parity, 1))
                  & (a_pending < a_limit))
        req = reader.req
        # a request offered and not yet accepted keeps its choice (stream rules)
        holding, held_b = Signal(), Signal()
        pick_b = Signal()
        # B rows the loader waits for come first, then A rows, then B rows of the job after
        b_urgent = fetch_b.parity == consumer
        m.d.comb += pick_b.eq(Mux(holding, held_b, want_b & (b_urgent | ~want_a)))
        m.d.sync += [holding.eq(req.valid & ~req.ready & ~start), held_b.eq(pick_b)]
        a_req_rows = Signal(range(acc_rows + 1))
        m.d.comb += a_req_rows.eq(Mux(merge, _min(a_rows - a_row, merge_rows), 1))
        a_req_bytes = Signal(ROW_BYTES_BITS)
        m.d.comb += a_req_bytes.eq(a_req_rows * d.k * es)
        with m.If(pick_b):
            m.d.comb += [req.valid.eq(1), req.payload.addr.eq(Mux(b_row == 0,
                                                                  b_kbase + b_noff, b_ptr)),
                         req.payload.nbytes.eq(fetch_b.nvalid * es), req.payload.kind.eq(1)]
        with m.Elif(want_a):
            m.d.comb += [req.valid.eq(1), req.payload.addr.eq(a_ptr),
                         req.payload.nbytes.eq(a_req_bytes),
                         req.payload.kind.eq(0)]
        with m.If(start):
            m.d.sync += fetch_b.reset() + [b_row.eq(0), b_kbase.eq(d.b_addr), b_noff.eq(0),
                                           a_left.eq(d.m), a_row.eq(0), a_parity.eq(0),
                                           a_ptr.eq(d.a_addr), b_slot_busy.eq(0),
                                           a_pending.eq(0)]
        with m.Elif(req.valid & req.ready):
            with m.If(pick_b):
                cur = Mux(b_row == 0, b_kbase + b_noff, b_ptr)
                m.d.sync += b_ptr.eq(cur + d.ldb)
                with m.If(b_row == fetch_b.kvalid - 1):
                    m.d.sync += b_row.eq(0)
                    m.d.sync += b_slot_busy.bit_select(fetch_b.parity, 1).eq(1)
                    fetch_b.step(m)
                    with m.If(~fetch_b.last_k):
                        m.d.sync += b_kbase.eq(b_kbase + R * d.ldb)
                    with m.Else():
                        m.d.sync += b_kbase.eq(d.b_addr)
                        with m.If(~fetch_b.last_n):
                            m.d.sync += b_noff.eq(b_noff + C * es)
                        with m.Else():
                            m.d.sync += b_noff.eq(0)
                with m.Else():
                    m.d.sync += b_row.eq(b_row + 1)
            with m.Else():
                m.d.sync += a_ptr.eq(a_ptr + Mux(merge, a_req_bytes, d.lda))
                with m.If(a_row == 0):
                    m.d.sync += spad_free.bit_select(a_parity, 1).eq(0)
                with m.If(a_row + a_req_rows == a_rows):
                    m.d.sync += [a_row.eq(0), a_parity.eq(~a_parity),
                                 a_left.eq(a_left - a_rows)]
                with m.Else():
                    m.d.sync += a_row.eq(a_row + a_req_rows)

        a_accept = req.valid & req.ready & ~pick_b
        with m.If(~start):
            m.d.sync += a_pending.eq(a_pending + Mux(a_accept, a_req_rows, 0) - row_done)

        # -- agent 2: chunks from the reader into the scratchpad and the weight buffer ------
        chunk = reader.o
        m.d.comb += chunk.ready.eq(1)
        fill_b = _Cursor("fill_b", dims, kstep, C)
        wb_row = Signal(DIM_BITS + 1)           # row of B within the job (a word of its slot)
        fill_a_left = Signal(DIM_BITS + 1)
        fill_a_row = Signal(range(acc_rows + 1))
        fill_a_addr = Signal(range(spad_lines + 1))  # line l of row i: l * mb + i
        fill_line = Signal(DIM_BITS + 1)
        fill_a_parity = Signal()
        fill_a_rows = _min(fill_a_left, mb)
        with m.If(start):
            m.d.sync += fill_b.reset() + [wb_row.eq(0), fill_a_left.eq(d.m), fill_a_row.eq(0),
                                          fill_a_addr.eq(0), fill_a_parity.eq(0),
                                          fill_line.eq(0)]
        chunk_bits = 8 * R * es
        m.d.comb += row_done.eq(chunk.valid & (chunk.payload.kind == 0)
                                & (fill_line == lines_per_row - 1))
        for i in range(2):
            for j in range(q):
                # chunks of a line beyond K are zeros and never read
                m.d.comb += [spad_w[i][j].addr.eq(fill_a_addr),
                             spad_w[i][j].data.eq(chunk.payload.data[j * chunk_bits:
                                                                     (j + 1) * chunk_bits]),
                             spad_w[i][j].en.eq(chunk.valid & (chunk.payload.kind == 0)
                                                & (fill_a_parity == i))]
        wb_word = Signal(wb_bits)
        m.d.comb += wb_word.eq(wb_row)
        m.d.comb += [wbuf_w.addr.eq(Cat(wb_word, fill_b.parity)),
                     wbuf_w.data.eq(chunk.payload.data),
                     wbuf_w.en.eq(chunk.valid & (chunk.payload.kind == 1))]
        with m.If(chunk.valid & (chunk.payload.kind == 0)):
            with m.If(fill_line == lines_per_row - 1):
                m.d.sync += fill_line.eq(0)
                for i in range(2):
                    with m.If(fill_a_parity == i):
                        m.d.sync += rows_loaded[i].eq(rows_loaded[i] + 1)
                with m.If(fill_a_row == fill_a_rows - 1):
                    m.d.sync += [fill_a_row.eq(0), fill_a_addr.eq(0),
                                 fill_a_parity.eq(~fill_a_parity),
                                 fill_a_left.eq(fill_a_left - fill_a_rows)]
                with m.Else():
                    m.d.sync += [fill_a_row.eq(fill_a_row + 1), fill_a_addr.eq(fill_a_row + 1)]
            with m.Else():
                m.d.sync += [fill_a_addr.eq(fill_a_addr + mb), fill_line.eq(fill_line + 1)]
        with m.If(chunk.valid & (chunk.payload.kind == 1)):
            with m.If(wb_row == fill_b.kvalid - 1):
                m.d.sync += [wb_row.eq(0), slot_full.bit_select(fill_b.parity, 1).eq(1)]
                m.d.sync += slot_rows.word_select(fill_b.parity, DIM_BITS + 1).eq(fill_b.kvalid)
                fill_b.step(m)
            with m.Else():
                m.d.sync += wb_row.eq(wb_row + 1)

        # -- agent 3: weight loader (bank = job parity), rows R-1 .. 0 ------------------------
        shift = Signal(range(R + 1))
        loading = Signal()
        kvalid_l = slot_rows.word_select(load.parity, DIM_BITS + 1)
        w_valid, w_zero, w_bank, w_final = Signal(), Signal(), Signal(), Signal()
        with m.If(start):
            m.d.sync += load.reset() + [shift.eq(0), loading.eq(0)]
        can_load = (running & ~os_mode & ~load.done & bank_free.bit_select(load.parity, 1)
                    & slot_full.bit_select(load.parity, 1))
        row_index = Signal(wb_bits)  # mesh row being loaded
        m.d.comb += row_index.eq(R - 1 - shift)
        with m.If(~os_mode):
            m.d.comb += wbuf_r.addr.eq(Cat(row_index, load.parity))
        m.d.sync += [w_valid.eq(0), w_final.eq(0)]
        with m.If(can_load | loading):
            m.d.sync += [w_valid.eq(1), w_zero.eq(row_index >= kvalid_l), w_bank.eq(load.parity),
                         shift.eq(shift + 1), loading.eq(1)]
            with m.If(shift == R - 1):
                m.d.sync += [shift.eq(0), loading.eq(0), w_final.eq(1)]
                m.d.sync += bank_free.bit_select(load.parity, 1).eq(0)
                m.d.sync += slot_full.bit_select(load.parity, 1).eq(0)
                m.d.sync += b_slot_busy.bit_select(load.parity, 1).eq(0)
                load.step(m)
        ws_w_data = Signal(8 * C * es)
        m.d.comb += ws_w_data.eq(Mux(w_zero, 0, wbuf_r.data))
        ws_drive = {"w.valid": w_valid, "w.bank": w_bank, "w.data": ws_w_data}
        with m.If(w_final):
            m.d.sync += bank_loaded.bit_select(w_bank, 1).eq(1)

        # -- agent 4: the A stream (scratchpad -> array) -------------------------------------
        feed = _Cursor("feed", dims, kstep, C)
        row = Signal(range(acc_rows + 1))
        slot = Signal(range(self.min_slot + 1))
        t_base = Signal(range(spad_lines + 1))   # (t // q) * mb
        t_sub = Signal(range(q))                 # t % q: the bank of chunk t
        n_claimed = Signal()
        with m.If(start):
            m.d.sync += feed.reset() + [row.eq(0), slot.eq(0), t_base.eq(0), t_sub.eq(0),
                                        n_claimed.eq(0)]
        have_bank = bank_loaded.bit_select(feed.parity, 1)
        have_row = Mux(feed.m_parity, rows_loaded[1] > row, rows_loaded[0] > row)
        have_acc = n_claimed | acc_free.bit_select(feed.n_parity, 1)
        in_rows = row < feed.rows
        issue = running & ~os_mode & ~feed.done & in_rows & have_bank & have_row & have_acc
        with m.If(~os_mode):
            for i in range(2):
                for j in range(q):
                    m.d.comb += spad_r[i][j].addr.eq(t_base + row)
        a_valid, a_parity_r, a_tag = Signal(), Signal(), Signal(self._tag_width(cfg))
        tags = tag_layout(acc_rows)
        tag = Signal(tags)
        m.d.comb += [tag.row.eq(row), tag.bank.eq(feed.n_parity), tag.first.eq(feed.first_k),
                     tag.last.eq(feed.last_k), tag.write.eq(1)]
        m.d.sync += [a_valid.eq(issue), a_parity_r.eq(feed.parity), a_tag.eq(tag.as_value())]
        spad_parity_r, t_sub_r = Signal(), Signal.like(t_sub)
        m.d.sync += [spad_parity_r.eq(feed.m_parity), t_sub_r.eq(t_sub)]
        spad_data = Signal(8 * R * es)
        for i in range(2):
            for j in range(q):
                with m.If((spad_parity_r == i) & (t_sub_r == j)):
                    m.d.comb += spad_data.eq(spad_r[i][j].data)
        ws_drive.update({"a.valid": a_valid, "a.sel": a_parity_r.replicate(R), "a.tag": a_tag,
                         "a.data": spad_data})
        with m.If(issue):
            m.d.sync += row.eq(row + 1)
            with m.If(~n_claimed):
                m.d.sync += [n_claimed.eq(1),
                             acc_free.bit_select(feed.n_parity, 1).eq(0)]
        # Row i of the next job must enter >= min_slot cycles after row i of this job. Rows
        # enter at most one per cycle, so it suffices that the next job's first row comes
        # max(1, min_slot - rows + 1) cycles after this job's last row: a job of at least
        # min_slot rows ends with its last row, a shorter one after `slot` bubbles.
        with m.If(issue):
            m.d.sync += slot.eq(1)
        with m.Elif(running & ~os_mode & ~feed.done & ~in_rows & (slot != self.min_slot)):
            m.d.sync += slot.eq(slot + 1)
        last_issue = issue & (row == feed.rows - 1) & (feed.rows >= self.min_slot)
        job_end = (running & ~os_mode & ~feed.done & ~in_rows
                   & (slot + feed.rows >= self.min_slot)) | last_issue
        with m.If(job_end):
            m.d.sync += row.eq(0)
            m.d.sync += bank_loaded.bit_select(feed.parity, 1).eq(0)
            # (assign only the register that changes: a no-op assignment to the other one
            # would override its own update made elsewhere in this cycle)
            with m.If(~feed.last_k):
                _next_chunk(m, t_base, t_sub, q, mb)
            with m.Else():
                m.d.sync += [t_base.eq(0), t_sub.eq(0), n_claimed.eq(0)]
                with m.If(feed.last_n):
                    m.d.sync += spad_free.bit_select(feed.m_parity, 1).eq(1)
                    for i in range(2):
                        with m.If(feed.m_parity == i):
                            m.d.sync += rows_loaded[i].eq(0)
            feed.step(m)
        for i in range(2):
            with m.If(job_end & (feed.parity == i)):
                m.d.sync += drain[i].eq(g.latency + 3)
            with m.Elif(drain[i] != 0):
                m.d.sync += drain[i].eq(drain[i] - 1)
                with m.If(drain[i] == 1):
                    m.d.sync += bank_free.bit_select(i, 1).eq(1)

        # stall classification (one counter per counted cycle of RUN)
        m.d.comb += finishing.eq(writer_done & writer.idle)
        with m.If(running & ~os_mode & ~finishing):
            _count_first(m, counters, [
                (issue, "busy_cycles"), (feed.done, "stall_drain"), (~in_rows, "stall_slot"),
                (counters["busy_cycles"] == 0, "stall_setup"), (~have_bank, "stall_weights"),
                (~have_row, "stall_a"), (1, "stall_acc")])

        # -- agent 4b: the output-stationary stream (scratchpad, weight buffer -> array) -----
        # (each agent names what it drives into the array; wide values are chosen with Mux,
        # not with m.If: a wide signal assigned under conditions makes Amaranth's netlist
        # checks slow)
        if g.has_os:
            os_drive = self._os_feed(m, locals())
            drive = os_drive if not g.has_ws else {
                key: Mux(os_mode, os_drive[key], ws_value) for key, ws_value in ws_drive.items()}
        else:
            drive = ws_drive
        if g.dataflow == "both":
            m.d.comb += array.os.eq(os_mode)
        for port, payload in (("a", array.a), ("w", array.w)):
            m.d.comb += payload.valid.eq(drive[f"{port}.valid"])
            for name in ("sel", "tag", "data", "bank"):
                if f"{port}.{name}" in drive:
                    field = getattr(payload.payload, name)
                    m.d.comb += field.eq(drive[f"{port}.{name}"])

        # -- agent 5: accumulate on write ----------------------------------------------------
        out = array.o
        m.d.comb += out.ready.eq(1)
        out_tag = data.View(tags, out.payload.tag)
        s1_valid, s1_data = Signal(), Signal(C * ACC_WIDTH)
        s1_tag = Signal(tags)
        m.d.sync += [s1_valid.eq(out.valid), s1_data.eq(out.payload.data.as_value()),
                     s1_tag.eq(out_tag)]
        for i in range(2):
            m.d.comb += acc_r[i].addr.eq(out_tag.row)
        # (named: an unnamed wide Mux is emitted again for every slice taken of it)
        old = Signal(C * ACC_WIDTH)
        m.d.comb += old.eq(Mux(s1_tag.bank, acc_r[1].data, acc_r[0].data))
        if cfg.dtype == "int8":
            total = Cat(*[(old[c * 32:(c + 1) * 32] + s1_data[c * 32:(c + 1) * 32])[:32]
                          for c in range(C)])
            s2_valid, s2_data, s2_tag = Signal(), Signal(C * ACC_WIDTH), Signal(tags)
            m.d.sync += [s2_valid.eq(s1_valid), s2_tag.eq(s1_tag),
                         s2_data.eq(Mux(s1_tag.first, s1_data, total))]
        else:
            sums = []
            for c in range(C):
                # one fp32 adder module, converted once, placed C times
                adder = self._library.instantiate(
                    m, f"acc_add{c}", f"fp32_add_l{cfg.adder_latency}",
                    lambda: Fp32Add(latency=cfg.adder_latency))
                m.d.comb += [adder.en.eq(1), adder.a.eq(old[c * 32:(c + 1) * 32]),
                             adder.b.eq(s1_data[c * 32:(c + 1) * 32])]
                sums.append(adder.o)
            s2_valid, s2_first, s2_tag, s2_partial = s1_valid, s1_tag.first, s1_tag, s1_data
            for stage in range(cfg.adder_latency):
                v, f = Signal(name=f"rmw_v{stage}"), Signal(name=f"rmw_f{stage}")
                t_ = Signal(tags, name=f"rmw_t{stage}")
                p_ = Signal(C * ACC_WIDTH, name=f"rmw_p{stage}")
                m.d.sync += [v.eq(s2_valid), f.eq(s2_first), t_.eq(s2_tag), p_.eq(s2_partial)]
                s2_valid, s2_first, s2_tag, s2_partial = v, f, t_, p_
            s2_data = Signal(C * ACC_WIDTH)
            m.d.comb += s2_data.eq(Mux(s2_first, s2_partial, Cat(*sums)))
        for i in range(2):
            m.d.comb += [acc_w[i].addr.eq(s2_tag.row), acc_w[i].data.eq(s2_data),
                         acc_w[i].en.eq(s2_valid & s2_tag.write & (s2_tag.bank == i))]
        for i in range(2):
            with m.If(s2_valid & s2_tag.write & s2_tag.last & (s2_tag.bank == i)):
                m.d.sync += final_rows[i].eq(final_rows[i] + 1)
            with m.If(s2_valid & s2_tag.end & (s2_tag.bank == i)):
                m.d.sync += os_final[i].eq(final_rows[i] + s2_tag.write)

        # -- agent 6: write-back (accumulator bank -> WriteDma) -------------------------------
        # WS rows become final in order (final_rows); OS results of a job arrive in any order,
        # so OS rows are written up to the last job whose results are all in (os_final).
        wb = _Cursor("wb", dims, kstep, C)
        wb_row_i = Signal(range(acc_rows + 1))
        wb_blk = Signal(cfg.addr_bits)        # address of C row m0
        wb_noff = Signal(cfg.addr_bits)       # byte offset of column n0
        wb_ptr = Signal(cfg.addr_bits)        # address of C row m0 + i
        m.submodules.out_queue = queue = fifo.SyncFIFO(
            width=cfg.addr_bits + 20 + C * ACC_WIDTH, depth=4)
        in_flight = Signal()
        final = Mux(wb.n_parity, final_rows[1], final_rows[0])
        os_rows = Mux(wb.n_parity, os_final[1], os_final[0])
        rows_final = Mux(os_mode, os_rows, final) > wb_row_i
        wb_ready = running & ~wb.done & rows_final
        read_now = wb_ready & (queue.level + in_flight < 3)
        for i in range(2):
            m.d.comb += acc_wb[i].addr.eq(wb_row_i)
        with m.If(start):
            m.d.sync += wb.reset() + [wb_row_i.eq(0), wb_blk.eq(d.c_addr), wb_noff.eq(0),
                                      wb_ptr.eq(d.c_addr), in_flight.eq(0)]
        wb_addr_r, wb_bytes_r, wb_bank_r = Signal(cfg.addr_bits), Signal(20), Signal()
        m.d.sync += [in_flight.eq(read_now), wb_addr_r.eq(wb_ptr + wb_noff),
                     wb_bytes_r.eq(wb.nvalid * 4), wb_bank_r.eq(wb.n_parity)]
        m.d.comb += [queue.w_en.eq(in_flight),
                     queue.w_data.eq(Cat(wb_addr_r, wb_bytes_r,
                                         Mux(wb_bank_r, acc_wb[1].data, acc_wb[0].data)))]
        with m.If(read_now):
            m.d.sync += wb_ptr.eq(wb_ptr + d.ldc)
            with m.If(wb_row_i == wb.rows - 1):
                m.d.sync += [wb_row_i.eq(0), acc_free.bit_select(wb.n_parity, 1).eq(1)]
                for i in range(2):
                    with m.If(wb.n_parity == i):
                        m.d.sync += [final_rows[i].eq(0), os_final[i].eq(0)]
                # skip the K tiles: this cursor moves by N tiles
                m.d.sync += wb.k_left.eq(d.k)
                m.d.sync += wb.n_parity.eq(~wb.n_parity)
                with m.If(~wb.last_n):
                    m.d.sync += [wb.n_left.eq(wb.n_left - C), wb_noff.eq(wb_noff + C * 4),
                                 wb_ptr.eq(wb_blk)]
                with m.Else():
                    next_blk = wb_ptr + d.ldc
                    m.d.sync += [wb.n_left.eq(d.n), wb_noff.eq(0), wb_blk.eq(next_blk),
                                 wb_ptr.eq(next_blk)]
                    with m.If(~wb.last_m):
                        m.d.sync += wb.m_left.eq(wb.m_left - mb)
                    with m.Else():
                        m.d.sync += wb.done.eq(1)
            with m.Else():
                m.d.sync += wb_row_i.eq(wb_row_i + 1)
        m.d.comb += writer_done.eq(wb.done & ~in_flight & ~queue.r_rdy)
        head = queue.r_data
        m.d.comb += [writer.i.valid.eq(queue.r_rdy),
                     writer.i.payload.addr.eq(head[:cfg.addr_bits]),
                     writer.i.payload.nbytes.eq(head[cfg.addr_bits:cfg.addr_bits + 20]),
                     writer.i.payload.data.eq(head[cfg.addr_bits + 20:]),
                     queue.r_en.eq(writer.i.ready)]
        return m

    def _os_feed(self, m, env):
        """Agent 4b (OS): one job per M tile (R * I rows) x N tile, ``ceil(K / R) * R * I``
        cycles (see the module docstring); meanwhile the previous job's results are announced
        to the array (tags). Returns what it drives into the array.

        Cycle ``tau`` of a job that starts at cycle F (F a multiple of I), with
        ``s = tau mod RI = r * I + u``:

        * scratchpad read of output row ``m0 + s``, chunk ``tau // RI``; the data loads
          serializer (r, u) at the end of F + tau + 1;
        * array row r takes serializer (r, u)'s next value in the cycles F + 2 + r * I + k * I
          + u (K step k): serializers shift after each use, rows' control is row 0's delayed
          ``r * I`` cycles;
        * at the start of each K step (u = 0), weight buffer word k (B row k) is read; it is
          shifted into the array at the end of F + tau + 1;
        * for ``tau < RI`` the previous job's result row ``tau`` is announced at F + tau + 2,
          as row 0's first A value of this job enters the array.
        """
        cfg, g = self.config, self.geometry
        R, C, es = cfg.rows, cfg.cols, cfg.element_bytes
        I, EW = g.interleave, g.element_width
        RI = R * I
        e = env
        d, mb, kt, os_mode, running = e["d"], e["mb"], e["kt"], e["os_mode"], e["running"]
        start, finishing, counters = e["start"], e["finishing"], e["counters"]
        ofeed, q, spad_r, wbuf_r = e["ofeed"], e["q"], e["spad_r"], e["wbuf_r"]
        slot_full, b_slot_busy, acc_free = e["slot_full"], e["b_slot_busy"], e["acc_free"]
        spad_free, rows_loaded, spad_lines = e["spad_free"], e["rows_loaded"], e["spad_lines"]
        acc_rows, wb_bits = cfg.acc_rows, e["wb_bits"]
        tags = tag_layout(acc_rows)

        job_cycles = ((65535 + R - 1) // R) * RI
        tau = Signal(range(job_cycles + 1))
        job_last = Signal(range(job_cycles + 1))
        k_step = Signal(DIM_BITS + 1)           # tau // I
        u_step = Signal(range(I))               # tau mod I
        sub = Signal(range(RI))                 # tau mod RI: the output row read
        t_base = Signal(range(spad_lines + 1))  # (t // q) * mb for chunk t = tau // RI
        t_sub = Signal(range(q))                # t mod q
        m_sub = Signal(range(acc_rows + RI + 1))  # first row of the M tile within the block
        busy, flushing, claimed = Signal(), Signal(), Signal()
        phase = Signal(range(I))                # cycle mod I (jobs start at phase 0)
        m.d.comb += job_last.eq(Mux(flushing, RI - 1, kt * RI - 1))

        # the job whose results are in the array (cur) and the one being announced (pend)
        job = data.StructLayout({"valid": 1, "m_sub": len(m_sub), "rows": len(m_sub),
                                 "bank": 1})
        cur, pend = Signal(job), Signal(job)

        rows_needed = _min(m_sub + RI, ofeed.rows)
        have_rows = Mux(ofeed.m_parity, rows_loaded[1], rows_loaded[0]) >= rows_needed
        have_slot = slot_full.bit_select(ofeed.parity, 1)
        have_acc = claimed | acc_free.bit_select(ofeed.n_parity, 1)
        idle = running & os_mode & ~busy & (phase == 0)
        can_start = idle & ~ofeed.done & have_slot & have_rows & have_acc
        can_flush = idle & ofeed.done & cur.valid
        go = busy | can_start | can_flush
        at_end = go & (tau == job_last)
        streaming = go & ~flushing & ~can_flush   # a job's cycle (not a flush)
        useful = streaming & (k_step < d.k)

        with m.If(start):
            m.d.sync += ofeed.reset() + [tau.eq(0), k_step.eq(0), u_step.eq(0), sub.eq(0),
                                         t_base.eq(0), t_sub.eq(0), m_sub.eq(0), busy.eq(0),
                                         flushing.eq(0), claimed.eq(0), phase.eq(0),
                                         cur.eq(0), pend.eq(0)]
        with m.Else():
            if I > 1:
                m.d.sync += phase.eq(Mux(phase == I - 1, 0, phase + 1))
            with m.If(can_start | can_flush):
                m.d.sync += [pend.eq(cur), busy.eq(1), flushing.eq(can_flush)]
            with m.If(can_start):
                m.d.sync += [cur.valid.eq(1), cur.m_sub.eq(m_sub), cur.rows.eq(ofeed.rows),
                             cur.bank.eq(ofeed.n_parity)]
                with m.If(~claimed):
                    m.d.sync += [claimed.eq(1), acc_free.bit_select(ofeed.n_parity, 1).eq(0)]
            with m.If(can_flush):
                m.d.sync += cur.valid.eq(0)
            with m.If(at_end):
                m.d.sync += [busy.eq(0), tau.eq(0), k_step.eq(0), u_step.eq(0), sub.eq(0),
                             t_base.eq(0), t_sub.eq(0)]
                with m.If(streaming):
                    with m.If(m_sub + RI >= ofeed.rows):  # the N tile's last M tile
                        m.d.sync += [m_sub.eq(0), claimed.eq(0),
                                     slot_full.bit_select(ofeed.parity, 1).eq(0),
                                     b_slot_busy.bit_select(ofeed.parity, 1).eq(0)]
                        with m.If(ofeed.last_n):
                            m.d.sync += spad_free.bit_select(ofeed.m_parity, 1).eq(1)
                            for i in range(2):
                                with m.If(ofeed.m_parity == i):
                                    m.d.sync += rows_loaded[i].eq(0)
                        ofeed.step(m)
                    with m.Else():
                        m.d.sync += m_sub.eq(m_sub + RI)
            with m.Elif(go):
                m.d.sync += tau.eq(tau + 1)
                with m.If(u_step == I - 1):
                    m.d.sync += [u_step.eq(0), k_step.eq(k_step + 1)]
                with m.Else():
                    m.d.sync += u_step.eq(u_step + 1)
                with m.If(sub == RI - 1):
                    m.d.sync += sub.eq(0)
                    _next_chunk(m, t_base, t_sub, q, mb)
                with m.Else():
                    m.d.sync += sub.eq(sub + 1)

        # scratchpad -> serializers: output row s = r * I + u of the tile is serializer s
        read_row = m_sub + sub
        spad_parity_r, t_sub_r, row_ok_r = Signal(), Signal.like(t_sub), Signal()
        load_r, target_r = Signal(), Signal.like(sub)
        with m.If(os_mode):
            for i in range(2):
                for j in range(q):
                    m.d.comb += spad_r[i][j].addr.eq(t_base + read_row)
        m.d.sync += [spad_parity_r.eq(ofeed.m_parity), t_sub_r.eq(t_sub),
                     row_ok_r.eq(read_row < ofeed.rows), load_r.eq(streaming),
                     target_r.eq(sub)]
        bus = Signal(R * EW)
        banks = [Mux(spad_parity_r, spad_r[1][j].data, spad_r[0][j].data) for j in range(q)]
        chosen = banks[0]
        for j in range(1, q):
            chosen = Mux(t_sub_r == j, banks[j], chosen)
        m.d.comb += bus.eq(chosen)
        # the serializer each row reads this cycle: u = (cycle - 2) mod I, the same for every
        # row (rows are I cycles apart)
        pick = Signal(max(1, (I - 1).bit_length()))
        if I > 1:
            m.d.comb += pick.eq(Mux(phase >= 2, phase - 2, phase + I - 2))
        # the serializers (:mod:`.feeder`): templated Verilog, R * R * I values
        a_data = Signal(R * EW)
        firsts = Signal(R)
        library = self._library
        delay_name = library.define("delay", verilog=delay_verilog(f"{library.prefix}__delay"))
        key = f"os_feeder_{R}x{I}_{cfg.dtype}"
        name = library.define(key, verilog=feeder_verilog(f"{library.prefix}__{key}", g,
                                                          delay_name), instances=1)
        m.submodules.os_feeder = Instance(
            name, i_clk=ClockSignal(), i_rst=ResetSignal(), i_bus=bus, i_load=load_r,
            i_target=target_r, i_ok_in=row_ok_r, i_pick=pick, i_active=useful,
            i_first=go & (k_step == 0), o_a_out=a_data, o_first_out=firsts)

        # weight buffer -> the array's columns: B row k at the start of K step k (zeros
        # outside a job's first K steps), shifted in once per K step
        b_valid, b_shift = Signal(), Signal()
        m.d.sync += [b_valid.eq(useful & (u_step == 0)), b_shift.eq(phase == 0)]
        word = Signal(wb_bits)
        m.d.comb += word.eq(k_step)
        with m.If(os_mode):
            m.d.comb += wbuf_r.addr.eq(Cat(word, ofeed.parity))

        # result tags of the previous job: row j is output row (R - 1 - j // I) * I + j mod I
        announcing = Signal()
        t_row = Signal(range(RI))               # output row within the tile
        t_u = Signal(range(I))
        tag = Signal(tags)
        with m.If(start):
            m.d.sync += announcing.eq(0)
        with m.Elif((can_start | can_flush) & cur.valid):
            m.d.sync += [announcing.eq(1), t_row.eq((R - 1) * I), t_u.eq(0)]
        with m.Elif(announcing):
            with m.If(t_u == I - 1):
                m.d.sync += [t_u.eq(0), t_row.eq(t_row - (2 * I - 1))]
                with m.If(t_row == I - 1):
                    m.d.sync += announcing.eq(0)
            with m.Else():
                m.d.sync += [t_u.eq(t_u + 1), t_row.eq(t_row + 1)]
        m.d.comb += [tag.row.eq(pend.m_sub + t_row), tag.bank.eq(pend.bank),
                     tag.first.eq(1), tag.last.eq(1),
                     tag.write.eq(pend.m_sub + t_row < pend.rows),
                     tag.end.eq(t_row == I - 1)]
        tag_valid, tag_r = Signal(), Signal(tags)
        m.d.sync += [tag_valid.eq(announcing), tag_r.eq(tag)]
        b_data = Signal(8 * C * es)
        m.d.comb += b_data.eq(Mux(b_valid, wbuf_r.data, 0))

        # stall classification (one counter per counted cycle of RUN)
        with m.If(running & os_mode & ~finishing):
            _count_first(m, counters, [
                (useful, "busy_cycles"), (ofeed.done, "stall_drain"), (go, "stall_slot"),
                (counters["busy_cycles"] == 0, "stall_setup"), (~have_slot, "stall_weights"),
                (~have_rows, "stall_a"), (~have_acc, "stall_acc"), (1, "stall_slot")])
        return {"a.valid": tag_valid, "a.tag": tag_r, "a.data": a_data, "a.sel": firsts,
                "w.valid": b_shift, "w.bank": 0, "w.data": b_data}
