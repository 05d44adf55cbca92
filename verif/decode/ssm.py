"""A decode-step (``ssm-step``) job in the channel memories of the decode array (shared by the
testbench and the bench): inputs, where they live (:class:`hybridgen.rtl.decode.ssm_layout.
SsmLayout`), the descriptor, the results read back and the guard checks."""

import numpy as np

from hybridgen.golden.decode import ssm_step
from hybridgen.rtl.decode.layouts import Op
from hybridgen.rtl.decode.ssm_channel import SSM_FLAG_BF16, SSM_FLAG_SOFTPLUS, SSM_FLAG_Z
from hybridgen.rtl.decode.ssm_layout import SsmLayout

from .gemv import GUARD

__all__ = ["SsmJob"]

INPUT_KEYS = ("x", "dt", "A", "D", "dt_bias", "B", "C", "z")


class SsmJob:
    """One decode step: ``case`` (the bench's npz keys: x, dt, A, D, dt_bias, B, C, optional
    z, state_in) and the step's options."""

    def __init__(self, geometry, case, *, groups, state_dtype="fp32", softplus=True,
                 extra=None):
        self.case = {k: v for k, v in case.items() if v is not None}
        b, h, p = self.case["x"].shape
        n = self.case["B"].shape[-1]
        self.with_z = "z" in self.case
        self.state_dtype, self.softplus = state_dtype, softplus
        self.layout = SsmLayout(geometry, batch=b, heads=h, headdim=p, dstate=n,
                                groups=groups, state_dtype=state_dtype, with_z=self.with_z)
        self.shape = (b, h, p, n, groups)
        self.extra = extra or {}
        self.state_addr = self.record_addr = self.y_addr = 0

    def _heads(self, geometry):
        return [len(self.layout.channel_heads(c)) for c in range(geometry.channels)]

    def place(self, geometry, rng, base, *, dense=False):
        """Addresses from ``base`` on, the same in every channel; returns the end."""
        lay = self.layout
        most = max(self._heads(geometry))
        bus = geometry.bus_bytes
        if dense:   # every region on a beat boundary (the bench)
            up = lambda addr: -(-addr // bus) * bus
            self.state_addr = up(base + 16)
            self.state_end = self.state_addr + most * lay.head_state_bytes
            self.record_addr = up(self.state_end + 16)
            self.y_addr = up(self.record_addr + most * lay.record_beats * bus + 16)
        else:       # odd offsets
            jitter = lambda: 2 * int(rng.integers(0, 40))
            self.state_addr = base + 16 + jitter()
            self.state_end = self.state_addr + most * lay.head_state_bytes
            self.record_addr = self.state_end + 32 + jitter()
            self.y_addr = self.record_addr + most * lay.record_beats * bus + 32 + jitter()
        self.y_end = self.y_addr + 2 * lay.heads_total * lay.p
        self.end = self.y_end + 64
        return self.end

    def load(self, geometry, memories):
        lay = self.layout
        states = lay.pack_state(self.case["state_in"])
        records = lay.pack_records(**{k: self.case.get(k) for k in INPUT_KEYS})
        for memory, state, record in zip(memories, states, records):
            memory.write(self.state_addr - 16, bytes([GUARD]) * 16)
            memory.write(self.state_addr, state)
            memory.write(self.state_addr + len(state), bytes([GUARD]) * 16)
            memory.write(self.record_addr, record)
            memory.write(self.y_addr - 16, bytes([GUARD]) * (self.y_end - self.y_addr + 32))

    def descriptor(self, fields):
        from hybridgen.verif.stream import pack
        b, h, p, n, _ = self.shape
        flags = (SSM_FLAG_SOFTPLUS if self.softplus else 0) | (SSM_FLAG_Z if self.with_z else 0) \
            | (SSM_FLAG_BF16 if self.state_dtype == "bf16" else 0)
        values = {f["name"]: 0 for f in fields}
        values.update(op=Op.SSM_STEP.value, batch=b, heads=h, headdim=p, dstate=n, flags=flags,
                      state_addr=self.state_addr, record_addr=self.record_addr,
                      y_addr=self.y_addr)
        values.update(self.extra)
        return pack(fields, **{key: [value] for key, value in values.items()})[0]

    def golden(self, geometry):
        return ssm_step(self.case["state_in"], **{k: self.case.get(k) for k in INPUT_KEYS},
                        width=geometry.bus_bytes // 4, softplus=self.softplus,
                        state_dtype=self.state_dtype)

    def result(self, geometry, memories):
        """(y, state_out, guards intact) as read back from the channels."""
        lay = self.layout
        heads = self._heads(geometry)
        states, guard_ok = [], True
        for memory, count in zip(memories, heads):
            size = count * lay.head_state_bytes
            raw = memory.read(self.state_addr - 16, size + 32)
            guard_ok &= raw[:16] == bytes([GUARD]) * 16 and raw[-16:] == bytes([GUARD]) * 16
            states.append(raw[16:16 + size])
        state = lay.unpack_state(states)
        span = self.y_end - self.y_addr + 32
        y = np.zeros(lay.heads_total * lay.p, np.uint16)
        for c, memory in enumerate(memories):
            raw = np.frombuffer(memory.read(self.y_addr - 16, span), np.uint8).copy()
            mine = np.zeros(span, bool)
            for e in lay.channel_heads(c):
                lo = 16 + 2 * e * lay.p
                mine[lo:lo + 2 * lay.p] = True
                y[e * lay.p:(e + 1) * lay.p] = raw[lo:lo + 2 * lay.p].view("<u2")
            guard_ok &= bool(np.all(raw[~mine] == GUARD))
        return y.reshape(lay.b, lay.h, lay.p), state, bool(guard_ok)

    def expected_bytes(self, geometry):
        """Row bytes (read, written) per channel: records + state read; state + y written."""
        lay = self.layout
        heads = self._heads(geometry)
        read = [k * (lay.record_beats * geometry.bus_bytes + lay.head_state_bytes) for k in heads]
        written = [k * (lay.head_state_bytes + 2 * lay.p) for k in heads]
        return read, written
