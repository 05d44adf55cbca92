"""The self-test signature: CRC-32 of a sequence of stream beats.

A beat of a ``width``-bit payload is serialized as ``ceil(width / 8)`` bytes, little-endian (bit
0 of the payload is bit 0 of the first byte; the bits above ``width`` in the last byte are 0).
The signature is the CRC-32 of the beats' bytes in order, as :func:`zlib.crc32` computes it
(IEEE 802.3 polynomial 0x04C11DB7, reflected, initial value and final XOR 0xFFFFFFFF). The
hardware that computes it is :class:`hybridgen.rtl.fpga.selftest.Crc32`.
"""

import zlib

__all__ = ["beat_bytes", "crc32_beats"]


def beat_bytes(width):
    """Bytes per serialized beat of a ``width``-bit payload."""
    return (width + 7) // 8


def crc32_beats(beats, width):
    """CRC-32 (``zlib.crc32``) of ``beats`` (non-negative ints below ``2**width``), in order."""
    size = beat_bytes(width)
    data = bytearray()
    for beat in beats:
        beat = int(beat)
        if not 0 <= beat < (1 << width):
            raise ValueError(f"Beat must be a {width}-bit unsigned integer, not {beat!r}")
        data += beat.to_bytes(size, "little")
    return zlib.crc32(bytes(data))
