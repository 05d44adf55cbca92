"""Configuration of the HLX unified core (URSC, ``rtl/ursc``)."""

from dataclasses import dataclass

from ..config import Config, group, param
from ..errors import ConfigError
from ..regmap import register_map
from .vector import SfuConfig

__all__ = ["UrscConfig"]

DESCRIPTOR_DOCS = {
    "q_addr": "byte address of Q [b, sq, hq, d] bf16", "k_addr": "byte address of K [b, sk, hkv, d]",
    "v_addr": "byte address of V [b, sk, hkv, d]", "o_addr": "byte address of O [b, sq, hq, d]",
    "b": "batch", "sq": "query length", "sk": "key length", "hq": "query heads",
    "hkv": "kv heads (divides hq)", "d": "head dimension 16..256", "block_q": "query rows per block",
    "block_k": "keys per block", "causal": "bottom-right causal mask", "scale": "fp32 bits of the scale",
}
COMPLETION_DOCS = {
    "cycles": "descriptor taken to finish", "dpe0_busy": "beats DPE0 took",
    "dpe1_busy": "beats DPE1 took", "rvpe_busy": "beats RVPE unit 0 took",
    "upe_busy": "beats UpE unit 0 took", "dpe_cycles": "cycles a DPE took a beat",
    "stall_load": "no DPE beat: waiting for a block load",
    "stall_dpe": "no DPE beat: DPE pipeline latency", "stall_softmax": "no DPE beat: softmax",
    "stall_update": "no DPE beat: O update", "stall_store": "no DPE beat: output store",
    "stall_control": "no DPE beat: controller steps", "read_bytes": "bytes read",
    "write_bytes": "bytes written", "error": "AttentionError flags, 0 = done",
}


@dataclass(frozen=True)
class UrscConfig(Config):
    """The URSC core: two dot-product engines (DPE0, DPE1) of ``dpe_lanes x dpe_dpus`` DPUs of
    ``dpe_mults`` bf16 products, an RVPE of ``vector_units`` units of ``vector_width`` fp32
    lanes, an UpE of ``update_units`` units of ``update_width`` lanes, and the memory sizes of
    the core (global buffer, per-DPE operand memories, VMEM, UMEM).

    ``build()`` returns :class:`hybridgen.rtl.ursc.core.UrscCore`: the engines with the
    PipeFlash attention controller, the on-chip memories sized here, the AXI4 master port
    through the shared DMA, descriptor intake and counters (``register_maps`` describes the
    descriptor and completion words). The SSD dataflow is not in the core yet.

    ``modes`` selects the RVPE and UpE logic built (:mod:`hybridgen.rtl.ursc.modes`); a "both"
    build's datapath has a ``mode`` input, and ``rvpe_latency`` is that of the units built.
    """

    block = "ursc"
    # ABC's SAT sweep never finishes on the softplus unit (docs/timing.md, "softplus").
    synth_abc = "nofraig"
    #: ``hybridgen synth`` area breakdown: module-name substrings of each group (first match
    #: wins; the UpE's adder is its own leaf, ``upe_fp32_add_l3``, so no leaf is shared by two
    #: engines). DPE0 and DPE1 are two instances of one module (each is half the group); the
    #: RVPE's ``fp32_add`` / ``fp32_minmax`` leaves are its reduction trees and carry (the
    #: DPE's adder is ``fp32_add_l3``, claimed first). ``memories`` is the logic around the
    #: SRAM macros (banking, read selects; the macros are the flow's own group), ``DMA`` the
    #: shared ReadDma / WriteDma and the loader that issues their requests; ``control`` is the
    #: rest (descriptor intake, counters, the loop nest, the PipeFlash item controller, the DPE
    #: feeds, the softmax program and the O update).
    area_groups = {"DPE0 + DPE1": ["__dpe_", "__dpu_", "__bf16_mul_exact", "__fp32_add_l3"],
                   "RVPE": ["__rvpe_", ".rvpe", "_vector_lane", "__fp32_add", "__fp32_minmax"],
                   "UpE": ["__upe_", ".upe", "__fp32_mul", "__fp32_to_bf16"],
                   "memories": [".memories"],
                   "DMA": [".reader", ".writer", ".loader"],
                   "control": []}
    derived = ("peak_macs_per_cycle", "dpe_interleave", "dpe_latency", "rvpe_latency",
               "upe_latency", "memory_bits", "dpe_beat_bits")

    dpe_lanes: int = param(2, doc="DPE lanes (rows of A per beat) per DPE", min=1, max=256)
    dpe_dpus: int = param(2, doc="DPUs per lane (columns of B per beat) per DPE", min=1,
                          max=256)
    dpe_mults: int = param(4, doc="bf16 products per DPU (reduction chunk)", min=2, max=64,
                           power_of_two=True)
    vector_units: int = param(2, doc="RVPE vector units", min=1, max=8)
    vector_width: int = param(8, doc="fp32 lanes per RVPE unit", min=2, max=1024,
                              power_of_two=True)
    update_units: int = param(2, doc="UpE update units", min=1, max=8)
    update_width: int = param(4, doc="fp32 lanes per UpE unit", min=1, max=1024)
    modes: str = param("both", doc="dataflows built: attention (PipeFlash), ssd (PipeSSD) or "
                       "both (the descriptor chooses)", choices=("attention", "ssd", "both"))
    global_kib: int = param(64, doc="global buffer KiB", min=1, max=65536)
    operand_kib: int = param(8, doc="operand memory KiB per DPE", min=1, max=16384)
    vmem_kib: int = param(4, doc="RVPE vector memory (VMEM) KiB", min=1, max=16384)
    umem_kib: int = param(4, doc="UpE memory (UMEM) KiB", min=1, max=16384)
    bus_bits: int = param(128, doc="AXI data width in bits", min=32, max=1024,
                          power_of_two=True)
    read_outstanding: int = param(8, doc="AXI read bursts in flight", min=1, max=64)
    sfu: SfuConfig = group(SfuConfig, doc="special-function approximations of the RVPE lanes")

    def check(self):
        beat = self.dpe_beat_bits
        if self.operand_kib * 8192 < 2 * beat:
            raise ConfigError("operand_kib", f"must hold two DPE beats ({2 * beat} bits), not "
                                             f"{self.operand_kib} KiB")
        vector = self.vector_units * self.vector_width * 32
        if self.vmem_kib * 8192 < 2 * vector:
            raise ConfigError("vmem_kib", f"must hold two vectors of every RVPE unit "
                                          f"({2 * vector} bits), not {self.vmem_kib} KiB")
        row = self.update_units * self.update_width * 32
        if self.umem_kib * 8192 < 2 * row:
            raise ConfigError("umem_kib", f"must hold two rows of every UpE unit "
                                          f"({2 * row} bits), not {self.umem_kib} KiB")

    @property
    def peak_macs_per_cycle(self):
        """Both DPEs: ``2 * dpe_lanes * dpe_dpus * dpe_mults``."""
        return 2 * self.dpe_lanes * self.dpe_dpus * self.dpe_mults

    @property
    def dpe_beat_bits(self):
        """Operand bits one DPE consumes per beat: ``(lanes + dpus) * mults * 16``."""
        return (self.dpe_lanes + self.dpe_dpus) * self.dpe_mults * 16

    @property
    def dpe_interleave(self):
        """Output tiles a DPE keeps in flight (accumulator slots)."""
        from hybridgen.rtl.ursc.dpe import ACCUMULATOR_LATENCY
        return ACCUMULATOR_LATENCY

    @property
    def dpe_latency(self):
        """Cycles from a DPE's ``last`` beat to its result beat."""
        from hybridgen.rtl.ursc.dpe import dpu_latency
        return dpu_latency(self.dpe_mults)

    @property
    def rvpe_latency(self):
        from hybridgen.rtl.ursc.rvpe import rvpe_unit_latency
        return rvpe_unit_latency(self.vector_width, self.sfu.params(), self.modes)

    @property
    def upe_latency(self):
        from hybridgen.rtl.ursc.upe import upe_latency
        return upe_latency()

    @property
    def memory_bits(self):
        """Bits of each on-chip memory (two operand memories) and their total."""
        bits = {"global": self.global_kib * 8192, "operand": 2 * self.operand_kib * 8192,
                "vmem": self.vmem_kib * 8192, "umem": self.umem_kib * 8192}
        return {**bits, "total": sum(bits.values())}

    def datapath_params(self):
        """Keyword arguments of the engines (:class:`hybridgen.rtl.ursc.datapath.UrscDatapath`)."""
        return dict(lanes=self.dpe_lanes, dpus=self.dpe_dpus, mults=self.dpe_mults,
                    vector_units=self.vector_units, vector_width=self.vector_width,
                    update_units=self.update_units, update_width=self.update_width,
                    params=self.sfu.params(), modes=self.modes)

    def register_maps(self):
        """The host interface: the attention descriptor (in) and the completion record (out),
        as 32-bit word maps (:mod:`hybridgen.gen.regmap`)."""
        from hybridgen.rtl.ursc.attention_desc import AttentionError, attention_descriptor
        from hybridgen.rtl.ctrl.descriptor import completion_layout
        from hybridgen.rtl.ursc.core import status_layout
        return {"descriptor": register_map(attention_descriptor(), DESCRIPTOR_DOCS),
                "completion": register_map(completion_layout(status_layout(), AttentionError),
                                           COMPLETION_DOCS)}

    def check_core(self):
        """The PipeFlash core's banking limits (rtl/ursc/memories.py, ``CoreGeometry``), checked
        when the core is built (after every override is applied)."""
        for multiple in ("dpe_mults", "dpe_dpus"):
            if self.vector_width % getattr(self, multiple):
                raise ConfigError("vector_width", f"must be a multiple of {multiple} "
                                                  f"({getattr(self, multiple)}), not "
                                                  f"{self.vector_width}")
        if self.dpe_lanes > self.vector_width:
            raise ConfigError("dpe_lanes", f"must be at most vector_width "
                                           f"({self.vector_width}), not {self.dpe_lanes}")
        if self.update_width < self.dpe_dpus:
            raise ConfigError("update_width", f"must be at least dpe_dpus ({self.dpe_dpus}), "
                                              f"not {self.update_width}")

    def build(self, library):
        """The top-level component: :class:`hybridgen.rtl.ursc.core.UrscCore`."""
        from hybridgen.rtl.ursc.core import UrscCore
        self.check_core()
        return UrscCore(self, library=library)
