"""The block loader of the URSC core: a Q block, K_j or V_j from memory into its on-chip memory.

A command names the target (``LoadKind``), the byte address of its first row, the byte stride
between rows, the row count, the head dimension ``d`` and ``word``, the first word of the
target memory the block goes to (a half of a double-buffered operand memory). The loader asks the read DMA
(:class:`~hybridgen.rtl.mem.dma.ReadDma`) for each row (``2 d`` bytes; chunk kind 0 =
``mults`` bf16 for Q and K, kind 1 = ``dpus`` bf16 for V) and writes every chunk to its bank
and word (the banking of :mod:`hybridgen.rtl.ursc.memories`): row r goes to bank
``r % banks``, chunk c to word ``word + (r // banks) * words + c`` with ``banks`` = lanes (Q),
dpus (K) or mults (V) and ``words`` = ``ceil(d / mults)`` (Q, K) or ``ceil(d / dpus)`` (V). The
DMA zero-pads the last chunk of a row.

Handshake: ``cmd`` is taken when the loader is idle; ``busy`` is high from the next cycle until
the command's last chunk is written (``busy`` low again: the block is in memory).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.rtl.mem.dma import row_request_layout

from .memories import ADDR_BITS, write_signature

__all__ = ["LoadKind", "load_command_layout", "Loader"]


class LoadKind(enum.Enum, shape=2):
    Q = 0
    K = 1
    V = 2


def load_command_layout():
    return data.StructLayout({"kind": LoadKind, "base": ADDR_BITS, "stride": ADDR_BITS,
                              "rows": 16, "d": 9, "word": 16})


class Loader(wiring.Component):
    """See the module docstring.

    Members
    -------
    cmd : In(stream.Signature(load_command_layout()))
    busy : Out(1)
    req : Out(stream.Signature(row_request_layout(ADDR_BITS)))   to the read DMA
    i : In(stream.Signature({data, kind, last}))                 from the read DMA
    q_w, k_w, v_w : Out(write_signature(...))                    memory write ports
    """

    def __init__(self, geometry):
        self._g = g = geometry
        mems = g.memories
        chunk = data.StructLayout({"data": 8 * max(g.chunk_bytes), "kind": 1, "last": 1})
        members = {"cmd": In(stream.Signature(load_command_layout())), "busy": Out(1),
                   "req": Out(stream.Signature(row_request_layout(ADDR_BITS))),
                   "i": In(stream.Signature(chunk))}
        for name in ("q", "k", "v"):
            banks, width, depth, _ = mems[name]
            members[f"{name}_w"] = Out(write_signature(banks, width, depth, 1))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        g = self._g
        cmd = Signal(load_command_layout())
        issued, received = Signal(16), Signal(16)
        addr = Signal(ADDR_BITS)
        bank, row_base, chunk = Signal(16), Signal(16), Signal(16)
        m.d.comb += self.cmd.ready.eq(~self.busy)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [cmd.eq(self.cmd.payload), self.busy.eq(1), issued.eq(0),
                         received.eq(0), addr.eq(self.cmd.payload.base), bank.eq(0),
                         row_base.eq(0), chunk.eq(0)]

        # requests: one row per beat
        req = self.req
        m.d.comb += [req.valid.eq(self.busy & (issued != cmd.rows)), req.payload.addr.eq(addr),
                     req.payload.nbytes.eq(cmd.d * 2),
                     req.payload.kind.eq(cmd.kind == LoadKind.V)]
        with m.If(req.valid & req.ready):
            m.d.sync += [issued.eq(issued + 1), addr.eq(addr + cmd.stride)]

        # chunks: written as they come
        banks = Signal(16)
        words = Signal(16)
        dchunks = (cmd.d + g.mults - 1) >> exact_log2(g.mults)
        ctiles = (cmd.d + g.dpus - 1) // g.dpus
        with m.Switch(cmd.kind):
            with m.Case(LoadKind.Q):
                m.d.comb += [banks.eq(g.lanes), words.eq(dchunks)]
            with m.Case(LoadKind.K):
                m.d.comb += [banks.eq(g.dpus), words.eq(dchunks)]
            with m.Default():
                m.d.comb += [banks.eq(g.mults), words.eq(ctiles)]
        m.d.comb += self.i.ready.eq(1)
        fire = self.i.valid & self.busy
        for name, kind in (("q", LoadKind.Q), ("k", LoadKind.K), ("v", LoadKind.V)):
            port = getattr(self, f"{name}_w")
            m.d.comb += port.addr.eq(cmd.word + row_base + chunk)
            for b in range(len(port.en)):
                m.d.comb += [port.data[b].eq(self.i.payload.data),
                             port.en[b].eq(fire & (cmd.kind == kind) & (bank == b))]
        with m.If(fire):
            with m.If(self.i.payload.last):
                m.d.sync += [chunk.eq(0), received.eq(received + 1)]
                with m.If(bank == banks - 1):
                    m.d.sync += [bank.eq(0), row_base.eq(row_base + words)]
                with m.Else():
                    m.d.sync += bank.eq(bank + 1)
                with m.If(received + 1 == cmd.rows):
                    m.d.sync += self.busy.eq(0)
            with m.Else():
                m.d.sync += chunk.eq(chunk + 1)
        return m
