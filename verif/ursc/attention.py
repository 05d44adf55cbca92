"""Attention jobs for the URSC core's testbench: Q, K, V placed in the AXI memory model with a
guard pattern around O, descriptors packed from the design's sidecar, O read back, and what
the core's counters must read (the testbench's own count, from the item stream of
:func:`hybridgen.rtl.ursc.attention_seq.attention_items`)."""

from dataclasses import dataclass, field

import numpy as np

from hybridgen.golden.ursc import EngineParams, _f32, ursc_attention
from hybridgen.rtl.ursc.attention_seq import attention_items
from hybridgen.rtl.ursc.dpe_order import SLOTS, dpe_filler_count
from hybridgen.rtl.ursc.softmax import RECIP_PROGRAM, RIDERS, SOFTMAX_PROGRAM

__all__ = ["AttentionJob", "random_qkv", "expected_counters", "GUARD"]

#: Byte pattern around O (the core must not touch it).
GUARD = 0xA5
_GUARD_BYTES = 64


def _ceil(a, b):
    return -(-a // b)


def random_qkv(rng, b, sq, sk, hq, hkv, d):
    """bf16 bit patterns: normal values of mixed sign and magnitude, a few zeros."""
    def bf16(shape):
        sign = rng.integers(0, 2, shape).astype(np.uint16) << 15
        exponent = rng.integers(121, 130, shape).astype(np.uint16) << 7
        bits = sign | exponent | rng.integers(0, 128, shape).astype(np.uint16)
        bits[rng.random(shape) < 0.03] = 0
        return bits.astype(np.uint16)
    return bf16((b, sq, hq, d)), bf16((b, sk, hkv, d)), bf16((b, sk, hkv, d))


@dataclass
class AttentionJob:
    """One attention kernel in memory (addresses set by :meth:`place`)."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    causal: bool = False
    scale: int = None
    block_q: int = 4
    block_k: int = 4
    q_addr: int = 0
    k_addr: int = 0
    v_addr: int = 0
    o_addr: int = 0
    end: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.scale is None:
            self.scale = int(_f32(1.0 / np.sqrt(self.q.shape[3])))

    @property
    def shape(self):
        b, sq, hq, d = self.q.shape
        return dict(b=b, sq=sq, sk=self.k.shape[1], hq=hq, hkv=self.k.shape[2], d=d)

    @property
    def o_bytes(self):
        return self.q.size * 2

    def place(self, rng, base, *, dense=False):
        """Addresses from ``base`` on (random even gaps unless ``dense``); returns the end."""
        def gap():
            return 0 if dense else 2 * int(rng.integers(0, 48))
        addr = base
        for name, array in (("q", self.q), ("k", self.k), ("v", self.v)):
            addr += gap()
            setattr(self, f"{name}_addr", addr)
            addr += array.size * 2
        self.o_addr = addr + _GUARD_BYTES + gap()
        self.end = self.o_addr + self.o_bytes + _GUARD_BYTES
        return self.end

    def load(self, memory):
        for name in ("q", "k", "v"):
            array = np.ascontiguousarray(getattr(self, name)).astype("<u2")
            memory.write(getattr(self, f"{name}_addr"), array.tobytes())
        memory.write(self.o_addr - _GUARD_BYTES, bytes([GUARD]) * (self.o_bytes + 2 * _GUARD_BYTES))

    def fields(self):
        """Descriptor fields (``extra`` overrides them: the bad descriptors of the tests)."""
        return {**dict(q_addr=self.q_addr, k_addr=self.k_addr, v_addr=self.v_addr,
                       o_addr=self.o_addr, **self.shape, block_q=self.block_q,
                       block_k=self.block_k, causal=int(self.causal), scale=self.scale),
                **self.extra}

    def descriptor(self, fields):
        """The descriptor payload integer (``fields`` from the sidecar's ``desc__payload``;
        packed here, as the 64-bit addresses do not fit the int64 of ``verif.stream.pack``)."""
        values = self.fields()
        word = 0
        for f in fields:
            word |= (int(values[f["name"]]) & ((1 << f["width"]) - 1)) << f["offset"]
        return word

    def result(self, memory):
        """O (uint16 [b, sq, hq, d]) as read back, and whether the guards survived."""
        raw = memory.read(self.o_addr - _GUARD_BYTES, self.o_bytes + 2 * _GUARD_BYTES)
        guard = bytes([GUARD]) * _GUARD_BYTES
        ok = raw[:_GUARD_BYTES] == guard and raw[-_GUARD_BYTES:] == guard
        o = np.frombuffer(raw[_GUARD_BYTES:-_GUARD_BYTES], "<u2").reshape(self.q.shape)
        return o.astype(np.uint16), ok

    def golden(self, config):
        return ursc_attention(self.q, self.k, self.v, causal=self.causal,
                              scale=np.uint32(self.scale), block_q=self.block_q,
                              block_k=self.block_k, config=config)


def expected_counters(config, job):
    """Counter values of one kernel, counted from its items (any schedule of
    rtl/ursc/pipeflash.py: the beats do not depend on the overlap): DPE beats (the 3-slot
    groups of each DPE's job stream: one S job and one P V job per visible item, chained into
    the next item's when that is the next row tile of the same key block, as
    ``pipeflash.chains``), RVPE beats of the softmax passes (every RVPE unit), UpE beats,
    bytes moved."""
    p = EngineParams.of(config)
    s = job.shape
    L, W = p.lanes, p.vector_width
    d = s["d"]
    dchunks, ctiles = _ceil(d, p.mults), _ceil(d, p.dpus)
    kinds = [k for _, k, _, _, _ in SOFTMAX_PROGRAM]
    count = dict(dpe0_busy=0, dpe1_busy=0, rvpe_busy=0, upe_busy=0, read_bytes=0,
                 write_bytes=job.o_bytes)
    s_jobs, pv_jobs = [], []
    for it in attention_items(**s, block_q=job.block_q, block_k=job.block_k,
                              causal=job.causal, lanes=L):
        if it["t0"] == 0:
            count["read_bytes"] += 2 * it["keys"] * d * 2
            if it["j0"] == 0:
                count["read_bytes"] += it["rows"] * d * 2
        vis = it["visible"]
        if vis:
            nv = _ceil(vis, W)
            chain = int(it["t0"] + it["tile"] < it["rows"])
            s_jobs.append((_ceil(vis, p.dpus), dchunks, chain))
            pv_jobs.append((ctiles, _ceil(vis, p.mults), chain))
            count["rvpe_busy"] += (kinds.count("vec") * L * nv
                                   + kinds.count("red") * SLOTS * _ceil(L, SLOTS) * nv
                                   + kinds.count("scal") + len(RIDERS))
            count["upe_busy"] += L * ctiles
        if it["last"]:
            count["rvpe_busy"] += len(RECIP_PROGRAM)
            count["upe_busy"] += it["tile"] * ctiles
    count["dpe0_busy"] = dpe_filler_count(s_jobs)[0]
    count["dpe1_busy"] = dpe_filler_count(pv_jobs)[0]
    return count
