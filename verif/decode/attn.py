"""A decode-attention job in the channel memories of the decode array (shared by the testbench
and the bench): the problem (the npz keys of ``hybridgen bench decode-attn``), where it lives
(:class:`hybridgen.rtl.decode.attn_layout.AttnLayout`), the descriptor, o read back and the
guard checks."""

import numpy as np

from hybridgen.golden.decode_attn import decode_attention_bits
from hybridgen.rtl.decode.attn_layout import AttnLayout
from hybridgen.rtl.decode.layouts import KV_FORMAT_NAMES, Op

from .gemv import GUARD

__all__ = ["AttnJob", "CASE_KEYS"]

#: the npz keys of a problem (golden.decode_attn.decode_attention_case)
CASE_KEYS = ("q", "k", "v", "k_packed", "v_packed", "cache_lens", "o")
GUARD_BYTES = 16


class AttnJob:
    """One decode-attention kernel: ``case`` (:data:`CASE_KEYS`; ``o`` is recomputed for the
    array's units and dot 32), the KV format and descriptor overrides ``extra``."""

    def __init__(self, geometry, case, *, fmt, extra=None):
        self.case = dict(case)
        b, hq, d = self.case["q"].shape
        _, hkv, T, _, _ = self.case["k_packed"].shape
        sk = self.case["k"].shape[1]
        self.fmt = fmt
        self.layout = AttnLayout(geometry, b=b, hq=hq, hkv=hkv, d=d, sk=sk, fmt=fmt)
        self.shape = (b, hq, hkv, d, sk, tuple(int(n) for n in self.case["cache_lens"]), fmt)
        self.extra = extra or {}
        self.q_addr = self.lens_addr = self.k_addr = self.v_addr = self.o_addr = 0

    def place(self, geometry, rng, base, *, dense=False):
        """Addresses from ``base`` on, the same in every channel; returns the end."""
        lay, bus = self.layout, geometry.bus_bytes
        b, hq, d = lay.b, lay.hq, lay.d
        if dense:   # every region on a beat boundary (the bench)
            step = lambda addr: -(-addr // bus) * bus
        else:       # K and V tiles on beat boundaries, q, lengths and o at odd offsets
            step = lambda addr: addr + 2 * int(rng.integers(0, 24))
        beat = lambda addr: -(-addr // bus) * bus
        self.lens_addr = -(-step(base + 16) // 4) * 4
        self.q_addr = step(self.lens_addr + 4 * b + 16)
        self.k_addr = beat(self.q_addr + 2 * b * hq * d + 16)
        self.v_addr = beat(self.k_addr + lay.cache_bytes + 16)
        self.o_addr = step(self.v_addr + lay.cache_bytes + GUARD_BYTES)
        self.o_end = self.o_addr + 2 * b * hq * d
        self.end = self.o_end + GUARD_BYTES + 16
        return self.end

    def load(self, geometry, memories):
        lay = self.layout
        lens = np.asarray(self.case["cache_lens"], "<u4").tobytes()
        q = np.asarray(self.case["q"], "<u2").tobytes()
        ks, vs = lay.pack_cache(self.case["k_packed"]), lay.pack_cache(self.case["v_packed"])
        for memory, k, v in zip(memories, ks, vs):
            memory.write(self.lens_addr, lens)
            memory.write(self.q_addr, q)
            memory.write(self.k_addr, k)
            memory.write(self.v_addr, v)
            memory.write(self.o_addr - GUARD_BYTES,
                         bytes([GUARD]) * (self.o_end - self.o_addr + 2 * GUARD_BYTES))

    def descriptor(self, fields):
        from hybridgen.verif.stream import pack
        lay = self.layout
        values = {f["name"]: 0 for f in fields}
        values.update(op=Op.ATTN.value, batch=lay.b, hq=lay.hq, hkv=lay.hkv, d=lay.d,
                      sk=lay.sk, kv_format=KV_FORMAT_NAMES[self.fmt].value,
                      q_addr=self.q_addr, lens_addr=self.lens_addr, k_addr=self.k_addr,
                      v_addr=self.v_addr, o_addr=self.o_addr)
        values.update(self.extra)
        return pack(fields, **{key: [value] for key, value in values.items()})[0]

    def golden(self, geometry):
        cs = self.case
        return decode_attention_bits(cs["q"], cs["k_packed"], cs["v_packed"], cs["cache_lens"],
                                     self.fmt, units=geometry.units, dot=32)

    def result(self, geometry, memories):
        """(o as written by channel 0, every guard byte intact in every channel)."""
        lay = self.layout
        span = self.o_end - self.o_addr
        guard_ok = True
        o = None
        for c, memory in enumerate(memories):
            raw = np.frombuffer(memory.read(self.o_addr - GUARD_BYTES, span + 2 * GUARD_BYTES),
                                np.uint8)
            if c == 0:
                guard_ok &= bool(np.all(raw[:GUARD_BYTES] == GUARD)
                                 and np.all(raw[GUARD_BYTES + span:] == GUARD))
                o = raw[GUARD_BYTES:GUARD_BYTES + span].copy().view("<u2")
            else:
                guard_ok &= bool(np.all(raw == GUARD))
        return o.reshape(lay.b, lay.hq, lay.d), guard_ok

    def expected_bytes(self, geometry):
        return self.layout.expected_bytes(self.case["cache_lens"])
