"""Agent 3: the weight loader (WS: a weight slot of the buffer -> a weight bank of the array)."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..array import array_layouts
from ..layouts import DIM_BITS
from .job import Cursor, dims_of, job_signature, kstep_of
from .memories import sram_read_signature
from .tokens import loader_tokens

__all__ = ["WeightLoader"]


class WeightLoader(wiring.Component):
    """Shifts job j's K tile of B (weight slot j mod 2) into weight bank j mod 2 of the array,
    mesh row R-1 first, one row per cycle (rows beyond the tile's K rows as zeros), when the
    slot is full and the bank free (WS only).

    Members
    -------
    job : In(job_signature)
    wbuf : Out(sram_read_signature)        the weight buffer
    w : Out(stream.Signature(array w))     to the array (through the dataflow switch)
    tokens : Out(loader_tokens)
        ``slot_done`` with the tile's last row, ``bank_ready`` the cycle after.
    slot_rows : In(DIM_BITS + 1).array(2)  B rows in each slot (from the fills)
    parity : Out(1)                        the slot consumed next (for the request arbiter)
    """

    def __init__(self, geometry):
        self._g = g = geometry
        _, w, _ = array_layouts(g.core)
        super().__init__({
            "job": In(job_signature(g)),
            "wbuf": Out(sram_read_signature(g.slot_bits + 1, g.wbuf_width)),
            "w": Out(stream.Signature(w)),
            "tokens": Out(loader_tokens()),
            "slot_rows": In(DIM_BITS + 1).array(2),
            "parity": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        R, C = g.rows, g.cols
        job, tk = self.job, self.tokens
        d, start, running, os_mode = job.descriptor, job.start, job.running, job.os_mode
        load = Cursor("load", dims_of(d, job.mb), kstep_of(g, job), C)
        m.d.comb += self.parity.eq(load.parity)
        shift = Signal(range(R + 1))
        loading = Signal()
        kvalid_l = Mux(load.parity, self.slot_rows[1], self.slot_rows[0])
        w_valid, w_zero, w_bank, w_final = Signal(), Signal(), Signal(), Signal()
        with m.If(start):
            m.d.sync += load.reset() + [shift.eq(0), loading.eq(0)]
        can_load = (running & ~os_mode & ~load.done & tk.bank_free.bit_select(load.parity, 1)
                    & tk.slot_full.bit_select(load.parity, 1))
        row_index = Signal(g.slot_bits)  # mesh row being loaded
        m.d.comb += row_index.eq(R - 1 - shift)
        m.d.comb += self.wbuf.addr.eq(Cat(row_index, load.parity))
        m.d.sync += [w_valid.eq(0), w_final.eq(0)]
        with m.If(can_load | loading):
            m.d.sync += [w_valid.eq(1), w_zero.eq(row_index >= kvalid_l), w_bank.eq(load.parity),
                         shift.eq(shift + 1), loading.eq(1)]
            with m.If(shift == R - 1):
                m.d.sync += [shift.eq(0), loading.eq(0), w_final.eq(1)]
                m.d.comb += tk.slot_done.bit_select(load.parity, 1).eq(1)
                load.step(m)
        m.d.comb += [self.w.valid.eq(w_valid), self.w.payload.bank.eq(w_bank),
                     self.w.payload.data.eq(Mux(w_zero, 0, self.wbuf.data))]
        with m.If(w_final):
            m.d.comb += tk.bank_ready.bit_select(w_bank, 1).eq(1)
        return m
