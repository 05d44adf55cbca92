"""Configuration of the multiply-accumulate unit (the first datapath of the flow)."""

from dataclasses import dataclass

from ..config import Config, param

__all__ = ["MacConfig"]


@dataclass(frozen=True)
class MacConfig(Config):
    """A stream multiply-accumulate unit: ``out = a * b + acc``, one result per cycle.

    ``dtype = "int8"``: int8 x int8 + int32 -> int32, wrapping modulo 2^32.
    ``dtype = "bf16"``: bf16 x bf16 (exact product) + fp32 -> fp32, docs/numerics.md.
    """

    block = "mac"
    derived = ("input_width", "output_width")

    dtype: str = param("bf16", doc="operand type", choices=("int8", "bf16"))

    def build(self, library):
        """The top-level component (``hybridgen.rtl.arith.mac.MacInt8`` or ``MacBf16``)."""
        from hybridgen.rtl.arith.mac import MacBf16, MacInt8
        return MacInt8() if self.dtype == "int8" else MacBf16()

    @property
    def input_width(self):
        return 48 if self.dtype == "int8" else 64

    @property
    def output_width(self):
        return 32
