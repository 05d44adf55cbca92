"""Widths of memory-side fields, computed in one place for every block."""

from amaranth.utils import ceil_log2

__all__ = ["address_bits"]


def address_bits(count):
    """Bits of an address (or index) into ``count`` words: ``ceil(log2(count))``, at least 1
    (a one-word memory still has a 1-bit address port)."""
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"Word count must be a positive integer, not {count!r}")
    return max(1, ceil_log2(count))
