"""The channel layout of the Mamba-2 decode step (``ssm-step``): where the state, the head
records and y live in the channels' memories (docs/decode.md, "The decode step").

Notation: ``W = bus_bytes / 4`` fp32 values per *chunk* of n (one beat of an fp32 state, half
a beat of a bf16 state), ``I`` the accumulator ring (:attr:`DecodeGeometry.interleave`),
``K = ceil(n / W)`` chunks per row, ``Pq = ceil(p / I)`` row groups per head.

* **Heads.** Head ``e = b * H + h`` (batch element b, head h) lives in channel ``e % channels``
  as its ``e // channels``-th head; a channel computes only its heads.
* **State** (from ``state_addr`` of every channel, the channel's heads one after the other,
  read once and written back in place): a head is ``Pq * K * I`` chunks, row group major, then
  chunk, then row: chunk ``(q * K + c) * I + j`` holds ``state[b, h, q*I + j, c*W : c*W + W]``.
  Rows past p and values past n are zero on the way in (the packer writes them) and
  unspecified on the way out. An fp32 chunk is one beat, a bf16 chunk half a beat.
* **Head records** (from ``record_addr`` of every channel, ``record_beats`` beats per head, the
  channel's heads in order): beat 0 holds the 32-bit words ``dt`` (raw bf16 in the low half),
  ``dt_bias``, ``A``, ``D`` (fp32) of the head; then x[b, h, :] as ``Pq * I`` bf16 values
  (zero past p), z likewise if the step has z, then ``B[b, group]`` and ``C[b, group]`` as K
  chunks of W bf16 values each (two chunks per beat, zero past n). B and C are repeated in the
  record of every head of a group (``H / G`` copies; small next to the state).
* **y** ``[b, h, p]`` bf16: ``y[b, h, i]`` is written at ``y_addr + 2 * (e * p + i)`` in the
  memory of channel ``e % channels`` (the channel of its head).
"""

import numpy as np

from hybridgen.golden.decode import STATE_DTYPES

__all__ = ["SsmLayout"]


class SsmLayout:
    """The layout of one decode step of shape (b, h, p, n) with g groups (module docstring)."""

    def __init__(self, geometry, *, batch, heads, headdim, dstate, groups, state_dtype="fp32",
                 with_z=False):
        if state_dtype not in STATE_DTYPES:
            raise ValueError(f"state_dtype must be one of {', '.join(STATE_DTYPES)}, "
                             f"not {state_dtype!r}")
        for name, value in (("batch", batch), ("heads", heads), ("headdim", headdim),
                            ("dstate", dstate), ("groups", groups)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if heads % groups:
            raise ValueError(f"heads must be a multiple of groups, not {heads} and {groups}")
        if geometry.bus_bytes < 16:
            raise ValueError(f"the decode step needs a bus of at least 16 bytes, not "
                             f"{geometry.bus_bytes}")
        self.g = geometry
        self.b, self.h, self.p, self.n, self.groups = batch, heads, headdim, dstate, groups
        self.state_dtype, self.with_z = state_dtype, with_z
        self.esize = STATE_DTYPES[state_dtype]
        self.W = geometry.bus_bytes // 4
        self.I = geometry.interleave
        self.K = -(-dstate // self.W)
        self.Pq = -(-headdim // self.I)
        bus = geometry.bus_bytes
        self.x_beats = -(-self.Pq * self.I * 2 // bus)
        self.z_beats = self.x_beats if with_z else 0
        self.bc_beats = -(-self.K // 2)
        self.record_beats = 1 + self.x_beats + self.z_beats + 2 * self.bc_beats
        self.head_chunks = self.Pq * self.K * self.I
        self.head_state_bytes = self.head_chunks * self.W * self.esize

    @property
    def heads_total(self):
        return self.b * self.h

    def channel_heads(self, channel):
        """Global head indices ``e`` of ``channel``, in its order."""
        return list(range(channel, self.heads_total, self.g.channels))

    def _head_tiles(self, state_e):
        """[p, n] -> chunks [Pq*K*I, W] in the layout order."""
        W, I, K, Pq = self.W, self.I, self.K, self.Pq
        padded = np.zeros((Pq * I, K * W), state_e.dtype)
        padded[:self.p, :self.n] = state_e
        return padded.reshape(Pq, I, K, W).transpose(0, 2, 1, 3).reshape(-1, W)

    def pack_state(self, state):
        """``state`` [b, h, p, n] (uint32 fp32 or uint16 bf16 bits) -> one ``bytes`` per
        channel, to store at ``state_addr``."""
        state = np.asarray(state).astype(np.uint32 if self.esize == 4 else np.uint16)
        flat = state.reshape(self.heads_total, self.p, self.n)
        dtype = "<u4" if self.esize == 4 else "<u2"
        return [b"".join(self._head_tiles(flat[e]).astype(dtype).tobytes()
                         for e in self.channel_heads(c)) for c in range(self.g.channels)]

    def unpack_state(self, memories):
        """The state [b, h, p, n] from each channel's ``head_state_bytes * heads`` bytes at
        ``state_addr`` (a list of ``bytes``)."""
        W, I, K, Pq = self.W, self.I, self.K, self.Pq
        dtype = np.dtype("<u4" if self.esize == 4 else "<u2")
        out = np.zeros((self.heads_total, self.p, self.n), dtype.newbyteorder("="))
        for c, raw in enumerate(memories):
            for local, e in enumerate(self.channel_heads(c)):
                start = local * self.head_state_bytes
                chunks = np.frombuffer(raw[start:start + self.head_state_bytes], dtype)
                rows = chunks.reshape(Pq, K, I, W).transpose(0, 2, 1, 3).reshape(Pq * I, K * W)
                out[e] = rows[:self.p, :self.n]
        return out.reshape(self.b, self.h, self.p, self.n)

    def pack_records(self, x, dt, A, D, dt_bias, B, C, z=None):
        """The head records (module docstring) of every channel, one ``bytes`` per channel,
        to store at ``record_addr``; inputs as the bench's npz keys."""
        bus, W, I, K = self.g.bus_bytes, self.W, self.I, self.K
        rep = self.h // self.groups
        x, dt, B, C = (np.asarray(a).astype(np.uint16) for a in (x, dt, B, C))
        A, D, dt_bias = (np.asarray(a).astype(np.uint32) for a in (A, D, dt_bias))
        if self.with_z:
            if z is None:
                raise ValueError("this layout has z: pass z")
            z = np.asarray(z).astype(np.uint16)

        def vector(values, beats):
            buf = np.zeros(beats * bus // 2, np.uint16)
            buf[:len(values)] = values
            return buf.astype("<u2").tobytes()

        out = []
        for c in range(self.g.channels):
            parts = []
            for e in self.channel_heads(c):
                bi, h = divmod(e, self.h)
                head0 = np.zeros(bus // 4, np.uint32)
                head0[:4] = [int(dt[bi, h]), int(dt_bias[h]), int(A[h]), int(D[h])]
                parts.append(head0.astype("<u4").tobytes())
                parts.append(vector(x[bi, h], self.x_beats))
                if self.with_z:
                    parts.append(vector(z[bi, h], self.z_beats))
                for M in (B, C):
                    parts.append(vector(M[bi, h // rep], self.bc_beats))
            out.append(b"".join(parts))
        return out

    def y_address(self, e, i, y_addr):
        """Byte address of ``y[b, h, i]`` (head ``e = b * H + h``) in its channel's memory."""
        return y_addr + 2 * (e * self.p + i)

    def y_span(self, channel, y_addr):
        """(first byte, end) of the y bytes ``channel`` writes (its heads' rows)."""
        heads = self.channel_heads(channel)
        if not heads:
            return y_addr, y_addr
        return self.y_address(heads[0], 0, y_addr), self.y_address(heads[-1], self.p, y_addr)
