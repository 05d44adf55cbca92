"""AXI4 master port (the subset the DMA uses) as Amaranth signatures.

Members are flat and named as in the AXI4 specification (``araddr``, ``rvalid``, ...), so the
Verilog ports are ``<port>__araddr`` etc. and cocotbext-axi finds them with the prefix
``"<port>_"``. Subset: no ID (responses return in order), no LOCK/CACHE/PROT/QOS/REGION/USER;
bursts are INCR with ``size`` = the full data width; RRESP/BRESP are received but not acted on
(an error response is counted by the engine as ``bus_errors``).
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["axi_read_signature", "axi_write_signature", "axi_signature", "BURST_INCR",
           "MAX_BURST_BEATS", "BOUNDARY_BYTES"]

BURST_INCR = 1
#: AXI4 INCR bursts: at most 256 beats, never crossing a 4 KB boundary.
MAX_BURST_BEATS = 256
BOUNDARY_BYTES = 4096


def _read_members(addr_bits, data_bits):
    return {
        "araddr": Out(addr_bits), "arlen": Out(8), "arsize": Out(3), "arburst": Out(2),
        "arvalid": Out(1), "arready": In(1),
        "rdata": In(data_bits), "rresp": In(2), "rlast": In(1), "rvalid": In(1),
        "rready": Out(1),
    }


def _write_members(addr_bits, data_bits):
    return {
        "awaddr": Out(addr_bits), "awlen": Out(8), "awsize": Out(3), "awburst": Out(2),
        "awvalid": Out(1), "awready": In(1),
        "wdata": Out(data_bits), "wstrb": Out(data_bits // 8), "wlast": Out(1),
        "wvalid": Out(1), "wready": In(1),
        "bresp": In(2), "bvalid": In(1), "bready": Out(1),
    }


def axi_read_signature(addr_bits, data_bits):
    """Read channels (AR, R) of a master."""
    return wiring.Signature(_read_members(addr_bits, data_bits))


def axi_write_signature(addr_bits, data_bits):
    """Write channels (AW, W, B) of a master."""
    return wiring.Signature(_write_members(addr_bits, data_bits))


def axi_signature(addr_bits, data_bits):
    """All five channels of a master."""
    return wiring.Signature({**_write_members(addr_bits, data_bits),
                             **_read_members(addr_bits, data_bits)})
