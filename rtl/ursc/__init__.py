"""The HLX unified core (URSC): two dot-product engines (:mod:`.dpe`), the
reconfigurable vector engine (:mod:`.rvpe`), the update engine (:mod:`.upe`) and, for now, the
datapath that places them (:mod:`.datapath`), the modes and their op decode (:mod:`.modes`),
and the core top (:mod:`.core`) with the PipeFlash attention controller: the descriptor check (:mod:`.attention_desc`), the loop nest
(:mod:`.attention_seq`), the DPE beat order (:mod:`.dpe_order`), the memories
(:mod:`.memories`), the loader (:mod:`.loader`), the DPE feeds (:mod:`.feeds`), the softmax
program (:mod:`.softmax`), the O update and store (:mod:`.update`) and the item controller
(:mod:`.pipeflash`).
Bit-exact models: :mod:`hybridgen.golden.ursc` and :mod:`hybridgen.golden.numerics`."""

from .attention_desc import AttentionCheck, AttentionError
from .attention_seq import AttentionSequencer
from .carry import InterleavedCarry
from .core import UrscCore
from .datapath import UrscDatapath
from .dpe import Dpe, Dpu
from .dpe_order import DpeOrder
from .modes import ModeDecode, UrscMode
from .rvpe import Rvpe, RvpeUnit
from .upe import Upe, UpeOp, UpeUnit

__all__ = ["AttentionCheck", "AttentionError", "AttentionSequencer", "DpeOrder",
           "InterleavedCarry", "ModeDecode", "UrscMode", "UrscCore", "UrscDatapath", "Dpe",
           "Dpu", "Rvpe", "RvpeUnit", "Upe", "UpeOp", "UpeUnit"]
