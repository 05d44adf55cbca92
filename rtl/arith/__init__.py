"""Arithmetic datapath units shared by every block: fp32 adder, bf16 multiplier, MACs.

See :mod:`rtl.arith.pipeline` for the pipelined-datapath convention and its stream wrapper.
"""

from .fp32 import Bf16MulExact, Fp32Add
from .mac import MacBf16, MacBf16Datapath, MacInt8, MacInt8Datapath
from .pipeline import StreamPipeline

__all__ = ["Fp32Add", "Bf16MulExact", "MacInt8", "MacBf16", "MacInt8Datapath",
           "MacBf16Datapath", "StreamPipeline"]
