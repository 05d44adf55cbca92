"""The HLX unified core (URSC): two dot-product engines (:mod:`.dpe`), the
reconfigurable vector engine (:mod:`.rvpe`), the update engine (:mod:`.upe`) and, for now, the
datapath top that places them (:mod:`.datapath`), the modes and their op decode
(:mod:`.modes`); pieces of the attention controller so far:
the descriptor check (:mod:`.attention_desc`), the loop nest (:mod:`.attention_seq`) and the
DPE beat order (:mod:`.dpe_order`).
Bit-exact models: :mod:`hybridgen.golden.ursc` and :mod:`hybridgen.golden.numerics`."""

from .attention_desc import AttentionCheck, AttentionError
from .attention_seq import AttentionSequencer
from .carry import InterleavedCarry
from .datapath import UrscDatapath
from .dpe import Dpe, Dpu
from .dpe_order import DpeOrder
from .modes import ModeDecode, UrscMode
from .rvpe import Rvpe, RvpeUnit
from .upe import Upe, UpeOp, UpeUnit

__all__ = ["AttentionCheck", "AttentionError", "AttentionSequencer", "DpeOrder",
           "InterleavedCarry", "ModeDecode", "UrscMode", "UrscDatapath", "Dpe", "Dpu", "Rvpe", "RvpeUnit", "Upe", "UpeOp",
           "UpeUnit"]
