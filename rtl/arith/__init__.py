"""Arithmetic datapath units shared by every block: fp32 adder, bf16 multiplier, MACs, fp32
multiplier, min/max/compare, conversions and the special functions (exp/exp2, reciprocal,
sigmoid/silu, softplus).

See :mod:`hybridgen.rtl.arith.pipeline` for the pipelined-datapath convention and its stream wrapper.
"""

from .fp32 import Bf16MulExact, Fp32Add
from .mac import MacBf16, MacBf16Datapath, MacInt8, MacInt8Datapath
from .pipeline import StreamPipeline
from .fp32_mul import Fp32Mul
from .compare import Fp32Compare, Fp32MinMax
from .convert import Bf16ToFp32, Fp32ToBf16, Fp32ToInt32, Int32ToFp32
from .exp import Fp32Exp
from .reciprocal import Fp32Reciprocal
from .sigmoid import Fp32Sigmoid
from .softplus import Fp32Softplus

__all__ = ["Fp32Add", "Bf16MulExact", "MacInt8", "MacBf16", "MacInt8Datapath",
           "MacBf16Datapath", "StreamPipeline", "Fp32Mul", "Fp32Compare", "Fp32MinMax",
           "Bf16ToFp32", "Fp32ToBf16", "Fp32ToInt32", "Int32ToFp32", "Fp32Exp", "Fp32Reciprocal",
           "Fp32Sigmoid", "Fp32Softplus"]
