"""A stream through a FIFO: the one way a block puts a ``lib.stream`` link through an
``amaranth.lib.fifo.SyncFIFOBuffered`` (its payload packed into the FIFO's words)."""

from amaranth.hdl import Value
from amaranth.lib import fifo

__all__ = ["buffer_stream"]


def buffer_stream(m, name, source, sink, depth):
    """Connect stream ``source`` to stream ``sink`` through a ``SyncFIFOBuffered`` of ``depth``
    payloads, added as submodule ``name`` of ``m``; returns the FIFO.

    ``source`` is read (its ``valid`` and ``payload``; its ``ready`` is driven) and ``sink`` is
    driven (``valid``, ``payload``; its ``ready`` is read), whichever side of a component each
    is on. Handshake: a beat enters when ``source.valid`` and the FIFO has room, and leaves in
    order when ``sink.ready``; ``SyncFIFOBuffered`` adds one cycle from entry to ``sink.valid``.
    """
    width = Value.cast(source.payload).shape().width
    buf = m.submodules[name] = fifo.SyncFIFOBuffered(width=width, depth=depth)
    m.d.comb += [buf.w_stream.valid.eq(source.valid), buf.w_stream.payload.eq(source.payload),
                 source.ready.eq(buf.w_stream.ready),
                 sink.valid.eq(buf.r_stream.valid), sink.payload.eq(buf.r_stream.payload),
                 buf.r_stream.ready.eq(sink.ready)]
    return buf
