"""The HLX unified core (URSC): two dot-product engines (:mod:`.dpe`), the
reconfigurable vector engine (:mod:`.rvpe`), the update engine (:mod:`.upe`) and, for now, the
datapath top that places them (:mod:`.datapath`); the kernel controller comes later.
Bit-exact models: :mod:`hybridgen.golden.ursc` and :mod:`hybridgen.golden.numerics`."""

from .carry import InterleavedCarry
from .datapath import UrscDatapath
from .dpe import Dpe, Dpu
from .rvpe import Rvpe, RvpeUnit
from .upe import Upe, UpeOp, UpeUnit

__all__ = ["InterleavedCarry", "UrscDatapath", "Dpe", "Dpu", "Rvpe", "RvpeUnit", "Upe", "UpeOp",
           "UpeUnit"]
