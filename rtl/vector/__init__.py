"""Vector engines' shared datapath: a lane of every fp32 unit and a ``width``-lane vector unit
with row reductions (docs/arith.md). Bit-exact models: :func:`hybridgen.golden.numerics.lane_op`
and :func:`hybridgen.golden.numerics.vector_op`."""

from .lane import VectorLane, VectorOp
from .unit import VectorDatapath, VectorUnit, vector_operands

__all__ = ["VectorLane", "VectorOp", "VectorDatapath", "VectorUnit", "vector_operands"]
