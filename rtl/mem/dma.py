"""DMA between the engine and off-package memory over AXI4 (:mod:`.axi`).

Both directions move *rows*: a contiguous byte range ``[addr, addr + nbytes)`` at any byte
address. A row covers the beat-aligned range around it; that range is cut into INCR bursts of
at most 256 beats that never cross a 4 KB boundary (:func:`burst_beats`). A strided 2D transfer
is a sequence of rows (the engine issues one row per cycle). Responses return in order (no AXI
IDs), so data beats are matched to rows by order alone.

* :class:`ReadDma` - row requests in, fixed-size *chunks* out (a row of A becomes its K values
  cut into chunks of R values, the last one zero-padded; a row of B becomes one chunk of C
  values). At most ``outstanding`` read bursts are in flight.
* :class:`WriteDma` - rows of data in, AW bursts and W beats (with byte strobes) out; AW runs
  ahead of W independently; at most ``outstanding`` write bursts await their B response.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from .axi import BOUNDARY_BYTES, BURST_INCR, MAX_BURST_BEATS, axi_read_signature, \
    axi_write_signature

__all__ = ["ReadDma", "WriteDma", "burst_beats", "row_request_layout", "write_row_layout",
           "ROW_BYTES_BITS"]

#: Width of a row's byte count (rows of up to 1 MiB).
ROW_BYTES_BITS = 20
#: Width of a row's beat count: ceil((offset + nbytes) / bus) <= 2**ROW_BYTES_BITS.
ROW_BEATS_BITS = ROW_BYTES_BITS + 1
#: Width of a burst's beat count (1..MAX_BURST_BEATS).
BURST_BEATS_BITS = ceil_log2(MAX_BURST_BEATS + 1)
#: Width of the byte-counting performance counters (``read_bytes``, ``written_bytes``).
COUNTER_BITS = 32


def _check_port(addr_bits, bus_bytes, outstanding):
    if not isinstance(bus_bytes, int) or bus_bytes < 1 or bus_bytes & (bus_bytes - 1):
        raise ValueError(f"Bus width must be a power of two of bytes, not {bus_bytes!r}")
    if not isinstance(addr_bits, int) or addr_bits < exact_log2(BOUNDARY_BYTES):
        raise ValueError(f"Address width must be an integer >= {exact_log2(BOUNDARY_BYTES)}, "
                         f"not {addr_bits!r}")
    if not isinstance(outstanding, int) or outstanding < 1:
        raise ValueError(f"Bursts in flight must be a positive integer, not {outstanding!r}")


def burst_beats(addr, beats_left, bus_bytes):
    """Beats of the next burst at beat-aligned ``addr`` with ``beats_left`` beats to go.

    ``min(beats_left, 256, beats up to the next 4 KB boundary)`` (an Amaranth value).
    """
    to_boundary = (BOUNDARY_BYTES - addr[:exact_log2(BOUNDARY_BYTES)]) >> exact_log2(bus_bytes)
    limited = Mux(to_boundary < MAX_BURST_BEATS, to_boundary, MAX_BURST_BEATS)
    return Mux(beats_left < limited, beats_left, limited)


def _beats_of_row(addr, nbytes, bus_bytes):
    """Beats covering ``[addr, addr + nbytes)``: ceil((addr % bus + nbytes) / bus)."""
    return (addr[:exact_log2(bus_bytes)] + nbytes + bus_bytes - 1) >> exact_log2(bus_bytes)


def shift_units(m, value, amount, unit, *, left, name, width=None):
    """``value`` shifted by ``amount * unit`` bits, as a logarithmic mux tree.

    A plain variable shift makes every output bit depend on every input bit, which for the
    kilobit-wide rows of large arrays makes Amaranth's conversion quadratic; a tree of
    ``len(amount)`` two-way muxes keeps it linear. ``width`` (default ``len(value)``) is the
    result width; bits shifted beyond it are dropped, vacated bits are zero. Every stage is a
    named signal ``{name}_s{bit}`` in ``m`` (an unnamed nest of wide muxes converts slowly).
    """
    width = len(value) if width is None else width
    result = value[:width] if len(value) >= width else Cat(value, Const(0, width - len(value)))
    for bit in range(len(amount)):
        step = unit << bit
        if step >= width:
            moved = Const(0, width)
        else:
            moved = (Cat(Const(0, step), result[:width - step]) if left
                     else Cat(result[step:], Const(0, step)))
        stage = Signal(width, name=f"{name}_s{bit}")
        m.d.comb += stage.eq(Mux(amount[bit], moved, result))
        result = stage
    return result


def _byte_mask(m, count, width_bytes, name):
    """A mask of ``count`` low bytes (``count`` in 0..width_bytes) over ``width_bytes`` bytes."""
    ones = Const((1 << (8 * width_bytes)) - 1, 8 * width_bytes)
    return shift_units(m, ones, (width_bytes - count).as_unsigned()[:ceil_log2(width_bytes + 1)],
                       8, left=False, name=name)


def row_request_layout(addr_bits, kind_bits=1):
    """Payload of :class:`ReadDma`'s ``req``: read ``nbytes`` bytes at ``addr`` as chunks of
    kind ``kind``."""
    return data.StructLayout({"addr": addr_bits, "nbytes": ROW_BYTES_BITS, "kind": kind_bits})


def write_row_layout(addr_bits, row_bytes):
    """Payload of :class:`WriteDma`'s ``i``: write the low ``nbytes`` bytes of ``data`` at
    ``addr``."""
    return data.StructLayout({"addr": addr_bits, "nbytes": ROW_BYTES_BITS,
                              "data": 8 * row_bytes})


class ReadDma(wiring.Component):
    """Row reads over AXI4 AR/R, delivered as fixed-size chunks.

    Parameters
    ----------
    addr_bits, bus_bytes : int
        AXI address width and data width in bytes.
    chunk_bytes : tuple of int
        Chunk size of each row *kind* (index = ``kind``); chunks are ``max(chunk_bytes)`` bytes
        wide, a chunk of kind k holding its data in the low ``chunk_bytes[k]`` bytes.
    outstanding : int
        Read bursts in flight at most.

    Members
    -------
    req : In(stream)  ``{addr, nbytes, kind}`` (:func:`row_request_layout`), one row per beat,
                      ``1 <= nbytes < 2**ROW_BYTES_BITS``, any byte ``addr``.
    o : Out(stream)   ``{data, kind, last}``: row by row in request order, the row's bytes in
                      order, ``chunk_bytes[kind]`` per chunk in the low bytes of ``data``;
                      ``last`` marks a row's last chunk, whose bytes past the row's end are
                      zero. ``data`` bytes at and above ``chunk_bytes[kind]`` are unspecified
                      (they may hold the row's next bytes).
    axi : Out(axi_read_signature)
    read_bytes : Out(COUNTER_BITS)  bytes of row data received so far (wraps; reset by
                      ``clear``).
    clear : In(1)     clears ``read_bytes``.

    Throughput: one AR per cycle, one R beat per cycle, one chunk per cycle; a row that takes
    more than one beat or more than one chunk costs one cycle more than its chunks (its last
    chunk leaves in a cycle that accepts no R beat). docs/mem.md has the measured figure.
    """

    def __init__(self, *, addr_bits, bus_bytes, chunk_bytes, outstanding):
        _check_port(addr_bits, bus_bytes, outstanding)
        if not chunk_bytes or any(not isinstance(c, int) or c < 1 for c in chunk_bytes):
            raise ValueError(f"Chunk sizes must be positive integers, not {chunk_bytes!r}")
        self.addr_bits, self.bus_bytes = addr_bits, bus_bytes
        self.chunk_bytes, self.outstanding = tuple(chunk_bytes), outstanding
        self.width_bytes = max(self.chunk_bytes)
        kind_bits = max(1, ceil_log2(len(self.chunk_bytes)))
        super().__init__({
            "req": In(stream.Signature(row_request_layout(addr_bits, kind_bits))),
            "o": Out(stream.Signature(data.StructLayout({
                "data": 8 * self.width_bytes, "kind": kind_bits, "last": 1}))),
            "axi": Out(axi_read_signature(addr_bits, 8 * bus_bytes)),
            "read_bytes": Out(COUNTER_BITS), "clear": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus, axi, req = self.bus_bytes, self.axi, self.req
        offset_bits = exact_log2(bus)
        kind_bits = len(req.payload.kind)

        # -- AR side: each row becomes one or more bursts, rows described to the R side ----
        desc_layout = data.StructLayout({"offset": max(1, offset_bits),
                                         "nbytes": ROW_BYTES_BITS, "kind": kind_bits})
        m.submodules.rows = rows = fifo.SyncFIFO(width=desc_layout.size,
                                                 depth=self.outstanding + 2)
        active = Signal()
        cur_addr = Signal(self.addr_bits)
        cur_left = Signal(ROW_BEATS_BITS)
        in_flight = Signal(range(self.outstanding + 1))
        src_addr = Mux(active, cur_addr,
                       Cat(Const(0, offset_bits), req.payload.addr[offset_bits:]))
        src_left = Mux(active, cur_left, _beats_of_row(req.payload.addr, req.payload.nbytes, bus))
        burst = Signal(BURST_BEATS_BITS)
        m.d.comb += burst.eq(burst_beats(src_addr, src_left, bus))
        can_issue = (in_flight < self.outstanding) & (active | (req.valid & rows.w_rdy))
        m.d.comb += [
            axi.arvalid.eq(can_issue), axi.araddr.eq(src_addr), axi.arlen.eq(burst - 1),
            axi.arsize.eq(offset_bits), axi.arburst.eq(BURST_INCR),
        ]
        ar_fire = axi.arvalid & axi.arready
        desc_in = data.View(desc_layout, rows.w_data)
        m.d.comb += [desc_in.offset.eq(req.payload.addr[:offset_bits] if offset_bits else 0),
                     desc_in.nbytes.eq(req.payload.nbytes), desc_in.kind.eq(req.payload.kind)]
        with m.If(ar_fire):
            m.d.sync += [cur_addr.eq(src_addr + burst * bus), cur_left.eq(src_left - burst),
                         active.eq(src_left != burst)]
            with m.If(~active):
                m.d.comb += [req.ready.eq(1), rows.w_en.eq(1)]
        r_fire = axi.rvalid & axi.rready
        last_beat = r_fire & axi.rlast
        m.d.sync += in_flight.eq(in_flight + ar_fire - last_beat)

        # -- R side: realign each row's bytes into chunks ----------------------------------
        # ``head`` is the row whose beats arrive next; once a row's last beat is in, its
        # descriptor leaves the queue and ``tail`` marks that ``buf`` holds the rest of that
        # row (its kind in ``tail_kind``), so the next row's first beat can come in the cycle
        # the tail's last chunk leaves.
        width = self.width_bytes
        buffer_bytes = width + bus
        head = data.View(desc_layout, rows.r_data)
        tail = Signal()
        tail_kind = Signal(kind_bits)
        out_kind = Signal(kind_bits)
        m.d.comb += out_kind.eq(Mux(tail, tail_kind, head.kind))
        chunk = Signal(range(width + 1))
        m.d.comb += chunk.eq(Const(self.chunk_bytes[0], range(width + 1)))
        for kind, size in enumerate(self.chunk_bytes[1:], start=1):
            with m.If(out_kind == kind):
                m.d.comb += chunk.eq(size)
        buf = Signal(8 * buffer_bytes)
        fill = Signal(range(buffer_bytes + 1))
        started = Signal()
        row_left = Signal(ROW_BYTES_BITS)
        left = Mux(started, row_left, head.nbytes)
        lo = Mux(started, 0, head.offset) if offset_bits else Const(0, 1)
        room = bus - lo
        take = Signal(range(bus + 1))
        m.d.comb += take.eq(Mux(left < room, left, room))
        incoming = Signal(8 * bus)
        m.d.comb += incoming.eq(shift_units(m, axi.rdata, lo, 8, left=False, name="align")
                                & _byte_mask(m, take, bus, "take_mask"))
        # A row inside one beat and one chunk, buffer empty: the beat is the chunk (no bubble).
        single = (rows.r_rdy & ~started & (fill == 0) & (take == head.nbytes)
                  & (head.nbytes <= chunk))
        with m.If(single):
            m.d.comb += [self.o.valid.eq(axi.rvalid), self.o.payload.data.eq(incoming),
                         self.o.payload.kind.eq(head.kind), self.o.payload.last.eq(1),
                         axi.rready.eq(self.o.ready), rows.r_en.eq(r_fire)]
        with m.Else():
            emit = (fill >= chunk) | (tail & (fill != 0))
            last = tail & (fill <= chunk)
            m.d.comb += [self.o.valid.eq(emit), self.o.payload.data.eq(buf[:8 * width]),
                         self.o.payload.kind.eq(out_kind), self.o.payload.last.eq(last)]
            do_emit = self.o.valid & self.o.ready
            removed = Mux(do_emit, Mux(fill < chunk, fill, chunk), 0)
            fill_after = Signal.like(fill)
            m.d.comb += fill_after.eq(fill - removed)
            appended = shift_units(m, incoming, fill_after, 8, left=True,
                                   width=8 * buffer_bytes, name="append")
            # a tail shares the buffer with no other row: the next row waits until it is gone
            room_ok = Mux(tail, fill_after == 0, fill_after < chunk)
            m.d.comb += axi.rready.eq(rows.r_rdy & (left != 0) & room_ok)
            row_done = r_fire & (left == take)  # this beat completes the head row
            with m.If(row_done):
                m.d.comb += rows.r_en.eq(1)
                m.d.sync += tail_kind.eq(head.kind)
            shifted = Signal(8 * buffer_bytes)
            m.d.comb += shifted.eq(buf)
            for kind, size in enumerate(self.chunk_bytes):
                with m.If(do_emit & (fill >= chunk) & (out_kind == kind)):
                    m.d.comb += shifted.eq(buf.shift_right(8 * size))
            with m.If(do_emit & last):
                m.d.sync += [buf.eq(Mux(r_fire, appended, 0)), fill.eq(Mux(r_fire, take, 0)),
                             tail.eq(row_done)]
            with m.Else():
                m.d.sync += [
                    buf.eq(shifted | Mux(r_fire, appended, 0)),
                    fill.eq(fill_after + Mux(r_fire, take, 0)),
                ]
                with m.If(row_done):
                    m.d.sync += tail.eq(1)
            with m.If(r_fire):
                m.d.sync += [started.eq(~row_done), row_left.eq(left - take)]
        with m.If(self.clear):
            m.d.sync += self.read_bytes.eq(0)
        with m.Elif(r_fire):
            m.d.sync += self.read_bytes.eq(self.read_bytes + take)
        return m


class WriteDma(wiring.Component):
    """Row writes over AXI4 AW/W/B.

    Parameters
    ----------
    addr_bits, bus_bytes : int
    row_bytes : int
        Width of a row's data (``i.payload.data``); ``nbytes <= row_bytes``.
    outstanding : int
        Write bursts awaiting their B response at most.

    Members
    -------
    i : In(stream)   ``{addr, nbytes, data}`` (:func:`write_row_layout`): ``data`` byte j goes
                     to ``addr + j`` for ``j < nbytes``, ``1 <= nbytes <= row_bytes``, any byte
                     ``addr`` (other byte lanes have their strobe low); rows are written in order.
    axi : Out(axi_write_signature)
    idle : Out(1)    no row queued or in flight and every write response received.
    written_bytes : Out(COUNTER_BITS), clear : In(1)   like :class:`ReadDma`'s ``read_bytes``
                     (counted when a row is accepted).

    Throughput: one row accepted per cycle into two queues (AW and W run independently); one
    W beat per cycle.
    """

    def __init__(self, *, addr_bits, bus_bytes, row_bytes, outstanding, queue_depth=4):
        _check_port(addr_bits, bus_bytes, outstanding)
        if not isinstance(row_bytes, int) or row_bytes < 1:
            raise ValueError(f"Row width must be a positive number of bytes, not {row_bytes!r}")
        self.addr_bits, self.bus_bytes, self.row_bytes = addr_bits, bus_bytes, row_bytes
        self.outstanding, self.queue_depth = outstanding, queue_depth
        super().__init__({
            "i": In(stream.Signature(write_row_layout(addr_bits, row_bytes))),
            "axi": Out(axi_write_signature(addr_bits, 8 * bus_bytes)),
            "idle": Out(1), "written_bytes": Out(COUNTER_BITS), "clear": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus, axi, row = self.bus_bytes, self.axi, self.i
        offset_bits = exact_log2(bus)
        addr_layout = data.StructLayout({"addr": self.addr_bits, "nbytes": ROW_BYTES_BITS})
        row_layout = write_row_layout(self.addr_bits, self.row_bytes)
        m.submodules.aw_rows = aw_rows = fifo.SyncFIFO(width=addr_layout.size,
                                                       depth=self.queue_depth)
        m.submodules.w_rows = w_rows = fifo.SyncFIFO(width=row_layout.size, depth=2)
        accept = row.valid & aw_rows.w_rdy & w_rows.w_rdy
        # The AW queue holds the row's leading fields {addr, nbytes}: a prefix of its payload.
        assert all(row_layout[name].offset == field.offset for name, field in addr_layout)
        m.d.comb += [row.ready.eq(aw_rows.w_rdy & w_rows.w_rdy),
                     aw_rows.w_en.eq(accept), w_rows.w_en.eq(accept),
                     aw_rows.w_data.eq(row.payload.as_value()[:addr_layout.size]),
                     w_rows.w_data.eq(row.payload.as_value())]

        def aligned(addr):
            return Cat(Const(0, offset_bits), addr[offset_bits:])

        # -- AW: bursts of the head row ----------------------------------------------------
        aw_head = data.View(addr_layout, aw_rows.r_data)
        aw_active = Signal()
        aw_addr = Signal(self.addr_bits)
        aw_left = Signal(ROW_BEATS_BITS)
        pending = Signal(range(self.outstanding + 1))
        src_addr = Mux(aw_active, aw_addr, aligned(aw_head.addr))
        src_left = Mux(aw_active, aw_left, _beats_of_row(aw_head.addr, aw_head.nbytes, bus))
        burst = Signal(BURST_BEATS_BITS)
        m.d.comb += burst.eq(burst_beats(src_addr, src_left, bus))
        m.d.comb += [
            axi.awvalid.eq((pending < self.outstanding) & (aw_active | aw_rows.r_rdy)),
            axi.awaddr.eq(src_addr), axi.awlen.eq(burst - 1), axi.awsize.eq(offset_bits),
            axi.awburst.eq(BURST_INCR),
        ]
        aw_fire = axi.awvalid & axi.awready
        with m.If(aw_fire):
            m.d.sync += [aw_addr.eq(src_addr + burst * bus), aw_left.eq(src_left - burst),
                         aw_active.eq(src_left != burst)]
            with m.If(src_left == burst):
                m.d.comb += aw_rows.r_en.eq(1)
        b_fire = axi.bvalid & axi.bready
        m.d.comb += axi.bready.eq(1)
        m.d.sync += pending.eq(pending + aw_fire - b_fire)

        # -- W: the head row's data, shifted to its byte offset, one beat per cycle --------
        w_head = data.View(row_layout, w_rows.r_data)
        span = self.row_bytes + bus
        w_active = Signal()
        w_data = Signal(8 * span)
        w_strb = Signal(span)
        w_addr = Signal(self.addr_bits)
        w_left = Signal(ROW_BEATS_BITS)
        w_count = Signal(range(MAX_BURST_BEATS))  # beats already sent in the current burst
        offset = w_head.addr[:offset_bits] if offset_bits else Const(0, 1)
        head_data = shift_units(m, w_head.data, offset, 8, left=True, width=8 * span,
                                name="place")
        nbytes = w_head.nbytes[:ceil_log2(self.row_bytes + 1)]
        head_strb = shift_units(
            m, shift_units(m, Const((1 << span) - 1, span),
                           (span - nbytes).as_unsigned()[:ceil_log2(span + 1)], 1, left=False,
                           name="strobe_len"),
            offset, 1, left=True, name="strobe_place")
        cur_data, cur_strb = Signal(8 * span), Signal(span)
        m.d.comb += [cur_data.eq(Mux(w_active, w_data, head_data)),
                     cur_strb.eq(Mux(w_active, w_strb, head_strb))]
        cur_addr = Mux(w_active, w_addr, aligned(w_head.addr))
        cur_left = Mux(w_active, w_left, _beats_of_row(w_head.addr, w_head.nbytes, bus))
        next_addr = cur_addr + bus
        boundary = next_addr[:exact_log2(BOUNDARY_BYTES)] == 0
        m.d.comb += [
            axi.wvalid.eq(w_active | w_rows.r_rdy),
            axi.wdata.eq(cur_data[:8 * bus]), axi.wstrb.eq(cur_strb[:bus]),
            axi.wlast.eq((cur_left == 1) | boundary | (w_count == MAX_BURST_BEATS - 1)),
        ]
        w_fire = axi.wvalid & axi.wready
        with m.If(w_fire):
            m.d.sync += [w_data.eq(cur_data.shift_right(8 * bus)), w_strb.eq(cur_strb.shift_right(bus)),
                         w_addr.eq(next_addr), w_left.eq(cur_left - 1),
                         w_active.eq(cur_left != 1),
                         w_count.eq(Mux(axi.wlast, 0, w_count + 1))]
            with m.If(cur_left == 1):
                m.d.comb += w_rows.r_en.eq(1)
        m.d.comb += self.idle.eq(~row.valid & ~aw_rows.r_rdy & ~w_rows.r_rdy & ~aw_active
                                 & ~w_active & (pending == 0))
        with m.If(self.clear):
            m.d.sync += self.written_bytes.eq(0)
        with m.Elif(accept):
            m.d.sync += self.written_bytes.eq(self.written_bytes + row.payload.nbytes)
        return m
