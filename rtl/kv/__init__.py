"""KV-cache codec (HMA-Serve): BF16 -> BFP8_b/BFP4_b packer and the deferred dequantizer.

* :mod:`hybridgen.rtl.kv.bfp` - per-value encode/decode arithmetic and the tile geometry,
* :mod:`hybridgen.rtl.kv.layouts` - stream payloads and the packed-stream framing,
* :mod:`hybridgen.rtl.kv.packer` - :class:`BfpPacker`,
* :mod:`hybridgen.rtl.kv.dequantizer` - :class:`BfpDequantizer`,
* :mod:`hybridgen.rtl.kv.codec` - :class:`KvCodec`, both units in one top,
* :mod:`hybridgen.rtl.kv.feeder` - :class:`~hybridgen.rtl.kv.feeder.KvScoreFeeder`, the
  dequantizer-fed front end of the decode-attention QK lanes.

Byte format: docs/bfp.md; bit-exact model: :mod:`hybridgen.golden.kvquant`.
"""

from .bfp import TileGeometry
from .codec import KvCodec
from .dequantizer import BfpDequantizer
from .packer import BfpPacker

__all__ = ["TileGeometry", "BfpPacker", "BfpDequantizer", "KvCodec"]
