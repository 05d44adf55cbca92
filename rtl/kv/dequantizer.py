"""BFP8_b / BFP4_b -> BF16 deferred dequantizer: packed tile bytes in, bf16 tiles out.

The packed stream is written as it arrives into one half of a double-buffered tile store
(exponent bytes and data bytes into two memories each, split by face column); a complete tile
is read out row-major, ``lanes`` codes per cycle (above 32 lanes ``lanes / 32`` whole tile rows
per beat), and decoded exactly into bf16 by ``lanes`` decoders
(:func:`hybridgen.rtl.kv.bfp.decode_value`: leading-zero normalization, bf16 subnormals kept).
Optionally bf16 tiles (the third KV-cache format) pass through, gathered into value beats.

Bit-exact model: :func:`hybridgen.golden.kvquant.bfp_unpack_tile_bf16_bits` (all formats:
:func:`hybridgen.golden.kvquant.kv_unpack_tile_bf16_bits`).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .bfp import (ExponentMemory, TileGeometry, constant_by_format, decode_value,
                  select_by_format, widen_bfp4_code)
from .layouts import format_of, packed_layout, values_out_layout

__all__ = ["BfpDequantizer", "dequantizer_latency"]


def dequantizer_latency(geometry):
    """Cycles from accepting a tile's last packed beat to its first bf16 beat, no stalls."""
    return 3


class BfpDequantizer(wiring.Component):
    """BFP8_b / BFP4_b -> bf16 tile dequantizer (docs/bfp.md), fully pipelined.

    Input: packed tiles exactly as :class:`~hybridgen.rtl.kv.packer.BfpPacker` emits them (and as
    :func:`hybridgen.golden.kvquant.bfp_pack_tile` writes them), ``bus_bytes`` per beat. The unit frames
    tiles by counting beats (``tile bytes / bus_bytes`` per tile); ``i.payload.last`` is not
    needed and ignored. With two BFP formats, ``i.payload.bfp4`` on a tile's first beat selects
    the format of the tile; with ``"bf16"`` in the geometry's formats, ``i.payload.bf16`` on a
    tile's first beat selects bf16 pass-through: the tile is its 1024 values row-major (2048
    bytes), ``2 lanes / bus_bytes`` packed beats make one output beat, loaded into the output
    register with the beat that completes it (latency 1). A bf16 tile is accepted once the
    tile store has drained, so tiles leave in the order they came.

    Output: the tile's bf16 values, row-major, ``lanes`` per beat, ``last`` on the tile's final
    beat. Every datum is decoded exactly: ``(-1)^s * M * 2^(E - 127 - (mbits - 1))`` as a normal
    bf16, as a bf16 subnormal below the normal range (kept, not flushed), as +-inf at 2^128 and
    above (only for ``E = 255``, which the packer never writes); ``M = 0`` gives a zero with the
    code's sign.

    Throughput: ``lanes`` values per cycle, tile after tile without a gap, when the packed bus
    keeps up; otherwise the input is accepted every cycle (the bus is the limit), the exponent
    beat(s) of a tile included. At 128 lanes on a 64-byte bus (``kv-decode``) the bus is the
    limit for every format: 1024 / 17 BFP8, 1024 / 9 BFP4 and 32 bf16 values per cycle. A complete
    tile is held (its last face is needed for the first output row), double-buffered so the
    next tile streams in meanwhile. Latency: :attr:`latency`. Every stream tolerates arbitrary
    back-pressure and bubbles; tiles are never split, merged or reordered.

    The read pipeline has three steps (address, memory, decode into the output register) under
    one clock enable ``~o.valid | o.ready``; ``o.payload`` is a register.

    Parameters
    ----------
    geometry : TileGeometry

    Members
    -------
    i : In(stream.Signature(packed_layout))
        Packed bytes.
    o : Out(stream.Signature(values_out_layout))
        bf16 values.
    """

    def __init__(self, geometry):
        if not isinstance(geometry, TileGeometry):
            raise TypeError(f"geometry must be a TileGeometry, not {geometry!r}")
        self._geometry = geometry
        super().__init__({"i": In(stream.Signature(packed_layout(geometry))),
                          "o": Out(stream.Signature(values_out_layout(geometry)))})

    @property
    def geometry(self):
        return self._geometry

    @property
    def latency(self):
        """Cycles from a tile's last packed beat accepted to its first bf16 beat valid, with no
        stalls and the output free (3)."""
        return dequantizer_latency(self._geometry)

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
        # read pipeline: clock enable, stage b (memory read) and stage c (the output register)
        en = Signal()
        b_valid, b_bank, b_last, b_fmt = (Signal(name=f"b_{x}") for x in
                                          ("valid", "bank", "last", "fmt"))
        c_valid = Signal()
        c_data = Signal(16 * lanes)
        c_last = Signal()
        m.d.comb += en.eq(~c_valid | self.o.ready)

        # ---- write side: packed beats into buffer `write_buffer` ------------------------------
        p = self.i.payload
        n = Signal(range(g.max_tile_beats))
        tile_fmt = Signal()
        if g.runtime_format:
            bfp4 = Mux(n == 0, p.bfp4, tile_fmt)
        else:
            bfp4 = Const(int(g.bfp_formats == ("bfp4",)), 1)
        if g.runtime_bf16:
            tile_bf16 = Signal()
            bf16 = Signal()
            m.d.comb += bf16.eq(Mux(n == 0, p.bf16, tile_bf16))
        else:
            bf16 = Const(0, 1)
        fmt = format_of(g, bfp4)
        accept = Signal()
        bfp_ready = ~full.bit_select(write_buffer, 1)
        is_exp = n < g.exp_beats
        last_in = n == constant_by_format(g, fmt, lambda f: g.tile_beats(f) - 1)
        if g.runtime_bf16:
            last_in = Mux(bf16, n == g.tile_beats("bf16") - 1, last_in)
            bf16_take = accept & bf16
            bf16_done, bf16_beat = self._bf16_gather(m, g, n, bf16_take, p.data.as_value())
            # a bf16 tile passes once the tile store is drained and the output register free
            bf16_ready = (full == 0) & ~b_valid & (~bf16_done | en)
            m.d.comb += self.i.ready.eq(Mux(bf16, bf16_ready, bfp_ready))
        else:
            m.d.comb += self.i.ready.eq(bfp_ready)
        m.d.comb += accept.eq(self.i.valid & self.i.ready)
        store = accept & ~bf16
        q = Cat(Const(0, exact_log2(bus)), (n - g.exp_beats)[:10])[:10]
        locations = {f: g.bus_location(q, f) for f in g.bfp_formats}
        bank_in = select_by_format(g, fmt, {f: v[0] for f, v in locations.items()})
        local_in = select_by_format(g, fmt, {f: v[1] for f, v in locations.items()})
        segment = g.word_offset(local_in) >> exact_log2(bus)
        enables = Cat(*((segment == s).replicate(bus) for s in range(word // bus)))
        for b, (write, _read) in enumerate(banks):
            m.d.comb += [
                write.addr.eq(g.word_address(write_buffer, local_in)),
                write.data.eq(Cat(*([p.data.as_value()] * (word // bus)))),
                write.en.eq(Mux(store & ~is_exp & (bank_in == b), enables, 0)),
            ]
        exp_beat = n[:exact_log2(g.exp_beats)] if g.exp_beats > 1 else Const(0, 1)
        exps.write_beat(m, store & is_exp, write_buffer, exp_beat, p.data.as_value())
        with m.If(accept):
            m.d.sync += [n.eq(n + 1), tile_fmt.eq(bfp4)]
            if g.runtime_bf16:
                m.d.sync += tile_bf16.eq(bf16)
            with m.If(last_in):
                m.d.sync += n.eq(0)
            with m.If(store & last_in):
                for b in range(2):
                    with m.If(write_buffer == b):
                        m.d.sync += [full[b].eq(1), fmt_buf[b].eq(bfp4)]
                m.d.sync += write_buffer.eq(~write_buffer)

        # ---- read side: a full buffer, row-major, `lanes` codes per cycle ---------------------
        read_fmt = format_of(g, fmt_buf.bit_select(read_buffer, 1))
        beat = Signal(range(g.value_beats))
        last = beat == g.value_beats - 1
        position = Cat(Const(0, exact_log2(lanes)), beat)[:10]          # row * 32 + column
        row, col = position[5:10], position[0:5]
        column = Const(0, 4) if g.halves == 2 else col[:4]
        bank_sel = Const(0, 1) if g.halves == 2 else col[4]
        local = select_by_format(g, read_fmt, {f: g.lane_location(row, column, f)
                                            for f in g.bfp_formats})
        for _write, read in banks:
            m.d.comb += [read.addr.eq(g.word_address(read_buffer, local)), read.en.eq(en)]
        exp_offset = exps.read_byte_address(m, en, read_buffer, row)
        issue = en & full.bit_select(read_buffer, 1)
        with m.If(issue):
            m.d.sync += beat.eq(beat + 1)
            with m.If(last):
                for b in range(2):
                    with m.If(read_buffer == b):
                        m.d.sync += full[b].eq(0)
                m.d.sync += read_buffer.eq(~read_buffer)

        b_offset = Signal(max(1, exact_log2(word)))
        b_exp_offset = Signal(exp_offset.shape())
        with m.If(en):
            m.d.sync += [b_valid.eq(full.bit_select(read_buffer, 1)), b_bank.eq(bank_sel),
                         b_last.eq(last), b_fmt.eq(read_fmt), b_offset.eq(g.word_offset(local))]
            m.d.sync += b_exp_offset.eq(exp_offset)
        if g.halves == 2:   # `rows` exponents per bank, the first row's lowest
            b_exps = [exps.read_byte_data(h, b_exp_offset, g.rows) for h in range(2)]
        else:
            b_exps = [Mux(b_bank, exps.read_byte_data(1, b_exp_offset),
                          exps.read_byte_data(0, b_exp_offset))]

        # Decode: pick this beat's bytes out of the memory word(s), widen BFP4 codes, decode.
        # Within a bank's bytes of a beat, tile row r (of `rows`) holds codes r * 16 .. + 15.
        b_bfp4 = format_of(g, b_fmt)
        values = [[[] for _h in range(g.halves)] for _r in range(g.rows)]
        for h in range(g.halves):
            if g.halves == 2:
                data_word = banks[h][1].data
            else:
                data_word = Mux(b_bank, banks[1][1].data, banks[0][1].data)
            codes = {}
            for f in g.bfp_formats:
                size = g.lane_bytes(f)
                segment = (data_word.word_select(b_offset >> exact_log2(size), 8 * size)
                           if word > size else data_word)
                if f == "bfp8":
                    codes[f] = [segment[8 * j:8 * j + 8] for j in range(g.bank_lanes)]
                else:
                    codes[f] = [widen_bfp4_code(segment[4 * j:4 * j + 4])
                                for j in range(g.bank_lanes)]
            for r in range(g.rows):
                exponent = b_exps[h][8 * r:8 * r + 8]
                for j in range(face_lanes):
                    k = r * face_lanes + j
                    code = select_by_format(g, b_bfp4, {f: codes[f][k] for f in g.bfp_formats})
                    lane = (r * g.halves + h) * face_lanes + j
                    values[r][h].append(decode_value(m, code, exponent, f"lane{lane}"))
        values = [v for per_row in values for per_half in per_row for v in per_half]
        with m.If(en):
            m.d.sync += [c_valid.eq(b_valid), c_data.eq(Cat(*values)), c_last.eq(b_last)]
        if g.runtime_bf16:   # never together with a valid stage b (see bf16_ready)
            with m.If(bf16_take & bf16_done):
                m.d.sync += [c_valid.eq(1), c_data.eq(bf16_beat), c_last.eq(last_in)]
        m.d.comb += [self.o.valid.eq(c_valid), self.o.payload.data.eq(c_data),
                     self.o.payload.last.eq(c_last)]
        return m

    @staticmethod
    def _bf16_gather(m, g, n, take, data):
        """bf16 pass-through: ``bf16_gather`` packed beats (counted by ``n``) make one value
        beat; the first ``bf16_gather - 1`` of them wait in a register (``take``: a bf16 beat
        accepted). Returns (1-bit "this beat completes a value beat", the value beat)."""
        gather = g.bf16_gather
        if gather == 1:
            done = Const(1, 1)
            beat = data
        else:
            slot = n[:exact_log2(gather)]
            done = Signal(name="bf16_done")
            slots = Signal(8 * g.bus_bytes * (gather - 1), name="bf16_slots")
            m.d.comb += done.eq(slot == gather - 1)
            with m.If(take & ~done):
                m.d.sync += slots.word_select(slot, 8 * g.bus_bytes).eq(data)
            beat = Cat(slots, data)
        return done, beat
