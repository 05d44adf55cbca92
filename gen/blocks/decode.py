"""Configuration of the decode array (``rtl/decode``): vector lanes fed by several HBM channels."""

from dataclasses import dataclass

from hybridgen.rtl.decode import DecodeArray, DecodeGeometry
from hybridgen.rtl.decode.layouts import (DESCRIPTOR_DOCS, completion_layout, counter_docs,
                                          descriptor_layout)

from ..config import Config, param
from ..errors import ConfigError
from ..regmap import register_map

__all__ = ["DecodeConfig", "KV_FORMATS"]

KV_FORMATS = ("bfp8", "bfp4", "bf16")


@dataclass(frozen=True)
class DecodeConfig(Config):
    """``units`` vector units of ``width`` lanes (each lane a ``dot``-wide bf16 dot product and
    an fp32 accumulator), ``channels`` AXI4 ports of ``bus_bits``, an activation buffer and a
    descriptor-driven controller (:class:`hybridgen.rtl.decode.DecodeArray`).

    Each channel feeds ``max_batch`` lanes with one beat of W per cycle, so ``dot`` is the
    beat's bf16 values (``bus_bits / 16``) and ``units * width = channels * max_batch``.
    Peak MACs/cycle = units * width * dot; peak bytes/cycle = channels * bus_bits / 8.
    """

    block = "decode"
    # The decode step's softplus unit: ABC's SAT sweep never finishes on it (docs/timing.md).
    synth_abc = "nofraig"
    #: ``hybridgen synth`` area breakdown (the groups of issue 14): module-name substrings of
    #: each group; a module goes to the first group with a substring of its name, and no module
    #: of decode-tiny matches two groups (tests/decode/test_decode_area.py). Vector units: the
    #: lanes (library leaves ``__gemv_lane_*`` with their ``.dot`` and ``.round``, and their
    #: ``__bf16_mul_exact_*`` and ``__fp32_add_*``) and the decode-step datapath of each
    #: channel (``.ssm<c>``: its lane, head scalars, row values, finish and state rounding; the
    #: ``__fp32_mul`` leaf; its queues are buffers, its reader and writer DMA). Dequantizers: the ``rtl/kv``
    #: ``BfpDequantizer`` of the decode-attention read path (none before that kernel is
    #: built). DMA and channels: per port the ReadDma, WriteDma (with their request queues) and
    #: the row-request generator. Buffers: the activation buffer's logic and each channel's
    #: results queue (SRAM macros are reported apart, as "memories (SRAM macros)"). Control is
    #: the rest: the top's own logic, the descriptor intake, GemvControl, the counter bank and,
    #: per channel, its own logic (job split, DMA output steering) and beat sequencer.
    area_groups = {"vector units (lanes)": ["gemv_lane", "bf16_mul", "fp32_add", "__fp32_mul",
                                            ".lane", ".scalars", ".rowvals", ".finish",
                                            ".st_round"],
                   "dequantizers": ["dequantizer"],
                   "dma and channels": [".reader", ".writer", ".requests"],
                   "buffers": [".xbuffer", ".results", ".records", ".sq", ".yq", ".pending"],
                   "control": []}
    derived = ("values_per_beat", "interleave", "max_k", "x_depth", "dot_latency",
               "flush_beats", "peak_macs_per_cycle", "peak_bytes_per_cycle",
               "bytes_in_flight", "geometry_params", "w_layout", "latency")

    units: int = param(4, doc="vector units", min=1, max=256)
    width: int = param(8, doc="lanes per unit", min=1, max=256)
    dot: int = param(32, doc="bf16 products per lane per cycle (= bus_bits / 16)", min=2,
                     max=32, power_of_two=True)
    channels: int = param(4, doc="AXI4 master ports (HBM pseudo-channels)", min=1, max=64,
                          power_of_two=True)
    bus_bits: int = param(512, doc="data width of each port", min=64, max=512,
                          power_of_two=True)
    addr_bits: int = param(32, doc="AXI address width", min=16, max=48)
    outstanding: int = param(64, doc="read bursts in flight per channel", min=1, max=256)
    max_batch: int = param(8, doc="largest batch (rows of x); one lane per batch element "
                           "per channel", min=1, max=255)
    x_kib: int = param(128, doc="activation buffer in KiB (max_batch rows of max_k bf16)",
                       min=1, max=4096)
    q_kib: int = param(8, doc="query buffer in KiB (decode attention)", min=1, max=4096)
    state_dtype: str = param("fp32", doc="Mamba state in memory", choices=("fp32", "bf16"))
    kv_formats: str = param("bfp8,bfp4,bf16", doc="KV cache formats the read path decodes "
                            "(comma-separated subset of bfp8, bfp4, bf16)")
    adder_latency: int = param(3, doc="fp32 adder pipeline stages", min=1, max=5)
    ssm_headdim: int = param(256, doc="decode step: largest head dimension p (a record "
                             "slot's rows)", min=1, max=4096)
    ssm_dstate: int = param(256, doc="decode step: largest state size n", min=1, max=4096)
    attn_heads: int = param(0, doc="decode attention: q heads per kv head a unit holds (0: "
                            "no decode-attention hardware; needs dot 32 and units = channels)",
                            min=0, max=16)
    attn_lanes: int = param(128, doc="decode attention: bf16 values per cycle of each "
                            "dequantizer", choices=(32, 64, 128))

    def check(self):
        if self.dot * 16 != self.bus_bits:
            raise ConfigError("dot", f"must be bus_bits / 16 = {self.bus_bits // 16} (a lane "
                                     f"takes one beat per cycle), not {self.dot}")
        if self.units * self.width != self.channels * self.max_batch:
            raise ConfigError("max_batch", f"must be units * width / channels = "
                                           f"{self.units * self.width / self.channels:g} (one "
                                           f"lane per batch element per channel), not "
                                           f"{self.max_batch}")
        formats = [f.strip() for f in self.kv_formats.split(",")]
        if not formats or any(f not in KV_FORMATS for f in formats) \
                or len(set(formats)) != len(formats):
            raise ConfigError("kv_formats", f"must be distinct names from "
                                            f"{', '.join(KV_FORMATS)}, not {self.kv_formats!r}")
        if self.attn_heads:
            if self.dot != 32:
                raise ConfigError("attn_heads", f"needs dot = 32 (a lane's dot product is one "
                                                f"32-value tile row), not dot {self.dot}")
            if self.units != self.channels:
                raise ConfigError("attn_heads", f"needs units = channels (unit u reads channel "
                                                f"u), not {self.units} and {self.channels}")
            if self.q_kib * 1024 < 64 * self.units * self.attn_heads:
                raise ConfigError("q_kib", f"must hold d = 32 for {self.attn_heads} heads per "
                                           f"unit (>= {64 * self.units * self.attn_heads} "
                                           f"bytes), not {self.q_kib} KiB")
            if not any(f in ("bfp8", "bfp4") for f in formats):
                raise ConfigError("kv_formats", f"must hold bfp8 or bfp4 for decode attention, "
                                                f"not {self.kv_formats!r}")
        if self.x_kib * 1024 < self.max_batch * self.bus_bits // 8:
            raise ConfigError("x_kib", f"must hold one beat per batch element "
                                       f"(>= {self.max_batch * self.bus_bits // 8} bytes), "
                                       f"not {self.x_kib} KiB")

    @property
    def geometry(self):
        """The array's geometry (:class:`hybridgen.rtl.decode.DecodeGeometry`)."""
        return DecodeGeometry(units=self.units, width=self.width, dot=self.dot,
                              channels=self.channels, bus_bytes=self.bus_bits // 8,
                              addr_bits=self.addr_bits, outstanding=self.outstanding,
                              max_batch=self.max_batch, x_kib=self.x_kib,
                              adder_latency=self.adder_latency,
                              ssm_headdim=self.ssm_headdim, ssm_dstate=self.ssm_dstate,
                              attn_heads=self.attn_heads, q_kib=self.q_kib,
                              kv_formats=tuple(f.strip() for f in self.kv_formats.split(",")),
                              attn_lanes=self.attn_lanes)

    @property
    def geometry_params(self):
        return self.geometry.params()

    @property
    def values_per_beat(self):
        return self.geometry.values

    @property
    def interleave(self):
        """Columns per group (a lane's accumulator ring)."""
        return self.geometry.interleave

    @property
    def max_k(self):
        return self.geometry.max_k

    @property
    def x_depth(self):
        return self.geometry.x_depth

    @property
    def dot_latency(self):
        return self.geometry.dot_latency

    @property
    def latency(self):
        return self.geometry.dot_latency

    @property
    def flush_beats(self):
        return self.geometry.flush_beats

    @property
    def peak_macs_per_cycle(self):
        return self.geometry.peak_macs_per_cycle

    @property
    def peak_bytes_per_cycle(self):
        return self.geometry.peak_bytes_per_cycle

    @property
    def bytes_in_flight(self):
        """Most read bytes a channel has requested and not received (outstanding bursts of
        at most 256 beats; W rows are long, so bursts are 4 KiB at 512 bits)."""
        return self.outstanding * min(4096, 256 * self.bus_bits // 8)

    @property
    def w_layout(self):
        """Where the tensors of a GEMV live (also ``<top>_layout.json``)."""
        g = self.geometry
        return {
            "values_per_beat": g.values, "interleave": g.interleave, "channels": g.channels,
            "w": "column group g = col // interleave lives in channel g % channels as its "
                 "(g // channels)-th group from w_addr; a group is ceil(k / values_per_beat) * "
                 "interleave beats, beat c * interleave + j = W[c*V : c*V + V, g*I + j] "
                 "(rows past k and columns past n zero)",
            "x": "channel 0, x[b][i] at x_addr + b * ldx + 2 i",
            "y": "y[b][col] at y_addr + b * ldy + 2 col in the memory of channel "
                 "(col // interleave) % channels",
            "ssm_step": {
                "chunk_values": g.bus_bytes // 4, "interleave": g.interleave,
                "heads": "head e = b * heads + h lives in channel e % channels as its "
                         "(e // channels)-th head",
                "state": "from state_addr, the channel's heads in order, each ceil(p / I) * "
                         "ceil(n / W) * I chunks of W = chunk_values values (fp32: one beat, "
                         "bf16: half a beat): chunk (q * ceil(n / W) + c) * I + j = "
                         "state[b, h, q*I + j, c*W : c*W + W] (zero past p and n); "
                         "read once and written back in place",
                "records": "from record_addr, per head: a beat of 32-bit words dt (bf16 in "
                           "the low half), dt_bias, A, D; x[b, h] (ceil(p / I) * I bf16, "
                           "beats); z likewise if flags & 2; B[b, group] and C[b, group] as "
                           "ceil(n / W) chunks of W bf16 (two per beat)",
                "y": "y[b, h, i] at y_addr + 2 * ((b * heads + h) * p + i) in the memory of "
                     "the head's channel",
            },
            **({"attention": self._attention_layout()} if self.attn_heads else {}),
        }

    def _attention_layout(self):
        """Where the tensors of decode attention live (rtl/decode/attn_layout.py)."""
        g = self.geometry
        return {
            "tile": "32 positions x 32 dims of one (batch, kv head), the bytes of "
                    "golden/kvquant.py pack_kv_cache (bfp8 1088, bfp4 576, bf16 2048 bytes)",
            "heads_per_kv_head": g.attn_heads, "max_d": g.attn_max_d,
            "kv_formats": list(g.kv_formats),
            "k": "position tile t of (b, kv head h) lives in channel t % channels as its slot "
                 "i = t // channels: TC = ceil(ceil(sk / 32) / channels) slots of d / 32 tiles "
                 "per (b, h); dim tile j of slot i of job e = b * hkv + h at k_addr + "
                 "((e * TC + i) * d / 32 + j) * tile_bytes",
            "v": "as k, from v_addr",
            "cache_lens": "uint32 [b] at lens_addr of every channel (a copy in each); a length "
                          "above sk is taken as sk",
            "q": "[b, hq, d] bf16 row-major at q_addr of every channel (a copy in each)",
            "o": "[b, hq, d] bf16 row-major at o_addr of channel 0",
        }

    def register_maps(self):
        """The host interface: descriptor (in) and completion record (out), 32-bit words."""
        return {"descriptor": register_map(descriptor_layout(self.addr_bits), DESCRIPTOR_DOCS),
                "completion": register_map(completion_layout(self.channels),
                                           counter_docs(self.channels))}

    def extra_files(self):
        """Files ``generate`` writes beside the Verilog: the channel layout of the tensors."""
        import json
        return {"_layout.json": json.dumps(self.w_layout, indent=2) + "\n"}

    def build(self, library):
        """The top-level component: :class:`hybridgen.rtl.decode.DecodeArray`."""
        return DecodeArray(library, self.geometry)
