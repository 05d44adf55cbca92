"""A GEMV job in the channel memories of the decode array (shared by the testbench and the
bench): operands, where they live, the descriptor, the result read back and the guard check."""

from dataclasses import dataclass, field

import numpy as np

from hybridgen.golden.decode import gemv
from hybridgen.rtl.decode.geometry import DecodeGeometry
from hybridgen.rtl.decode.layouts import Op

__all__ = ["check_rejected", "GUARD", "random_bf16", "random_operands", "GemvJob", "geometry_of"]

#: Byte written around and between every output region (the kernel must not change it).
GUARD = 0xA5


def geometry_of(design):
    """The :class:`DecodeGeometry` of a generated design (from its sidecar)."""
    return DecodeGeometry(**design["derived"]["geometry_params"])


def check_rejected(records, expected, channels):
    """The completions of rejected descriptors, in the order sent: ``expected`` is ``{case
    name: Error}``; each record carries that error code and moved no byte on any channel
    (records past the cases, e.g. a good job's, are not looked at)."""
    for (name, code), record in zip(expected.items(), records):
        assert record["error"] == code.value, f"{name}: error {record['error']}"
        moved = sum(record[f"read_bytes{c}"] + record[f"write_bytes{c}"]
                    for c in range(channels))
        assert moved == 0, f"{name}: a rejected descriptor moved {moved} bytes"


def random_bf16(rng, shape, *, zeros=0.05, spread=12):
    """bf16 bit patterns of normal values times ``2^e``, ``e`` uniform in ``-spread..spread``
    (both signs, a few exact zeros): the wide range makes fp32 sums round at many points, so
    a different order of additions shows in the bf16 results."""
    scale = np.exp2(rng.integers(-spread, spread + 1, shape)).astype(np.float32)
    values = (rng.standard_normal(shape).astype(np.float32) * scale)
    bits = values.view(np.uint32).astype(np.uint64)
    bf16 = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    bf16[rng.random(shape) < zeros] = 0
    return bf16


def random_operands(rng, b, k, n):
    """x [b, k] and w [k, n] (:func:`random_bf16`) where every other column has
    ``w[0] = -w[k-1]`` of magnitude ~2^24 and ``x[:, 0] = x[:, k-1] = 1``: the two products
    cancel exactly at the end, and what is left of the others depends on where the additions
    in between rounded, so the order of operations (chunking, tree, accumulation) shows in
    the results."""
    x, w = random_bf16(rng, (b, k), spread=4), random_bf16(rng, (k, n), spread=4)
    if k >= 2:
        x[:, 0] = x[:, k - 1] = 0x3F80
        for col in range(0, n, 2):
            big = np.uint16(0x4B80 | int(rng.integers(0, 128)))  # 2^24 x [1, 2)
            w[0, col], w[k - 1, col] = big, big ^ np.uint16(0x8000)
    return x, w


@dataclass
class GemvJob:
    """``y = x @ w``: x [b, k], w [k, n] (uint16 bf16 bits) and their addresses."""

    x: np.ndarray
    w: np.ndarray
    w_addr: int = 0
    x_addr: int = 0
    ldx: int = 0
    y_addr: int = 0
    ldy: int = 0
    end: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def shape(self):
        return self.x.shape[0], self.x.shape[1], self.w.shape[1]

    def place(self, geometry, rng, base, *, dense=False):
        """Addresses from byte ``base`` on, the same in every channel (odd offsets and padded
        strides unless ``dense``); returns the first free address after the job."""
        b, k, n = self.shape
        w_bytes = max(geometry.channel_groups(n, c) for c in range(geometry.channels)) \
            * geometry.group_bytes(k)
        jitter = (lambda: 0) if dense else (lambda: 2 * int(rng.integers(0, 40)))
        self.w_addr = base + jitter()
        self.x_addr = self.w_addr + w_bytes + 64 + jitter()
        self.ldx = 2 * k + (0 if dense else 2 * int(rng.integers(0, 3)))
        self.y_addr = self.x_addr + b * self.ldx + 64 + jitter()
        self.ldy = 2 * n + (0 if dense else 2 * int(rng.integers(0, 3)))
        self.end = self.y_addr + b * self.ldy + 64
        return self.end

    def load(self, geometry, memories):
        """W (channel layout) into every channel, x into channel 0, guard bytes over every
        channel's y region and 16 bytes either side."""
        b, k, n = self.shape
        for memory, packed in zip(memories, geometry.pack_weights(self.w)):
            memory.write(self.w_addr, packed)
        for i in range(b):
            memories[0].write(self.x_addr + i * self.ldx, self.x[i].astype("<u2").tobytes())
        for memory in memories:
            memory.write(self.y_addr - 16, bytes([GUARD]) * (b * self.ldy + 32))

    def descriptor(self, fields):
        from hybridgen.verif.stream import pack
        b, k, n = self.shape
        values = {f["name"]: 0 for f in fields}   # fields of other kernels: 0
        values.update(op=Op.GEMV.value, batch=b, k=k, n=n, w_addr=self.w_addr,
                      x_addr=self.x_addr, ldx=self.ldx, y_addr=self.y_addr, ldy=self.ldy)
        values.update(self.extra)
        return pack(fields, **{key: [value] for key, value in values.items()})[0]

    def result(self, geometry, memories):
        """y as read back (column col from its channel), and whether every other byte of
        every channel's y region (and 16 either side) still holds the guard."""
        b, k, n = self.shape
        span = b * self.ldy + 32
        raws = [np.frombuffer(memory.read(self.y_addr - 16, span), np.uint8).copy()
                for memory in memories]
        y = np.zeros((b, n), np.uint16)
        owner = np.array([geometry.channel_of_column(col) for col in range(n)])
        for c, raw in enumerate(raws):
            mine = np.zeros(span, bool)
            for i in range(b):
                start = 16 + i * self.ldy
                row = raw[start:start + 2 * n].view("<u2")
                y[i, owner == c] = row[owner == c]
                cols = np.flatnonzero(owner == c)
                mine[start + 2 * cols] = mine[start + 2 * cols + 1] = True
            if not np.all(raw[~mine] == GUARD):
                return y, False
        return y, True

    def golden(self, geometry):
        return gemv(self.x, self.w, geometry.dot)

    def expected_bytes(self, geometry):
        """(read, written) row bytes per channel."""
        b, k, n = self.shape
        read, written = [], []
        for c in range(geometry.channels):
            groups = geometry.channel_groups(n, c)
            read.append(groups * geometry.group_bytes(k) + (2 * b * k if c == 0 else 0))
            cols = sum(1 for col in range(n) if geometry.channel_of_column(col) == c)
            written.append(2 * b * cols)
        return read, written
