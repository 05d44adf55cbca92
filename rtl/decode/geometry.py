"""Static geometry of the decode array and the channel layout of a GEMV weight matrix.

:class:`hybridgen.gen.blocks.decode.DecodeConfig` builds a :class:`DecodeGeometry`; the RTL
(:mod:`hybridgen.rtl.decode`) takes it, never the configuration; the testbench and the bench
rebuild it from the sidecar's ``derived.geometry_params``. Every derived figure (values per
beat, the column interleave, the buffer depth, the lane latency) is computed here once.

Channel layout of W (k x n, bf16), docs/decode.md "Channel layout":

* a beat of a channel carries ``V = bus_bytes / 2`` consecutive rows of one column: the values
  ``W[c*V : c*V + V, col]`` of *chunk* ``c`` (``KC = ceil(k / V)`` chunks, rows past k are zero);
* the columns are cut into *groups* of ``I`` (:attr:`DecodeGeometry.interleave`) consecutive
  columns; group ``g`` holds columns ``g*I .. g*I + I - 1`` (columns past n are zero);
* group ``g`` lives in channel ``g % channels``, as its ``g // channels``-th group; a group is
  ``KC * I`` beats, chunk-major: beat ``c * I + j`` is chunk c of column ``g*I + j``;
* every channel's groups are contiguous from the same byte address ``w_addr`` of that
  channel's memory (any byte alignment).

x (batch x k bf16, row stride ``ldx`` bytes) is in channel 0's memory at ``x_addr``; y (batch x
n bf16, row stride ``ldy``) is written at ``y_addr + b*ldy + 2*col`` *in the memory of the
channel that holds column col*; each channel writes only its own columns.
"""

import numpy as np
from amaranth.utils import ceil_log2, exact_log2

__all__ = ["DecodeGeometry"]


class DecodeGeometry:
    """Shape of a decode array.

    Parameters (keyword-only, exposed as attributes)
    ----------
    units, width : int
        Vector units and lanes per unit; ``units * width = channels * max_batch`` (each channel
        feeds ``max_batch`` lanes, one per batch element).
    dot : int
        bf16 products per lane (:class:`hybridgen.rtl.arith.dot.Bf16Dot`), ``bus_bytes / 2``:
        a lane takes one beat of W per cycle.
    channels : int
        AXI4 master ports (a power of two).
    bus_bytes, addr_bits, outstanding : int
        Each port: data bytes per beat, address bits, read bursts in flight.
    max_batch : int
        Largest batch of a GEMV.
    x_kib : int
        Activation buffer (KiB): ``max_batch`` rows of ``max_k`` bf16 values.
    adder_latency : int
        Latency of the fp32 adders (dot-product tree and accumulator).
    """

    def __init__(self, *, units, width, dot, channels, bus_bytes, addr_bits, outstanding,
                 max_batch, x_kib, adder_latency=3, ssm_headdim=256, ssm_dstate=256,
                 attn_heads=0, q_kib=1, kv_formats=("bfp8", "bfp4", "bf16"), attn_lanes=128):
        for name, value in (("units", units), ("width", width), ("dot", dot),
                            ("channels", channels), ("bus_bytes", bus_bytes),
                            ("addr_bits", addr_bits), ("outstanding", outstanding),
                            ("max_batch", max_batch), ("x_kib", x_kib),
                            ("adder_latency", adder_latency), ("ssm_headdim", ssm_headdim),
                            ("ssm_dstate", ssm_dstate)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if channels & (channels - 1):
            raise ValueError(f"channels must be a power of two, not {channels!r}")
        if dot * 2 != bus_bytes:
            raise ValueError(f"dot must be bus_bytes / 2 = {bus_bytes // 2}, not {dot!r}")
        if units * width != channels * max_batch:
            raise ValueError(f"units * width must be channels * max_batch = "
                             f"{channels * max_batch}, not {units * width}")
        self.units, self.width, self.dot, self.channels = units, width, dot, channels
        self.bus_bytes, self.addr_bits, self.outstanding = bus_bytes, addr_bits, outstanding
        self.max_batch, self.x_kib, self.adder_latency = max_batch, x_kib, adder_latency
        #: bf16 values per beat (one lane's dot product)
        self.values = bus_bytes // 2
        #: columns per group: the accumulator ring of a lane (a power of two >= adder latency)
        self.interleave = 1 << ceil_log2(max(2, adder_latency))
        #: chunks of V values of x held per batch element (words of the activation buffer)
        self.x_depth = x_kib * 1024 // (2 * max_batch * self.values)
        if self.x_depth < 1:
            raise ValueError(f"x_kib = {x_kib} holds less than one chunk per batch element")
        #: largest k of a GEMV
        self.max_k = self.x_depth * self.values
        #: beat -> dot product at the accumulator's input (Bf16Dot latency)
        self.dot_latency = 1 + exact_log2(dot) * adder_latency
        #: pseudo-beats after a channel's last group: its results leave the accumulator ring
        #: (I with ``first`` set, then enough to carry them through the dot pipeline and the
        #: output conversion), a multiple of I so every job leaves the ring in phase
        self.flush_beats = -(-(self.interleave + self.dot_latency + 1) // self.interleave) \
            * self.interleave
        # the decode step (rtl/decode/ssm_channel.py, layout rtl/decode/ssm_layout.py): the
        # largest p and n, the rows (p padded to the ring) and chunks (n / (bus_bytes / 4))
        # a record slot holds, and its beats
        self.ssm_headdim, self.ssm_dstate = ssm_headdim, ssm_dstate
        self.ssm_rows = -(-ssm_headdim // self.interleave) * self.interleave
        self.ssm_chunks = -(-ssm_dstate // (bus_bytes // 4))
        self.ssm_record_beats = 1 + 2 * -(-self.ssm_rows * 2 // bus_bytes) \
            + 2 * -(-self.ssm_chunks // 2)
        self._init_attention(attn_heads, q_kib, kv_formats, attn_lanes)

    def _init_attention(self, heads, q_kib, kv_formats, lanes):
        """Decode attention (rtl/decode/attn_unit.py, docs/decode.md "Decode attention"):
        ``heads`` q heads per kv head a unit holds (0: no attention hardware), the query
        buffer ``q_kib`` (every unit holds ``heads`` q rows of up to ``attn_max_d`` bf16), the
        KV formats the read path decodes and the dequantizers' value lanes."""
        if not isinstance(heads, int) or heads < 0:
            raise ValueError(f"attn_heads must be a non-negative integer, not {heads!r}")
        self.attn_heads, self.q_kib = heads, q_kib
        self.kv_formats = tuple(f for f in ("bfp8", "bfp4", "bf16") if f in kv_formats)
        self.attn_lanes = lanes
        #: QK lanes and PV lanes of a unit (the unit's lanes split in two halves)
        self.attn_width = max(1, self.width // 2)
        self.attn_max_d = 0
        if not heads:
            return
        if self.dot != 32:
            raise ValueError(f"decode attention needs dot = 32 (a lane's dot product is one "
                             f"32-value tile row), not {self.dot!r}")
        if self.units != self.channels:
            raise ValueError(f"decode attention needs units = channels (unit u reads channel "
                             f"u), not {self.units} units and {self.channels} channels")
        #: largest d: the q rows of ``heads`` heads per unit in ``q_kib`` KiB
        self.attn_max_d = q_kib * 1024 // (2 * self.units * heads) // 32 * 32
        if self.attn_max_d < 32:
            raise ValueError(f"q_kib = {q_kib} holds less than d = 32 for {heads} heads per "
                             f"unit")
        if set(self.kv_formats) != set(kv_formats) or not any(
                f in self.kv_formats for f in ("bfp8", "bfp4")):
            raise ValueError(f"kv_formats must name bfp8, bfp4 or bf16 and at least one BFP "
                             f"format, not {kv_formats!r}")
        from hybridgen.rtl.kv.bfp import TileGeometry
        #: the dequantizers' geometry (K and V path of every unit)
        self.tile_geometry = TileGeometry(lanes=lanes, bus_bytes=self.bus_bytes,
                                          formats=self.kv_formats)

    @property
    def attn_dim_tiles(self):
        """Largest ``d / 32``."""
        return self.attn_max_d // 32

    def params(self):
        """The constructor's arguments (for the sidecar)."""
        return {"units": self.units, "width": self.width, "dot": self.dot,
                "channels": self.channels, "bus_bytes": self.bus_bytes,
                "addr_bits": self.addr_bits, "outstanding": self.outstanding,
                "max_batch": self.max_batch, "x_kib": self.x_kib,
                "adder_latency": self.adder_latency, "ssm_headdim": self.ssm_headdim,
                "ssm_dstate": self.ssm_dstate, "attn_heads": self.attn_heads,
                "q_kib": self.q_kib, "kv_formats": list(self.kv_formats),
                "attn_lanes": self.attn_lanes}

    @property
    def peak_macs_per_cycle(self):
        return self.units * self.width * self.dot

    @property
    def peak_bytes_per_cycle(self):
        return self.channels * self.bus_bytes

    # -- the channel layout of W (software side: where every value goes) -----------------

    def chunks(self, k):
        """KC: beats per column of W."""
        return -(-k // self.values)

    def groups(self, n):
        """G: column groups."""
        return -(-n // self.interleave)

    def channel_groups(self, n, channel):
        """Groups held (and computed) by ``channel``."""
        return max(0, -(-(self.groups(n) - channel) // self.channels))

    def group_bytes(self, k):
        return self.chunks(k) * self.interleave * self.bus_bytes

    def channel_of_column(self, col):
        """The channel that holds (and writes the output of) column ``col``."""
        return (col // self.interleave) % self.channels

    def pack_weights(self, w):
        """The bytes of W (k x n, uint16 bf16 bits) in each channel: a list of ``channels``
        ``bytes`` objects to store at ``w_addr`` of each channel's memory."""
        w = np.asarray(w, dtype=np.uint16)
        k, n = w.shape
        V, I, C = self.values, self.interleave, self.channels
        kc, g = self.chunks(k), self.groups(n)
        padded = np.zeros((kc * V, g * I), dtype=np.uint16)
        padded[:k, :n] = w
        # [g, I, kc, V] -> [g, kc, I, V]: group-major, then chunk, then column, then rows
        tiles = padded.reshape(kc, V, g, I).transpose(2, 0, 3, 1)
        return [tiles[c::C].astype("<u2").tobytes() for c in range(C)]
