"""Agent 5: accumulate on write (array result rows -> accumulator banks)."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.fp32 import Fp32Add

from ..array import array_layouts
from ..pe import ACC_WIDTH
from .memories import acc_read_signature, acc_write_signature
from .tokens import accumulate_tokens

__all__ = ["Accumulate"]


class Accumulate(wiring.Component):
    """Adds each result row of the array into row ``tag.row`` of accumulator bank
    ``tag.bank`` (int8: int32 wrapping; bf16: ``fp32_add(old, new)``), or writes it when
    ``tag.first``; rows with ``tag.write`` low (OS: outside C) are not written. Read, add and
    write take ``1 + (1 | adder_latency) + 1`` cycles (:attr:`EngineGeometry.min_slot`
    keeps a row's next update behind its write). Always ready.

    Members
    -------
    i : In(stream.Signature(array o))    from the array
    rmw : Out(acc_read_signature)        acc_w : Out(acc_write_signature)
    tokens : Out(accumulate_tokens)
        ``final_inc`` when a row's last value (``tag.last``) is written; ``os_end`` (with
        ``os_end_write``) at a job's last result (``tag.end``).
    """

    def __init__(self, library, geometry):
        self._g, self._library = geometry, library
        g = geometry
        _, _, o = array_layouts(g.core)
        super().__init__({
            "i": In(stream.Signature(o)), "rmw": Out(acc_read_signature(g)),
            "acc_w": Out(acc_write_signature(g)), "tokens": Out(accumulate_tokens()),
        })

    def elaborate(self, platform):
        m = Module()
        g, library = self._g, self._library
        C, tags, out, tk = g.cols, g.tag_layout, self.i, self.tokens
        m.d.comb += out.ready.eq(1)
        out_tag = Signal(tags)
        m.d.comb += out_tag.eq(out.payload.tag)
        s1_valid, s1_data = Signal(), Signal(C * ACC_WIDTH)
        s1_tag = Signal(tags)
        m.d.sync += [s1_valid.eq(out.valid), s1_data.eq(out.payload.data.as_value()),
                     s1_tag.eq(out_tag)]
        m.d.comb += self.rmw.addr.eq(out_tag.row)
        # (named: an unnamed wide Mux is emitted again for every slice taken of it)
        old = Signal(C * ACC_WIDTH)
        m.d.comb += old.eq(Mux(s1_tag.bank, self.rmw.data[1], self.rmw.data[0]))
        if g.dtype == "int8":
            total = Cat(*[(old[c * 32:(c + 1) * 32] + s1_data[c * 32:(c + 1) * 32])[:32]
                          for c in range(C)])
            s2_valid, s2_data, s2_tag = Signal(), Signal(C * ACC_WIDTH), Signal(tags)
            m.d.sync += [s2_valid.eq(s1_valid), s2_tag.eq(s1_tag),
                         s2_data.eq(Mux(s1_tag.first, s1_data, total))]
        else:
            sums = []
            for c in range(C):
                # one fp32 adder module, converted once, placed C times
                adder = library.instantiate(
                    m, f"acc_add{c}", f"fp32_add_l{g.adder_latency}",
                    lambda: Fp32Add(latency=g.adder_latency))
                m.d.comb += [adder.en.eq(1), adder.a.eq(old[c * 32:(c + 1) * 32]),
                             adder.b.eq(s1_data[c * 32:(c + 1) * 32])]
                sums.append(adder.o)
            s2_valid, s2_first, s2_tag, s2_partial = s1_valid, s1_tag.first, s1_tag, s1_data
            for stage in range(g.adder_latency):
                v, f = Signal(name=f"rmw_v{stage}"), Signal(name=f"rmw_f{stage}")
                t_ = Signal(tags, name=f"rmw_t{stage}")
                p_ = Signal(C * ACC_WIDTH, name=f"rmw_p{stage}")
                m.d.sync += [v.eq(s2_valid), f.eq(s2_first), t_.eq(s2_tag), p_.eq(s2_partial)]
                s2_valid, s2_first, s2_tag, s2_partial = v, f, t_, p_
            s2_data = Signal(C * ACC_WIDTH)
            m.d.comb += s2_data.eq(Mux(s2_first, s2_partial, Cat(*sums)))
        m.d.comb += [self.acc_w.addr.eq(s2_tag.row), self.acc_w.data.eq(s2_data)]
        for i in range(2):
            m.d.comb += self.acc_w.en[i].eq(s2_valid & s2_tag.write & (s2_tag.bank == i))
            m.d.comb += [
                tk.final_inc[i].eq(s2_valid & s2_tag.write & s2_tag.last & (s2_tag.bank == i)),
                tk.os_end[i].eq(s2_valid & s2_tag.end & (s2_tag.bank == i))]
        m.d.comb += tk.os_end_write.eq(s2_tag.write)
        return m
