"""The dataflow switch: which feed (WS or OS) drives the array and reads the memories."""

from amaranth.hdl import Module, Mux, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..array import array_layouts
from .memories import spad_read_signature, sram_read_signature

__all__ = ["DataflowSwitch"]


class DataflowSwitch(wiring.Component):
    """Connects the array's ``a`` and ``w`` streams and the scratchpad and weight buffer read
    addresses to the WS feed (``os_mode`` low) or the OS feed (high); read data goes to both.
    An engine built for one dataflow has only that feed's ports (a pass-through).

    Members
    -------
    os_mode : In(1)
    ws_a, ws_w, os_a, os_w : In(stream.Signature(array a / w layouts))
    ws_spad, os_spad : In(spad_read_signature)      ws_wbuf, os_wbuf : In(sram_read_signature)
    a, w : Out(stream ...)                          to the array
    spad : Out(spad_read_signature)                 wbuf : Out(sram_read_signature)
    array_os : Out(1)                               the array's ``os`` (dataflow "both")
    """

    def __init__(self, geometry):
        self._g = g = geometry
        a, w, _ = array_layouts(g.core)
        wbuf = sram_read_signature(g.slot_bits + 1, g.wbuf_width)
        members = {"os_mode": In(1), "a": Out(stream.Signature(a)), "w": Out(stream.Signature(w)),
                   "spad": Out(spad_read_signature(g)), "wbuf": Out(wbuf), "array_os": Out(1)}
        for feed, present in (("ws", g.has_ws), ("os", g.has_os)):
            if present:
                members.update({f"{feed}_a": In(stream.Signature(a)),
                                f"{feed}_w": In(stream.Signature(w)),
                                f"{feed}_spad": In(spad_read_signature(g)),
                                f"{feed}_wbuf": In(wbuf)})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        g = self._g
        m.d.comb += self.array_os.eq(self.os_mode)
        feeds = [f for f, present in (("ws", g.has_ws), ("os", g.has_os)) if present]
        for feed in feeds:
            spad, wbuf = getattr(self, f"{feed}_spad"), getattr(self, f"{feed}_wbuf")
            for i in range(2):
                for j in range(g.line_chunks):
                    m.d.comb += spad.data[i][j].eq(self.spad.data[i][j])
            m.d.comb += [wbuf.data.eq(self.wbuf.data), getattr(self, f"{feed}_a").ready.eq(1),
                         getattr(self, f"{feed}_w").ready.eq(1)]

        def pick(get):
            """The OS feed's value when os_mode, else the WS feed's (wide values with Mux,
            not m.If: a wide signal assigned under conditions makes the netlist checks slow)."""
            if feeds == ["ws"]:
                return get("ws")
            if feeds == ["os"]:
                return get("os")
            return Mux(self.os_mode, get("os"), get("ws"))

        m.d.comb += [self.spad.addr.eq(pick(lambda f: getattr(self, f"{f}_spad").addr)),
                     self.wbuf.addr.eq(pick(lambda f: getattr(self, f"{f}_wbuf").addr))]
        for port in ("a", "w"):
            out = getattr(self, port)
            m.d.comb += out.valid.eq(pick(lambda f: getattr(self, f"{f}_{port}").valid))
            for name, _ in out.payload.shape():
                m.d.comb += getattr(out.payload, name).eq(pick(
                    lambda f: Value.cast(getattr(getattr(self, f"{f}_{port}").payload, name))))
        return m
