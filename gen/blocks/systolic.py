"""Configuration of the systolic GEMM engine (the prefill chiplet's compute, ``rtl/systolic``)."""

from dataclasses import dataclass

from hybridgen.rtl.systolic.engine import GemmEngine
from hybridgen.rtl.systolic.geometry import EngineGeometry
from hybridgen.rtl.systolic.layouts import COUNTER_DOCS, DESCRIPTOR_DOCS

from ..config import Config, param
from ..errors import ConfigError
from ..regmap import register_map

__all__ = ["SystolicConfig"]


@dataclass(frozen=True)
class SystolicConfig(Config):
    """A ``rows`` x ``cols`` systolic array, banked scratchpad and accumulator memories, an
    AXI4 DMA and a controller that runs whole GEMMs from a descriptor
    (:class:`hybridgen.rtl.systolic.engine.GemmEngine`).

    ``dataflow``: ``"ws"`` weight-stationary with double-buffered weights, ``"os"``
    output-stationary (outputs accumulate in the PEs and drain while the next tile computes),
    or ``"both"`` (the descriptor chooses per GEMM; the PEs carry both datapaths).
    """

    block = "systolic"
    #: ``hybridgen synth`` area breakdown: module name substrings of each group; the
    #: controller is the rest (the top's own logic: sequencing agents, address generators,
    #: tokens, counters, small memories built from flops, the write-back queue)
    area_groups = {"pe array (PEs, skew, deskew)": ["__pe_", "__core_", "__delay", ".array"],
                   "accumulate adders": ["__fp32_add_"],
                   "memories built from flops (< 32 words)": ["__sram"],
                   "dma (AXI read/write)": [".reader", ".writer"],
                   "controller": []}
    derived = ("element_bytes", "dataflows", "peak_macs_per_cycle", "array_latency", "os_latency",
               "os_interleave", "os_block_rows", "min_slot",
               "line_chunks", "spad_lines", "scratchpad_bytes", "accumulator_bytes", "weight_buffer_bytes",
               "max_k", "descriptor_words", "geometry_params")

    rows: int = param(16, doc="PE rows (WS: the K extent of a weight tile; OS: output rows)",
                      min=2, max=512)
    cols: int = param(16, doc="PE columns (the N extent of a tile)", min=2, max=512)
    dataflow: str = param("ws", doc="dataflow: weight-stationary, output-stationary, or both "
                          "(chosen per GEMM)", choices=("ws", "os", "both"))
    dtype: str = param("int8", doc="operands (int8 -> int32, bf16 -> fp32 accumulation)",
                       choices=("int8", "bf16"))
    adder_latency: int = param(3, doc="fp32 adder pipeline stages (bf16 PEs and accumulator)",
                               min=1, max=5)
    bus_bits: int = param(512, doc="AXI data width in bits", min=32, max=1024,
                          power_of_two=True)
    addr_bits: int = param(32, doc="AXI address width", min=16, max=48)
    outstanding: int = param(8, doc="AXI bursts in flight per direction", min=1, max=64)
    acc_rows: int = param(256, doc="rows of C per accumulator bank (M block), two banks",
                          min=8, max=16384)
    spad_rows: int = param(2048, doc="scratchpad capacity per buffer in chunks of `rows` A "
                           "values (M block x ceil(K/rows)); two buffers, each split into "
                           "line banks", min=8, max=65535)

    os_max_k: int = param(256, doc="largest K of an output-stationary GEMM (sizes the weight "
                          "buffer: 2 slots of os_max_k rows of B; unused when dataflow is ws)",
                          min=1, max=65535)

    def check(self):
        if self.bus_bits // 8 > 4096:
            raise ConfigError("bus_bits", f"must be <= 32768, not {self.bus_bits}")

    @property
    def engine_geometry(self):
        """The engine's geometry (:class:`hybridgen.rtl.systolic.geometry.EngineGeometry`):
        every figure below is read from it."""
        return EngineGeometry(rows=self.rows, cols=self.cols, dtype=self.dtype,
                              dataflow=self.dataflow, adder_latency=self.adder_latency,
                              bus_bytes=self.bus_bits // 8, addr_bits=self.addr_bits,
                              outstanding=self.outstanding, acc_rows=self.acc_rows,
                              spad_rows=self.spad_rows, os_max_k=self.os_max_k)

    @property
    def geometry_params(self):
        """The constructor's arguments of :attr:`engine_geometry` (in the sidecar, for the
        testbench to rebuild it)."""
        return self.engine_geometry.params()

    @property
    def element_bytes(self):
        return self.engine_geometry.element_bytes

    @property
    def dataflows(self):
        """The dataflows a descriptor may choose (the first is the bench's)."""
        return self.engine_geometry.dataflows

    @property
    def peak_macs_per_cycle(self):
        return self.rows * self.cols

    @property
    def array_latency(self):
        """WS: cycles from an A row entering the array to its result row leaving it."""
        return self.engine_geometry.array_latency

    @property
    def os_latency(self):
        """OS: cycles from a tile's first A value in row 0 to the previous tile's first result."""
        return self.engine_geometry.os_latency

    @property
    def os_interleave(self):
        """OS: outputs each PE accumulates at once (1 for int8, the adder latency for bf16); an
        OS job covers ``rows * os_interleave`` rows of C."""
        return self.engine_geometry.os_interleave

    @property
    def os_block_rows(self):
        """OS: most rows of an M block (``acc_rows`` rounded down to a multiple of
        ``rows * os_interleave`` when at least that); the scratchpad may allow fewer."""
        return self.engine_geometry.os_block_rows

    @property
    def min_slot(self):
        """Cycles a job (one weight tile) occupies the A stream at least: the accumulator's
        read-modify-write (read 1 + add + write 1) plus 2, so a row's update is written before
        the next job reads it."""
        return self.engine_geometry.min_slot

    @property
    def line_chunks(self):
        """Chunks of ``rows`` A values per scratchpad line (one line is written per cycle)."""
        return self.engine_geometry.line_chunks

    @property
    def spad_lines(self):
        """Lines per scratchpad bank."""
        return self.engine_geometry.spad_lines

    @property
    def scratchpad_bytes(self):
        return self.engine_geometry.scratchpad_bytes

    @property
    def accumulator_bytes(self):
        return self.engine_geometry.accumulator_bytes

    @property
    def weight_buffer_bytes(self):
        return self.engine_geometry.weight_buffer_bytes

    @property
    def max_k(self):
        """Largest K a GEMM may have (a scratchpad bank must hold one row of A)."""
        return self.engine_geometry.max_k

    @property
    def descriptor_words(self):
        return self.engine_geometry.descriptor_words

    def register_maps(self):
        """The host interface: GEMM descriptor (in) and completion record (out), as 32-bit
        word maps (:mod:`hybridgen.gen.regmap`)."""
        g = self.engine_geometry
        return {"descriptor": register_map(g.descriptor_layout, DESCRIPTOR_DOCS),
                "completion": register_map(g.completion_layout, COUNTER_DOCS)}

    def build(self, library):
        """The top-level component: :class:`hybridgen.rtl.systolic.engine.GemmEngine`."""
        return GemmEngine(library, self.engine_geometry)
