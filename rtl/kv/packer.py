"""BF16 -> BFP8_b / BFP4_b packer: 32x32 bf16 tiles in, the packed tile bytes out.

The packer is a chain of stream stages:

1. a beat counter tags every input beat with its position in the tile and the tile's format;
2. the *row exponent* stage finds each face row's shared exponent ``E``: with ``lanes >= 16`` a
   beat holds whole face rows and :class:`RowExponent` computes ``E`` in one pipeline stage;
   with fewer lanes a face row spans ``16 / lanes`` beats and :class:`FaceRowStager` collects it
   in one of two row slots (ping-pong) and replays its beats with the final ``E`` while the next
   row fills the other slot;
3. :class:`BfpEncodeLanes` encodes ``lanes`` values per cycle (one pipeline stage);
4. :class:`PackerTileBuffer` writes the codes and exponents of a tile into one half of a double
   buffer and streams the other, complete, half out as packed bytes.

Bit-exact model: :func:`hybridgen.golden.kvquant.bfp_pack_tile` (``bf16_bits=True``).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.rtl.arith.pipeline import StreamPipeline

from .bfp import (ExponentMemory, TileGeometry, constant_by_format, effective_exponent,
                  encode_value, max_tree, select_by_format)
from .layouts import format_of, packed_layout, values_in_layout

__all__ = ["BfpPacker", "FaceRowStager", "RowExponent", "BfpEncodeLanes", "PackerTileBuffer",
           "packer_latency"]


def _beat_shape(geometry):
    return unsigned(max(1, exact_log2(geometry.value_beats)))


def tagged_layout(geometry):
    """A value-side beat with its tile position (``beat``) and the tile's format."""
    return data.StructLayout({"data": data.ArrayLayout(unsigned(16), geometry.lanes),
                              "bfp4": unsigned(1), "beat": _beat_shape(geometry)})


def rowed_layout(geometry):
    """A tagged beat with the shared exponent of each face row segment in it."""
    return data.StructLayout({"data": data.ArrayLayout(unsigned(16), geometry.lanes),
                              "exps": data.ArrayLayout(unsigned(8), geometry.halves),
                              "bfp4": unsigned(1), "beat": _beat_shape(geometry)})


def coded_layout(geometry):
    """Codes of a beat (one per byte; BFP4 codes in the low nibble) with their exponents."""
    return data.StructLayout({"codes": data.ArrayLayout(unsigned(8), geometry.lanes),
                              "exps": data.ArrayLayout(unsigned(8), geometry.halves),
                              "bfp4": unsigned(1), "beat": _beat_shape(geometry)})


def packer_latency(geometry):
    """Cycles from accepting a tile's last input beat to its first packed beat, no stalls."""
    return 4 if geometry.lanes >= 16 else geometry.row_beats + 4


class RowExponent(wiring.Component):
    """Shared exponent of each whole face row in a beat (``lanes >= 16``); latency 1.

    Pipelined datapath unit (:mod:`hybridgen.rtl.arith.pipeline` convention). ``o.exps[h]`` is the
    largest :func:`~hybridgen.rtl.kv.bfp.effective_exponent` of values ``16h .. 16h + 15``; the other
    fields pass through.

    Members
    -------
    en : In(1)
    data, bfp4, beat : In
        The fields of :func:`tagged_layout`.
    o : Out(rowed_layout)
    """

    def __init__(self, geometry):
        if geometry.lanes < 16:
            raise ValueError(f"RowExponent needs lanes >= 16, not {geometry.lanes}")
        self._geometry = geometry
        layout = tagged_layout(geometry)
        super().__init__({"en": In(1), **{name: In(f.shape) for name, f in layout},
                          "o": Out(rowed_layout(geometry))})

    @property
    def latency(self):
        return 1

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        with m.If(self.en):
            m.d.sync += [self.o.data.eq(self.data), self.o.bfp4.eq(self.bfp4),
                         self.o.beat.eq(self.beat)]
            for h in range(g.halves):
                row_max = max_tree(m, (effective_exponent(m, self.data[16 * h + j],
                                                          f"e{16 * h + j}")
                                       for j in range(16)), f"max{h}")
                m.d.sync += self.o.exps[h].eq(row_max)
        return m


class FaceRowStager(wiring.Component):
    """Shared exponents for ``lanes < 16``: collect each face row, replay it with its ``E``.

    Two row slots of 16 values in one small memory (``2 * 16 / lanes`` words of ``lanes``
    values): the input fills one slot (``16 / lanes`` beats, keeping a running maximum of the
    exponents) while the output replays the other, one beat per cycle, each beat carrying the
    row's final exponent. The output is a pipeline register (read address, then memory data
    under the clock enable ``~o.valid | o.ready``). Throughput one beat per cycle; a beat leaves
    ``16 / lanes + 1`` cycles after the last beat of its row arrives at the earliest.

    Members
    -------
    i : In(stream.Signature(tagged_layout))
    o : Out(stream.Signature(rowed_layout))
    """

    def __init__(self, geometry):
        if geometry.lanes >= 16:
            raise ValueError(f"FaceRowStager needs lanes < 16, not {geometry.lanes}")
        self._geometry = geometry
        super().__init__({"i": In(stream.Signature(tagged_layout(geometry))),
                          "o": Out(stream.Signature(rowed_layout(geometry)))})

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        lanes, beats = g.lanes, g.row_beats
        k_bits = exact_log2(beats)
        beat_bits = _beat_shape(g).width

        m.submodules.slots = slots = Memory(shape=unsigned(16 * lanes), depth=2 * beats,
                                            init=[])             # [slot][beat in row]
        write, read = slots.write_port(), slots.read_port()
        full = Signal(2)
        slot_exp = [Signal(8, name=f"slot{b}_exp") for b in range(2)]
        slot_row = [Signal(beat_bits - k_bits, name=f"slot{b}_row") for b in range(2)]
        slot_fmt = Signal(2)
        write_slot = Signal()
        read_slot = Signal()
        read_beat = Signal(k_bits)
        running = Signal(8)

        # Input side: fill slot `write_slot`.
        p = self.i.payload
        k = p.beat[:k_bits]
        beat_max = max_tree(m, (effective_exponent(m, p.data[j], f"e{j}")
                                for j in range(lanes)), "beat_max")
        row_max = Signal(8)
        accept = Signal()
        m.d.comb += [row_max.eq(Mux((k == 0) | (running < beat_max), beat_max, running)),
                     self.i.ready.eq(~full.bit_select(write_slot, 1)),
                     accept.eq(self.i.valid & self.i.ready),
                     write.addr.eq(Cat(k, write_slot)), write.data.eq(p.data),
                     write.en.eq(accept)]
        with m.If(accept):
            m.d.sync += running.eq(row_max)
            with m.If(k == beats - 1):
                for b in range(2):
                    with m.If(write_slot == b):
                        m.d.sync += [full[b].eq(1), slot_exp[b].eq(row_max),
                                     slot_row[b].eq(p.beat[k_bits:]), slot_fmt[b].eq(p.bfp4)]
                m.d.sync += write_slot.eq(~write_slot)

        # Output side: replay slot `read_slot` through the memory's read register.
        en = Signal()
        o_valid = Signal()
        m.d.comb += [en.eq(~o_valid | self.o.ready),
                     read.addr.eq(Cat(read_beat, read_slot)), read.en.eq(en)]
        ready_slot = full.bit_select(read_slot, 1)
        o_exp = Signal(8)
        o_fmt = Signal()
        o_beat = Signal(beat_bits)
        with m.If(en):
            m.d.sync += [o_valid.eq(ready_slot),
                         o_exp.eq(Mux(read_slot, slot_exp[1], slot_exp[0])),
                         o_fmt.eq(slot_fmt.bit_select(read_slot, 1)),
                         o_beat.eq(Cat(read_beat, Mux(read_slot, slot_row[1], slot_row[0])))]
            with m.If(ready_slot):
                m.d.sync += read_beat.eq(read_beat + 1)
                with m.If(read_beat == beats - 1):
                    for b in range(2):
                        with m.If(read_slot == b):
                            m.d.sync += full[b].eq(0)
                    m.d.sync += read_slot.eq(~read_slot)
        o = self.o.payload
        m.d.comb += [self.o.valid.eq(o_valid), o.data.eq(read.data), o.exps[0].eq(o_exp),
                     o.bfp4.eq(o_fmt), o.beat.eq(o_beat)]
        return m


class BfpEncodeLanes(wiring.Component):
    """``lanes`` encoders (:func:`~hybridgen.rtl.kv.bfp.encode_value`); latency 1.

    Pipelined datapath unit. Lane ``k`` uses ``exps[k // 16]``; ``bfp4`` selects the format
    (ignored when the geometry has one format).

    Members
    -------
    en : In(1)
    data, exps, bfp4, beat : In
        The fields of :func:`rowed_layout`.
    o : Out(coded_layout)
    """

    def __init__(self, geometry):
        self._geometry = geometry
        layout = rowed_layout(geometry)
        super().__init__({"en": In(1), **{name: In(f.shape) for name, f in layout},
                          "o": Out(coded_layout(geometry))})

    @property
    def latency(self):
        return 1

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        bfp4 = format_of(g, self.bfp4)
        with m.If(self.en):
            m.d.sync += [self.o.exps.eq(self.exps), self.o.bfp4.eq(self.bfp4),
                         self.o.beat.eq(self.beat)]
            for k in range(g.lanes):
                code = encode_value(m, self.data[k], self.exps[k // g.face_lanes], bfp4,
                                    f"lane{k}")
                m.d.sync += self.o.codes[k].eq(code)
        return m


class PackerTileBuffer(wiring.Component):
    """Double-buffered tile store of the packer: codes in (lane order), packed bytes out.

    Write side: one coded beat per cycle into the tile buffer ``write_buffer``; its last beat
    marks the buffer full and switches to the other one. ``i.ready`` is low only while the
    buffer to be written still holds a tile that has not been read out completely.

    Read side: a full buffer is streamed out as ``tile bytes / bus_bytes`` beats (exponent beats
    first, then data face by face), ``last`` on the final beat; the buffer is free again as soon
    as its last beat is read from memory, and the next full buffer follows on the next cycle.
    The read pipeline has two steps (address, then the memories' read registers, which are the
    output register) under one clock enable ``~o.valid | o.ready``; ``o.payload`` is the read
    data through one 2:1 multiplexer (exponent or data bytes).

    Members
    -------
    i : In(stream.Signature(coded_layout))
    o : Out(stream.Signature(packed_layout))
    """

    def __init__(self, geometry):
        self._geometry = geometry
        super().__init__({"i": In(stream.Signature(coded_layout(geometry))),
                          "o": Out(stream.Signature(packed_layout(geometry)))})

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        lanes, bus, word = g.lanes, g.bus_bytes, g.word_bytes
        face_lanes = g.face_lanes

        banks = []
        for b in range(2):
            memory = Memory(shape=unsigned(8 * word), depth=g.bank_depth, init=[])
            m.submodules[f"bank{b}"] = memory
            banks.append((memory.write_port(granularity=8), memory.read_port()))
        exps = ExponentMemory(m, g)                      # [buffer][tile row] per face column
        full = Signal(2)
        fmt_buf = Signal(2)
        write_buffer = Signal()
        read_buffer = Signal()

        # ---- write side ----------------------------------------------------------------------
        p = self.i.payload
        bfp4 = format_of(g, p.bfp4)
        accept = Signal()
        m.d.comb += [self.i.ready.eq(~full.bit_select(write_buffer, 1)),
                     accept.eq(self.i.valid & self.i.ready)]
        position = Cat(Const(0, exact_log2(lanes)), p.beat)[:10]     # row * 32 + column
        row, col = position[5:10], position[0:5]
        for b, (write, _read) in enumerate(banks):
            h = b if g.halves == 2 else 0
            active = Const(1) if g.halves == 2 else (col[4] == b)
            column = Const(0, 4) if g.halves == 2 else col[:4]
            codes = [p.codes[h * face_lanes + j] for j in range(face_lanes)]
            bytes8 = Cat(*codes)
            bytes4 = Cat(*(Cat(codes[2 * j][:4], codes[2 * j + 1][:4])
                           for j in range(face_lanes // 2)))
            choices = {}
            for fmt, payload in (("bfp8", bytes8), ("bfp4", bytes4)):
                if fmt not in g.formats:
                    continue
                local = g.lane_location(row, column, fmt)
                size = g.lane_bytes(fmt)
                segment = g.word_offset(local) >> exact_log2(size)
                enables = Cat(*((segment == s).replicate(size) for s in range(word // size)))
                choices[fmt] = (g.word_address(write_buffer, local),
                                Cat(*([payload] * (word // size))), enables)
            address, wdata, enables = _select_format(g, bfp4, choices)
            m.d.comb += [write.addr.eq(address), write.data.eq(wdata),
                         write.en.eq(Mux(accept & active, enables, 0))]
        for b in range(2):
            h = b if g.halves == 2 else 0
            active = Const(1) if g.halves == 2 else (col[4] == b)
            exps.write_byte(m, b, accept & active, write_buffer, row, p.exps[h])
        with m.If(accept):
            with m.If(p.beat == g.value_beats - 1):
                for b in range(2):
                    with m.If(write_buffer == b):
                        m.d.sync += [full[b].eq(1), fmt_buf[b].eq(p.bfp4)]
                m.d.sync += write_buffer.eq(~write_buffer)

        # ---- read side -----------------------------------------------------------------------
        en = Signal()
        b_valid = Signal()
        m.d.comb += en.eq(~b_valid | self.o.ready)
        read_fmt = format_of(g, fmt_buf.bit_select(read_buffer, 1))
        beat = Signal(range(g.max_tile_beats))
        last = Signal()
        is_exp = Signal()
        m.d.comb += [
            last.eq(beat == constant_by_format(g, read_fmt, lambda f: g.tile_beats(f) - 1)),
            is_exp.eq(beat < g.exp_beats),
        ]
        q = Cat(Const(0, exact_log2(bus)), (beat - g.exp_beats)[:10])[:10]
        locations = {fmt: g.bus_location(q, fmt) for fmt in g.formats}
        bank_sel = select_by_format(g, read_fmt, {f: v[0] for f, v in locations.items()})
        local = select_by_format(g, read_fmt, {f: v[1] for f, v in locations.items()})
        for _write, read in banks:
            m.d.comb += [read.addr.eq(g.word_address(read_buffer, local)), read.en.eq(en)]
        exp_beat = beat[:exact_log2(g.exp_beats)] if g.exp_beats > 1 else Const(0, 1)
        exp_bank = exps.read_beat_address(m, en, read_buffer, exp_beat)
        issue = en & full.bit_select(read_buffer, 1)
        with m.If(issue):
            m.d.sync += beat.eq(beat + 1)
            with m.If(last):
                m.d.sync += beat.eq(0)
                for b in range(2):
                    with m.If(read_buffer == b):
                        m.d.sync += full[b].eq(0)
                m.d.sync += read_buffer.eq(~read_buffer)

        b_is_exp, b_bank, b_last, b_fmt = (Signal(name=f"b_{n}") for n in
                                           ("is_exp", "bank", "last", "fmt"))
        b_exp_bank = Signal()
        b_offset = Signal(max(1, exact_log2(word)))
        with m.If(en):
            m.d.sync += [b_valid.eq(full.bit_select(read_buffer, 1)), b_is_exp.eq(is_exp),
                         b_bank.eq(bank_sel), b_last.eq(last), b_fmt.eq(read_fmt),
                         b_exp_bank.eq(exp_bank), b_offset.eq(g.word_offset(local))]
        data_word = Mux(b_bank, banks[1][1].data, banks[0][1].data)
        data_bytes = (data_word.word_select(b_offset >> exact_log2(bus), 8 * bus) if word > bus
                      else data_word)
        # The memories' read registers (and the b_* registers beside them) are the output
        # register: o.payload is one 2:1 byte multiplexer (plus a word slice) behind them.
        m.d.comb += [self.o.valid.eq(b_valid),
                     self.o.payload.data.eq(Mux(b_is_exp, exps.read_beat_data(b_exp_bank),
                                                data_bytes)),
                     self.o.payload.last.eq(b_last)]
        if g.runtime_format:
            m.d.comb += self.o.payload.bfp4.eq(b_fmt)
        return m


def _select_format(geometry, bfp4, choices):
    """Tuple-wise :func:`~hybridgen.rtl.kv.bfp.select_by_format` of per-format tuples."""
    size = len(next(iter(choices.values())))
    return tuple(select_by_format(geometry, bfp4, {f: v[i] for f, v in choices.items()})
                 for i in range(size))


class BfpPacker(wiring.Component):
    """BF16 -> BFP8_b / BFP4_b tile packer (docs/bfp.md), fully pipelined.

    Input: 32x32 bf16 tiles, row-major, ``lanes`` values per beat (``1024 / lanes`` beats per
    tile, no framing signal: the unit counts beats). Output: each tile's bytes exactly as
    :func:`hybridgen.golden.kvquant.bfp_pack_tile` writes them - 64 exponent bytes, then the codes face by
    face - ``bus_bytes`` per beat, ``last`` on the tile's final beat (see
    :mod:`hybridgen.rtl.kv.layouts` for the payloads and the framing).

    Format: fixed by the geometry, or (two formats) chosen per tile by ``i.payload.bfp4`` on the
    tile's first beat, and reported on every output beat of the tile in ``o.payload.bfp4``.

    Numerics (the policy of :mod:`hybridgen.golden.kvquant`): subnormal inputs and NaN are zeros
    (contribute 0 to ``E``, code 0); +-inf contributes 254 to ``E`` and encodes as the largest
    magnitude with its sign; a datum rounding to 0 has sign 0.

    Throughput: one input beat per cycle, tile after tile without a gap, as long as the packed
    bus keeps up (``bus_bytes * 1024 >= lanes * tile bytes``); otherwise the packed bus is busy
    every cycle and the input is back-pressured. A complete tile is held (its exponents precede
    its data), double-buffered so the next tile streams in meanwhile. Latency: see
    :attr:`latency`. Every stream tolerates arbitrary back-pressure and bubbles; tiles are never
    split, merged or reordered.

    Parameters
    ----------
    geometry : TileGeometry

    Members
    -------
    i : In(stream.Signature(values_in_layout))
        bf16 values.
    o : Out(stream.Signature(packed_layout))
        Packed bytes.
    """

    def __init__(self, geometry):
        if not isinstance(geometry, TileGeometry):
            raise TypeError(f"geometry must be a TileGeometry, not {geometry!r}")
        if geometry.lanes > 32 or "bf16" in geometry.formats:
            raise ValueError(f"the packer takes at most 32 lanes and BFP formats only, not "
                             f"lanes {geometry.lanes} with formats {geometry.formats!r}")
        self._geometry = geometry
        super().__init__({"i": In(stream.Signature(values_in_layout(geometry))),
                          "o": Out(stream.Signature(packed_layout(geometry)))})

    @property
    def geometry(self):
        return self._geometry

    @property
    def latency(self):
        """Cycles from a tile's last input beat accepted to its first output beat valid, with
        no stalls and the buffer free (``16 / lanes + 4`` for fewer than 16 lanes, else 4)."""
        return packer_latency(self._geometry)

    def elaborate(self, platform):
        m = Module()
        g = self._geometry

        # Tag each beat with its position in the tile and the tile's format.
        beat = Signal(_beat_shape(g))
        tile_fmt = Signal()
        if g.runtime_format:
            bfp4 = Mux(beat == 0, self.i.payload.bfp4, tile_fmt)
        else:
            bfp4 = Const(int(g.formats == ("bfp4",)), 1)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [beat.eq(beat + 1), tile_fmt.eq(bfp4)]

        if g.lanes >= 16:
            front = StreamPipeline(RowExponent(g), in_layout=tagged_layout(g))
        else:
            front = FaceRowStager(g)
        m.submodules.row_exponent = front
        m.submodules.encode = encode = StreamPipeline(BfpEncodeLanes(g),
                                                      in_layout=rowed_layout(g))
        m.submodules.tile_buffer = tile_buffer = PackerTileBuffer(g)
        m.d.comb += [
            front.i.valid.eq(self.i.valid),
            front.i.payload.data.eq(self.i.payload.data),
            front.i.payload.bfp4.eq(bfp4),
            front.i.payload.beat.eq(beat),
            self.i.ready.eq(front.i.ready),
        ]
        wiring.connect(m, row_exponent=front.o, encode=encode.i)
        wiring.connect(m, encode=encode.o, tile_buffer=tile_buffer.i)
        wiring.connect(m, tile_buffer=tile_buffer.o, packer=wiring.flipped(self.o))
        return m
