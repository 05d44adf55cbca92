"""The decode array (block "decode"): vector lanes fed by several AXI4 channels, running
``y = x @ W`` (GEMV / skinny GEMM, batch 1..max_batch) at memory speed.

Host interface: a descriptor stream ``desc`` (:func:`.layouts.descriptor_layout`) and a
completion stream ``done`` (performance counters and an error code). Memory: ``channels`` AXI4
master ports ``m_axi[c]``, one per HBM pseudo-channel, each with its own read DMA (W, and x on
channel 0) and write DMA (y).

Structure (each a component; :mod:`.array` only places and connects them)::

    desc -> DescriptorIntake (rtl/ctrl) <-> GemvControl (control.py) -> job
    per channel (channel.py): RowRequests -> ReadDma -> BeatSequencer -> GemvLane x max_batch
                              -> Results -> WriteDma
    channel 0's x chunks -> XBuffer (xbuffer.py) -> every channel's sequencer
    CounterBank (rtl/ctrl) -> the completion beat

Channel layout of W, the schedule and the order of operations: :mod:`.geometry`,
:mod:`.lane` and docs/decode.md.
"""

from .array import DecodeArray
from .geometry import DecodeGeometry
from .layouts import Error, Op

__all__ = ["DecodeArray", "DecodeGeometry", "Error", "Op"]
