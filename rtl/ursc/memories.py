"""On-chip memories of the URSC core and their geometry for PipeFlash attention.

:class:`CoreGeometry` is the parameter object of the core (the RTL never reads the ``gen``
config): the engine sizes, the bus, and the banking of every memory, derived in one place.
:class:`BankedMemory` is ``banks`` :class:`amaranth.lib.memory.Memory` s that share their
addresses (one synchronous read port and one write port per bank, optional write
granularity). :class:`UrscMemories` places the core's memories:

=========  ============  ================  =====================================================
memory     banks         word              holds (word address)
=========  ============  ================  =====================================================
``q``      ``lanes``     ``mults`` bf16    global buffer: Q row r of the q-block in bank
                                           ``r % lanes`` at ``(r // lanes) * dchunks + c``
``o``      ``lanes``     ``dpus`` fp32     global buffer: O accumulators of row r, columns
                                           ``ct * dpus ...`` at ``(r // lanes) * ctiles + ct``
``k``      ``dpus``      ``mults`` bf16    operand memory 0: K_j row ``kk`` in bank
                                           ``kk % dpus`` at ``(kk // dpus) * dchunks + c``
``v``      ``mults``     ``dpus`` bf16     operand memory 1: V_j row ``kk``, columns
                                           ``ct * dpus ...`` in bank ``kk % mults`` at
                                           ``(kk // mults) * ctiles + ct`` (so one read of
                                           every bank is the B operand of a P V beat)
``s0``,    ``lanes``     ``vector_width``  VMEM: S (then s, p) of row tile lane l, vector v at
``s1``                   fp32              ``v`` of ``s<h>``, ``h`` the item's parity (written by
                                           DPE0 in ``dpus`` granules, then by softmax unit h)
``p``      ``lanes``     ``vector_width``  VMEM: the bf16 P of lane l, vector v at
                         bf16              ``r * p_region + v``, ``r`` = the item's index mod 3
``u``      1             ``2 lanes`` fp32  UMEM: m (lanes 0 ...) and l of the row tile with
                                           index ``t`` (``t0 = t * lanes``) at ``t``
=========  ============  ================  =====================================================

``dchunks = ceil(d / mults)``, ``ctiles = ceil(d / dpus)``. The depths come from the
configuration's memory sizes (the global buffer split 1 : 4 between Q and O, VMEM 4 : 3 between
the two S memories and P, so that an S memory and a P region hold the same vectors). S is two
memories (``memories["s"]`` each, :attr:`CoreGeometry.vmem_half` words), one per softmax unit,
selected by the item's parity: DPE0 writes S of one item while the two RVPE units work on the
two items before it; P is one memory in three regions of :attr:`CoreGeometry.p_region` words
(the items of the softmax units and of DPE1 are three consecutive ones; rtl/ursc/pipeflash.py).
:meth:`CoreGeometry.layout_fits` says whether a descriptor's blocks fit them with
this banking (the padding to whole words included).
"""

from dataclasses import dataclass

from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.rtl.mem.widths import address_bits

__all__ = ["CoreGeometry", "BankedMemory", "UrscMemories", "ADDR_BITS"]

#: Memories with a second write port (``<name>_w1``): the S buffer, written by DPE0 (S) and by
#: the RVPE passes.
_WRITERS = {"s": 2, "p": 2}

#: Memories built once per softmax unit (``<name><u>_w``, ...): the S buffer.
_PER_UNIT = ("s",)

#: Width of the AXI address (descriptor addresses are 64-bit fields; the port uses the low bits).
ADDR_BITS = 32


def _ceil(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class CoreGeometry:
    """Sizes of the URSC core (module docstring). Build with :meth:`of` from a config."""

    lanes: int
    dpus: int
    mults: int
    vector_width: int
    update_width: int
    bus_bytes: int
    outstanding: int
    global_bytes: int
    operand_bytes: int
    vmem_bytes: int
    umem_bytes: int
    #: Softmax units of the PipeFlash controller (RVPE units it drives, at most 2), one S
    #: memory each.
    softmax_units: int = 2

    def __post_init__(self):
        if self.vector_width % self.mults or self.vector_width % self.dpus:
            raise ValueError(f"vector_width must be a multiple of dpe_mults and dpe_dpus, not "
                             f"{self.vector_width!r}")
        if self.lanes > self.vector_width:
            raise ValueError(f"dpe_lanes must be at most vector_width, not {self.lanes!r}")
        if self.update_width < self.dpus:
            raise ValueError(f"update_width must be at least dpe_dpus, not "
                             f"{self.update_width!r}")

    @classmethod
    def of(cls, config):
        return cls(lanes=config.dpe_lanes, dpus=config.dpe_dpus, mults=config.dpe_mults,
                   vector_width=config.vector_width, update_width=config.update_width,
                   bus_bytes=config.bus_bits // 8, outstanding=config.read_outstanding,
                   global_bytes=config.global_kib * 1024,
                   operand_bytes=config.operand_kib * 1024,
                   vmem_bytes=config.vmem_kib * 1024, umem_bytes=config.umem_kib * 1024,
                   softmax_units=min(2, config.vector_units))

    # -- memories: (banks, word bits, depth, write granularity) -------------------------------
    @property
    def memories(self):
        L, D, M, W = self.lanes, self.dpus, self.mults, self.vector_width
        q_word, o_word, k_word, v_word = M * 16, D * 32, M * 16, D * 16
        s_word, p_word, u_word = W * 32, W * 16, 2 * L * 32
        q_bytes = self.global_bytes // 5
        return {
            "q": (L, q_word, max(1, 8 * q_bytes // (L * q_word)), None),
            "o": (L, o_word, max(1, 8 * (self.global_bytes - q_bytes) // (L * o_word)), None),
            "k": (D, k_word, max(1, 8 * self.operand_bytes // (D * k_word)), None),
            "v": (M, v_word, max(1, 8 * self.operand_bytes // (M * v_word)), None),
            "s": (L, s_word, max(1, 8 * (2 * self.vmem_bytes // 7) // (L * s_word)), D * 32),
            "p": (L, p_word, max(1, 8 * (3 * self.vmem_bytes // 7) // (L * p_word)), None),
            "u": (1, u_word, max(1, 8 * self.umem_bytes // u_word), None),
        }

    @property
    def vmem_half(self):
        """Words of each of the two S memories."""
        return self.memories["s"][2]

    @property
    def p_region(self):
        """Words of one of the P buffer's three regions."""
        return max(1, self.memories["p"][2] // 3)

    def kv_double(self, *, block_k, d):
        """True (a Python bool or an Amaranth value) when K_j and V_j of a block fit half their
        operand memory each: K_j, V_j of key block j then go to half ``j mod 2`` (word
        ``(j mod 2) * kv_half[name]``), so the next block loads while this one is used."""
        need = self.words(block_q=1, block_k=block_k, d=d)
        half = self.kv_half
        return (need["k"] <= half["k"]) & (need["v"] <= half["v"])

    @property
    def kv_half(self):
        """Words of half the K and of half the V memory."""
        return {name: self.memories[name][2] // 2 for name in ("k", "v")}

    def capacity(self):
        """Words per bank each memory offers a block (P: one region)."""
        cap = {name: depth for name, (_, _, depth, _) in self.memories.items()}
        cap["p"] = self.p_region
        return cap

    def words(self, *, block_q, block_k, d):
        """Words per bank each memory needs for blocks ``block_q`` x ``block_k`` at ``d``
        (Python ints or Amaranth values)."""
        L, D, M, W = self.lanes, self.dpus, self.mults, self.vector_width
        dchunks = (d + M - 1) >> exact_log2(M)
        ctiles = (d + D - 1) // D
        qrows = (block_q + L - 1) // L
        vectors = (block_k + W - 1) >> exact_log2(W)
        return {"q": qrows * dchunks, "o": qrows * ctiles,
                "k": ((block_k + D - 1) // D) * dchunks,
                "v": ((block_k + M - 1) >> exact_log2(M)) * ctiles,
                "s": vectors, "p": vectors, "u": qrows}

    def layout_fits(self, *, block_q, block_k, d):
        """True (a Python bool or an Amaranth value) when the blocks fit every memory."""
        need = self.words(block_q=block_q, block_k=block_k, d=d)
        fits = 1
        for name, depth in self.capacity().items():
            fits = fits & (need[name] <= depth)
        return fits

    @property
    def chunk_bytes(self):
        """Read DMA chunk kinds: 0 = ``mults`` bf16 (Q and K rows), 1 = ``dpus`` bf16 (V)."""
        return (2 * self.mults, 2 * self.dpus)

    @property
    def store_bytes(self):
        """Bytes of one output piece (``dpus`` bf16 of an O row)."""
        return 2 * self.dpus


def write_signature(banks, width, depth, granules):
    """A write port of a :class:`BankedMemory`: ``data[b]`` at ``addr`` of bank b, granule g
    when ``en[b][g]``."""
    return wiring.Signature({"addr": Out(address_bits(depth)),
                             "data": Out(data.ArrayLayout(width, banks)),
                             "en": Out(data.ArrayLayout(granules, banks))})


def read_signature(banks, width, depth):
    """A read port: ``data[b]`` is bank b's word at the ``addr`` of the last cycle with ``en``."""
    return wiring.Signature({"addr": Out(address_bits(depth)), "en": Out(1),
                             "data": In(data.ArrayLayout(width, banks))})


class BankedMemory(wiring.Component):
    """``banks`` memories of ``depth`` words of ``width`` bits with shared addresses;
    ``writes`` write ports (their writers are never active in the same cycle).

    Members
    -------
    w : In(write_signature(...)).array(writes)
    r : In(read_signature(...))
    """

    def __init__(self, *, banks, width, depth, granularity=None, writes=1):
        self._banks, self._width, self._depth = banks, width, depth
        self._granularity = granularity
        granules = 1 if granularity is None else width // granularity
        super().__init__({"w": In(write_signature(banks, width, depth, granules)).array(writes),
                          "r": In(read_signature(banks, width, depth))})

    def elaborate(self, platform):
        m = Module()
        for b in range(self._banks):
            mem = Memory(shape=self._width, depth=self._depth, init=[])
            m.submodules[f"bank{b}"] = mem
            for w in self.w:
                write = mem.write_port(granularity=self._granularity)
                m.d.comb += [write.addr.eq(w.addr), write.data.eq(w.data[b]), write.en.eq(w.en[b])]
            read = mem.read_port()
            m.d.comb += [read.addr.eq(self.r.addr), read.en.eq(self.r.en),
                         self.r.data[b].eq(read.data)]
        return m


class UrscMemories(wiring.Component):
    """The memories of the module docstring; ``<name>_w`` and ``<name>_r`` per memory.

    Members
    -------
    q_w, q_r, o_w, o_r, k_w, k_r, v_w, v_r, s0_w, s0_w1, s0_r, s1_w, s1_w1, s1_r, p_w, p_w1,
    p_r, u_w, u_r :
        the :class:`BankedMemory` ports of each memory
    """

    def __init__(self, geometry):
        self._g = geometry
        members = {}
        for name, (kind, (banks, width, depth, gran)) in self._instances().items():
            granules = 1 if gran is None else width // gran
            for port in range(_WRITERS.get(kind, 1)):
                members[f"{name}_w{port or ''}"] = In(write_signature(banks, width, depth,
                                                                     granules))
            members[f"{name}_r"] = In(read_signature(banks, width, depth))
        super().__init__(members)

    def _instances(self):
        out = {}
        for kind, shape in self._g.memories.items():
            copies = self._g.softmax_units if kind in _PER_UNIT else None
            for k in range(copies or 1):
                out[f"{kind}{k}" if copies else kind] = (kind, shape)
        return out

    def elaborate(self, platform):
        m = Module()
        for name, (kind, (banks, width, depth, gran)) in self._instances().items():
            writes = _WRITERS.get(kind, 1)
            mem = BankedMemory(banks=banks, width=width, depth=depth, granularity=gran,
                               writes=writes)
            m.submodules[name] = mem
            for port in range(writes):
                wiring.connect(m, wiring.flipped(getattr(self, f"{name}_w{port or ''}")),
                               mem.w[port])
            wiring.connect(m, wiring.flipped(getattr(self, f"{name}_r")), mem.r)
        return m
