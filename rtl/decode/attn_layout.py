"""Channel layout of decode attention (software side: where every tensor goes; the hardware's
side is :class:`hybridgen.rtl.decode.attn_requests.AttnRequests`; docs/decode.md "Decode
attention on the array" and ``attention`` in ``<top>_layout.json``).

* **K, V caches**: the tiles of :func:`hybridgen.golden.kvquant.pack_kv_cache` (uint8
  [b, hkv, T, D, tile bytes], ``T = ceil(sk / 32)``, ``D = d / 32``). Position tile ``t`` of
  every (batch, kv head) lives in channel ``t mod C`` as its slot ``i = t // C``; a channel
  holds ``TC = ceil(T / C)`` slots per (batch, kv head), job ``e = b hkv + h`` from
  ``k_addr + e TC D tile_bytes``, slot ``i`` at ``+ i D tile_bytes``, dim tile ``j`` at
  ``+ j tile_bytes`` (slots past T are never read). V likewise from ``v_addr``.
* **cache lengths**: uint32 [b] at ``lens_addr`` of every channel (a copy in each).
* **q**: [b, hq, d] bf16 row-major at ``q_addr`` of every channel (a copy in each); a channel
  reads the rows of a job's ``g`` q heads (``2 g d`` contiguous bytes) only if it holds a tile
  of the job.
* **o**: [b, hq, d] bf16 row-major at ``o_addr`` of channel 0 (channel 0 writes every row).
"""

import numpy as np

from hybridgen.golden.kvquant import KV_TILE_BYTES, TILE, kv_cache_tiles

__all__ = ["AttnLayout"]


class AttnLayout:
    """The layout of one decode-attention problem on a :class:`DecodeGeometry`."""

    def __init__(self, geometry, *, b, hq, hkv, d, sk, fmt):
        self.channels = geometry.channels
        self.b, self.hq, self.hkv, self.d, self.sk, self.fmt = b, hq, hkv, d, sk, fmt
        self.group = hq // hkv
        self.tiles = kv_cache_tiles(sk)
        self.slots = -(-self.tiles // self.channels)
        self.dim_tiles = d // TILE
        self.tile_bytes = KV_TILE_BYTES[fmt]
        self.slot_bytes = self.dim_tiles * self.tile_bytes
        self.job_bytes = self.slots * self.slot_bytes
        #: bytes of the K (or V) region of every channel
        self.cache_bytes = b * hkv * self.job_bytes

    def pack_cache(self, packed):
        """uint8 [b, hkv, T, D, tile bytes] -> the bytes of each channel's K (or V) region."""
        packed = np.asarray(packed, np.uint8)
        C, TC = self.channels, self.slots
        out = []
        for c in range(C):
            region = np.zeros((self.b, self.hkv, TC, self.dim_tiles, self.tile_bytes), np.uint8)
            mine = packed[:, :, c::C]
            region[:, :, :mine.shape[2]] = mine
            out.append(region.tobytes())
        return out

    def channel_tiles(self, channel, length):
        """Position tiles of one job of a batch element of ``length`` read by ``channel``."""
        have = kv_cache_tiles(min(int(length), self.sk))
        return max(0, -(-(have - channel) // self.channels))

    def expected_bytes(self, lens):
        """Row bytes (read, written) per channel: the lengths, the q rows of the jobs the
        channel has a tile of and its K and V groups; channel 0 writes o."""
        read, written = [], []
        for c in range(self.channels):
            total = 4 * self.b
            for i in range(self.b):
                n = self.channel_tiles(c, lens[i])
                if n:
                    total += self.hkv * (2 * self.group * self.d + 2 * n * self.slot_bytes)
            read.append(total)
            written.append(2 * self.b * self.hq * self.d if c == 0 else 0)
        return read, written
