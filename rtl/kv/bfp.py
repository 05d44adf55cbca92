"""Per-value BFP8_b / BFP4_b arithmetic (docs/bfp.md) and the tile geometry.

The combinational functions here are the datapath of :mod:`hybridgen.rtl.kv.packer` and
:mod:`hybridgen.rtl.kv.dequantizer`; their bit-exact model is :mod:`hybridgen.golden.kvquant`
(``bfp_encode_blocks`` / ``bfp_decode_blocks_bf16_bits``), which they match for every input.

* :func:`effective_exponent` - what a bf16 value contributes to its face row's shared exponent
  ``E``: its biased exponent when normal, 254 for +-inf, 0 for zeros, subnormals and NaN.
* :func:`encode_value` - the sign-magnitude code of a bf16 value in a row with exponent ``E``.
  A bf16 value has only 8 significant bits (``a = 1.f``), so the 24-bit shift-and-round of the
  format reduces to ``q = a >> p``, round bit ``a[p-1]``, sticky ``a[p-2:0]`` with
  ``p = E - e + 1`` (BFP8) or ``E - e + 5`` (BFP4); no bit of a bf16 input is ever shifted out
  of the 24-bit window before the round bit, so the format's "dropped bits are not sticky" rule
  never changes a bf16 result.
* :func:`decode_value` - the exact bf16 of a code: a leading-zero count normalizes ``M``; a
  result below the bf16 normal range keeps its bits as a bf16 subnormal. A BFP4 code is first
  widened to the BFP8 code of the same value (``M4 / 2^2 = (M4 << 4) / 2^6``), so one decoder
  serves both formats.

:class:`TileGeometry` holds the static shape of the tile buffers shared by both units.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, Value, unsigned
from amaranth.lib.memory import Memory
from amaranth.utils import exact_log2

__all__ = ["TILE_BYTES", "DATA_BYTES", "BFP_FORMATS", "TileGeometry", "ExponentMemory", "effective_exponent",
           "max_tree", "encode_value", "decode_value", "widen_bfp4_code", "select_by_format",
           "constant_by_format"]

#: Bytes of one packed 32x32 tile: 64 exponents + data (bf16: the 32 x 32 values, row-major).
TILE_BYTES = {"bfp8": 64 + 1024, "bfp4": 64 + 512, "bf16": 2048}
#: Data bytes of one tile (after the 64 exponent bytes).
DATA_BYTES = {"bfp8": 1024, "bfp4": 512}
#: The block floating point formats (the ones with exponents, codes and a tile store).
BFP_FORMATS = ("bfp8", "bfp4")


class TileGeometry:
    """Static shape of a unit: lanes, bus width, tile buffer banks and words.

    The tile buffer of both units holds two tiles (double buffering) of packed data in two banks:
    bank 0 the left faces (0 and 2), bank 1 the right faces (1 and 3). Within a bank the bytes of
    a tile are at ``row * 16 + col`` (BFP8) or ``row * 8 + col / 2`` (BFP4), with ``row`` the tile
    row (0..31) and ``col`` the column within the face (0..15): the lane side (values, row-major)
    touches one bank per face row segment, the bus side (bytes, face by face) one bank per beat,
    since a beat (``bus_bytes <= 64``) never straddles two faces (256 resp. 128 bytes).

    Above 32 lanes a value-side beat is ``rows = lanes / 32`` whole tile rows (2 or 4): the
    ``rows`` consecutive face row segments of each bank are contiguous bank bytes (``16 rows``
    BFP8, ``8 rows`` BFP4, row-aligned), so one bank word of ``max(16 rows, bus_bytes)`` bytes
    holds them and a beat still reads one word per bank and ``rows`` exponents per bank.

    Parameters
    ----------
    lanes : int
        bf16 values per beat on the value side (power of two, 2..128; above 32 the packed bus
        must be at least ``lanes / 16`` bytes and the geometry serves the dequantizer only).
    bus_bytes : int
        Bytes per beat on the packed side (power of two, 1..64; divides both tile sizes).
    formats : tuple of str
        A non-empty subset of ``("bfp8", "bfp4", "bf16")`` in this order, holding at least one
        BFP format; with two BFP formats the BFP format is chosen per tile at run time, and
        with ``"bf16"`` and another format bf16 pass-through is too (dequantizer only; needs
        ``2 * lanes >= bus_bytes``).
    """

    def __init__(self, *, lanes, bus_bytes, formats):
        if lanes not in (2, 4, 8, 16, 32, 64, 128):
            raise ValueError(f"lanes must be a power of two in 2..128, not {lanes!r}")
        if bus_bytes not in (1, 2, 4, 8, 16, 32, 64):
            raise ValueError(f"bus_bytes must be a power of two in 1..64, not {bus_bytes!r}")
        formats = tuple(formats) if formats else ()
        if (not formats or any(f not in TILE_BYTES for f in formats)
                or formats != tuple(f for f in TILE_BYTES if f in formats)
                or not any(f in BFP_FORMATS for f in formats)):
            raise ValueError(f"formats must be a subset of ('bfp8', 'bfp4', 'bf16') in that order "
                             f"with at least one BFP format, not {formats!r}")
        if lanes > 32 and bus_bytes < lanes // 16:
            raise ValueError(f"bus_bytes must be at least lanes / 16 = {lanes // 16} above 32 "
                             f"lanes, not {bus_bytes!r}")
        if "bf16" in formats and 2 * lanes < bus_bytes:
            raise ValueError(f"bf16 pass-through needs 2 * lanes >= bus_bytes, not lanes "
                             f"{lanes} with bus_bytes {bus_bytes}")
        self.lanes = lanes
        self.bus_bytes = bus_bytes
        self.formats = formats
        #: the BFP formats of ``formats`` (bf16 pass-through excluded)
        self.bfp_formats = tuple(f for f in formats if f in BFP_FORMATS)
        #: values of one face row segment per beat (one bank); 16 when lanes >= 16
        self.face_lanes = min(lanes, 16)
        #: face row segments (= banks touched) per tile row of a value-side beat: 2 from 32 lanes
        self.halves = min(lanes // self.face_lanes, 2)
        #: tile rows per value-side beat (1 up to 32 lanes, then 2 or 4)
        self.rows = max(1, lanes // 32)
        #: values per bank per value-side beat
        self.bank_lanes = self.face_lanes * self.rows
        #: face rows per value-side beat is halves; beats per face row is rows_beats (L < 16)
        self.row_beats = 16 // self.face_lanes
        #: bytes of one memory word
        self.word_bytes = max(self.bank_lanes, bus_bytes)
        #: words per bank (two tiles of 512 bytes each per bank)
        self.bank_depth = 2 * 512 // self.word_bytes
        #: value-side beats per tile
        self.value_beats = 1024 // lanes
        #: packed-side beats of the 64 exponent bytes
        self.exp_beats = 64 // bus_bytes

    @property
    def runtime_format(self):
        """True when the BFP format (BFP8 or BFP4) is chosen per tile at run time."""
        return len(self.bfp_formats) == 2

    @property
    def runtime_bf16(self):
        """True when bf16 pass-through is chosen per tile at run time (``bf16`` and a BFP
        format)."""
        return "bf16" in self.formats

    @property
    def bf16_gather(self):
        """Packed beats of bf16 pass-through per value-side beat (``2 lanes / bus_bytes``)."""
        return 2 * self.lanes // self.bus_bytes

    def data_beats(self, fmt):
        return DATA_BYTES[fmt] // self.bus_bytes

    def tile_beats(self, fmt):
        """Packed-side beats of one tile in format ``fmt``."""
        return TILE_BYTES[fmt] // self.bus_bytes

    @property
    def max_tile_beats(self):
        return max(self.tile_beats(f) for f in self.formats)

    def lane_bytes(self, fmt):
        """Bytes of one bank of one value-side beat (``rows`` face row segments)."""
        return self.bank_lanes if fmt == "bfp8" else self.bank_lanes // 2

    @property
    def tile_words(self):
        """Words of one tile in one bank."""
        return 512 // self.word_bytes

    def bus_location(self, q, fmt):
        """(bank, 9-bit byte address in the bank) of data byte ``q`` (Value) of a ``fmt`` tile."""
        face_bytes = 256 if fmt == "bfp8" else 128
        shift = exact_log2(face_bytes)
        face = q >> shift
        local = Cat(q[:shift], face[1], Const(0, 8 - shift))
        return face[0], local

    def lane_location(self, row, col, fmt):
        """9-bit byte address in its bank of value (``row``, ``col`` in the face) in ``fmt``."""
        if fmt == "bfp8":
            return Cat(col[:4], row[:5])
        return Cat(col[1:4], row[:5], Const(0, 1))

    def word_address(self, buffer, local):
        """Memory word address of bank byte address ``local`` (Value) in tile ``buffer``."""
        return Cat(local[exact_log2(self.word_bytes):9], buffer)

    def word_offset(self, local):
        """Byte offset within its word of bank byte address ``local`` (Value)."""
        return local[:exact_log2(self.word_bytes)] if self.word_bytes > 1 else Const(0, 1)


def select_by_format(geometry, bfp4, values):
    """``values[fmt]`` for the tile's format: a ``Mux`` on ``bfp4`` when the format is chosen at
    run time (``geometry.runtime_format``), else the value of the only format (``bfp4`` unused).

    Parameters
    ----------
    geometry : TileGeometry
    bfp4 : Value
        1 when the current tile is BFP4 (only read when both formats are configured).
    values : dict
        ``{"bfp8": ..., "bfp4": ...}`` with an entry for every format of ``geometry.formats``.
    """
    if geometry.runtime_format:
        return Mux(bfp4, values["bfp4"], values["bfp8"])
    return values[geometry.bfp_formats[0]]


def constant_by_format(geometry, bfp4, function):
    """:func:`select_by_format` of the 11-bit constants ``function(fmt)`` (e.g. a beat count of
    a tile, which is below 2^11 for every format and bus width)."""
    return select_by_format(geometry, bfp4,
                            {f: Const(function(f), 11) for f in geometry.bfp_formats})


def _net(m, value, name):
    """``value`` as a named combinational signal (an expression used more than once is
    emitted once, not copied into every use)."""
    value = Value.cast(value)
    signal = Signal(value.shape(), name=name)
    m.d.comb += signal.eq(value)
    return signal


def effective_exponent(m, u, name="e_eff"):
    """Contribution of bf16 bit pattern ``u`` to its row's shared exponent (8-bit Signal)."""
    u = _net(m, u, f"{name}_u")
    e, f = u[7:15], u[0:7]
    live = (e != 0) & (e != 255)
    inf = (e == 255) & (f == 0)
    return _net(m, Mux(live, e, Mux(inf, 254, 0))[:8], name)


def max_tree(m, values, name="max"):
    """Maximum of unsigned Values, as a balanced tree of comparators (a Signal)."""
    values = list(values)
    level = 0
    while len(values) > 1:
        pairs = [_net(m, Mux(a > b, a, b), f"{name}_l{level}_{i}")
                 for i, (a, b) in enumerate(zip(values[0::2], values[1::2]))]
        if len(values) % 2:
            pairs.append(values[-1])
        values = pairs
        level += 1
    return values[0]


def encode_value(m, u, E, bfp4, name="enc"):
    """Code of bf16 ``u`` in a row with shared exponent ``E`` (8-bit Signal).

    Returns ``s << 7 | M`` (BFP8) or ``s << 3 | M`` (BFP4, upper nibble 0). ``bfp4`` is a 1-bit
    Value or a Python bool (fixed format).
    """
    u = _net(m, u, f"{name}_u")
    E = _net(m, E, f"{name}_E")
    s, e, f = u[15], u[7:15], u[0:7]
    live = (e != 0) & (e != 255)
    inf = (e == 255) & (f == 0)
    a = Cat(f, Const(1, 1))                         # 1.f, 8 bits
    d = (E - e)[:8]                                 # E >= e for every live value of the row
    p = d + Mux(bfp4, 5, 1) if isinstance(bfp4, Value) else d + (5 if bfp4 else 1)
    p = _net(m, p, f"{name}_p")
    p = Mux(p > 9, 9, p)[:4]                        # p >= 9: q = 0 and no round bit
    t = _net(m, (Cat(Const(0, 8), a) >> p)[:16], f"{name}_t")  # a / 2^p, 8 fraction bits
    q, round_bit, sticky = t[8:16], t[7], t[0:7].any()
    magnitude = _net(m, q + (round_bit & (sticky | q[0])), f"{name}_mag")  # RNE; <= 128
    if isinstance(bfp4, Value):
        mmax = _net(m, Mux(bfp4, 7, 127)[:7], f"{name}_mmax")
    else:
        mmax = Const(7 if bfp4 else 127, 7)
    saturated = Mux(magnitude > mmax, mmax, magnitude)[:7]
    M = _net(m, Mux(inf, mmax, Mux(live, saturated, 0))[:7], f"{name}_M")
    sign = s & (M != 0)
    code8 = Cat(M, sign)
    code4 = Cat(M[:3], sign, Const(0, 4))
    if isinstance(bfp4, Value):
        return Mux(bfp4, code4, code8)
    return code4 if bfp4 else code8


def widen_bfp4_code(nibble):
    """The BFP8 code (8 bits) of the same value as BFP4 code ``nibble``."""
    return Cat(Const(0, 4), nibble[:3], nibble[3])


def decode_value(m, code, E, name="dec"):
    """Exact bf16 bit pattern (16-bit Value) of BFP8 code ``code`` with shared exponent ``E``.

    ``value = (-1)^s * M * 2^(E - 133)``: a normal bf16 when ``E`` exceeds the leading-zero count
    of ``M`` (exponent ``E - lz``), else the subnormal ``M << E``; ``E = 255`` with ``M >= 64``
    gives inf; ``M = 0`` a zero with the code's sign.
    """
    code = _net(m, code, f"{name}_code")
    E = _net(m, E, f"{name}_E")
    s, M = code[7], code[:7]
    lz = Const(7, 3)
    for i in range(7):                              # the highest set bit wins (applied last)
        lz = Mux(M[i], 6 - i, lz)
    lz = _net(m, lz[:3], f"{name}_lz")
    normal = E > lz
    exponent = (E - lz)[:8]
    norm = _net(m, (M << lz)[:7], f"{name}_norm")  # leading one at bit 6
    mag_normal = Cat(Const(0, 1), norm[:6], exponent)
    mag_sub = (M << E[:3])[:7]                      # only used when E <= lz <= 6
    inf = (E == 255) & (lz == 0)
    mag = Mux(M == 0, 0, Mux(inf, 0x7F80, Mux(normal, mag_normal, mag_sub)))[:15]
    return Cat(mag, s)


class ExponentMemory:
    """The exponent bytes of both tile buffers of a unit, in two small memories.

    Split like the data banks by face column: bank ``b`` holds the exponents of faces ``b`` and
    ``b + 2``, the exponent of tile row ``row`` (0..31) of tile buffer ``buffer`` at byte
    ``buffer * 32 + row``. A value-side beat touches at most one exponent per bank (one face row
    segment per bank), a packed-side beat one or both banks:

    * ``bus_bytes <= 16``: a beat of exponents is ``bus_bytes`` bytes of one face, i.e. one word
      of one bank (words of ``bus_bytes`` bytes);
    * ``bus_bytes = 32``: faces ``2j`` and ``2j + 1``, one 16-byte word of each bank;
    * ``bus_bytes = 64``: faces 0..3, one 32-byte word of each bank (faces 0 and 2 from bank 0).

    Reads are synchronous (the read pipelines of both units have a memory stage anyway); the
    storage is two :class:`~amaranth.lib.memory.Memory` of ``64 / word`` words, not registers
    behind wide multiplexers.
    """

    def __init__(self, m, geometry, name="exp"):
        bus = geometry.bus_bytes
        #: bytes per word
        self.word = bus if bus <= 16 else bus // 2
        self.bus = bus
        depth = 64 // self.word
        self.write_ports, self.read_ports = [], []
        for b in range(2):
            memory = Memory(shape=unsigned(8 * self.word), depth=depth, init=[])
            m.submodules[f"{name}_bank{b}"] = memory
            self.write_ports.append(memory.write_port(granularity=8))
            self.read_ports.append(memory.read_port())

    def _byte_address(self, buffer, row):
        address = Cat(row[:5], buffer)                       # buffer * 32 + row
        shift = exact_log2(self.word)
        return address[shift:], (address[:shift] if shift else Const(0, 1))

    # -- value side: one byte per bank ---------------------------------------------------------
    def write_byte(self, m, bank, enable, buffer, row, value):
        """Write exponent ``value`` of tile row ``row`` (5-bit Value) of ``buffer`` into ``bank``
        (a Python int) when ``enable``."""
        port = self.write_ports[bank]
        word, offset = self._byte_address(buffer, row)
        enables = (Cat(*((offset == k) for k in range(self.word))) if self.word > 1
                   else Const(1, 1))
        m.d.comb += [port.addr.eq(word), port.data.eq(Cat(*([value] * self.word))),
                     port.en.eq(Mux(enable, enables, 0))]

    def read_byte_address(self, m, en, buffer, row):
        """Start reading the exponent of tile row ``row`` of ``buffer`` from both banks (read
        enable ``en``); returns the in-word offset to keep for :meth:`read_byte_data`."""
        word, offset = self._byte_address(buffer, row)
        for port in self.read_ports:
            m.d.comb += [port.addr.eq(word), port.en.eq(en)]
        return offset

    def read_byte_data(self, bank, offset, count=1):
        """The byte read from ``bank`` (int) at in-word ``offset`` (Value), one cycle after
        :meth:`read_byte_address`; with ``count`` > 1 (a power of two, ``offset`` a multiple of
        it) the ``count`` bytes from ``offset`` on, the lowest first."""
        data = self.read_ports[bank].data
        if self.word == count:
            return data
        return data.word_select(offset >> exact_log2(count), 8 * count)

    # -- packed side: one beat of ``bus_bytes`` bytes --------------------------------------------
    def _beat_location(self, buffer, k):
        """(bank, word address) of exponent beat ``k`` (Value, ``0 .. 64 / bus - 1``)."""
        bus = self.bus
        if bus <= 16:
            q = Cat(Const(0, exact_log2(bus)), k)[:6]             # first byte of the beat, 0..63
            face, r = q[4:6], q[:4]
            local = Cat(r, face[1])                          # face row in the bank, 0..31
            return face[0], Cat(local[exact_log2(bus):], buffer)
        if bus == 32:
            return Const(0, 1), Cat(k[:1], buffer)
        return Const(0, 1), buffer

    def write_beat(self, m, enable, buffer, k, data):
        """Write exponent beat ``k`` (packed order) of ``buffer`` when ``enable``."""
        bank, address = self._beat_location(buffer, k)
        bus = self.bus
        data = data.as_value() if hasattr(data, "as_value") else data
        if bus <= 16:
            parts = [data, data]
        elif bus == 32:
            parts = [data[:128], data[128:256]]
        else:
            parts = [Cat(data[0:128], data[256:384]), Cat(data[128:256], data[384:512])]
        for b, port in enumerate(self.write_ports):
            select = (bank == b) if bus <= 16 else Const(1, 1)
            m.d.comb += [port.addr.eq(address), port.data.eq(parts[b]),
                         port.en.eq(Mux(enable & select, (1 << self.word) - 1, 0))]

    def read_beat_address(self, m, en, buffer, k):
        """Start reading exponent beat ``k`` of ``buffer`` (read enable ``en``); returns the bank
        (1-bit Value) to keep for :meth:`read_beat_data`."""
        bank, address = self._beat_location(buffer, k)
        for port in self.read_ports:
            m.d.comb += [port.addr.eq(address), port.en.eq(en)]
        return bank

    def read_beat_data(self, bank):
        """The ``bus_bytes`` exponent bytes of the beat, one cycle after
        :meth:`read_beat_address` (``bank`` as it returned, delayed by one enabled cycle)."""
        d0, d1 = (port.data for port in self.read_ports)
        if self.bus <= 16:
            return Mux(bank, d1, d0)
        if self.bus == 32:
            return Cat(d0, d1)
        return Cat(d0[:128], d1[:128], d0[128:], d1[128:])
