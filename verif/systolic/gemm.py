"""GEMM jobs for the systolic engine's testbench: operands placed in the AXI memory model,
descriptors packed from the design's sidecar, results read back and checked.

A :class:`GemmJob` owns one GEMM: random operands (or given ones), base addresses and byte row
strides chosen so that rows start at odd byte offsets, straddle bus beats and cross 4 KB
boundaries, and a guard pattern around every C row that the engine must not touch.
"""

from dataclasses import dataclass, field

import numpy as np

from hybridgen.golden.gemm import gemm
from hybridgen.rtl.systolic.geometry import EngineGeometry
from hybridgen.rtl.systolic.layouts import Dataflow, Dtype
from hybridgen.rtl.systolic.pe import ELEMENT_WIDTH

__all__ = ["GemmJob", "engine_geometry", "expected_counters", "random_operands", "GUARD"]

#: Byte pattern of C's surroundings (padding between rows, bytes after the last row).
GUARD = 0xA5


def random_operands(rng, m, k, n, dtype):
    """Random A (M x K), B (K x N): int8 over the full range; bf16 normal values of mixed
    magnitude and sign with some zeros (so sums cancel and round)."""
    if dtype == "int8":
        return (rng.integers(-128, 128, (m, k)).astype(np.int8),
                rng.integers(-128, 128, (k, n)).astype(np.int8))

    def bf16(shape):
        sign = rng.integers(0, 2, shape).astype(np.uint16) << 15
        exponent = rng.integers(120, 134, shape).astype(np.uint16) << 7
        fraction = rng.integers(0, 128, shape).astype(np.uint16)
        bits = sign | exponent | fraction
        bits[rng.random(shape) < 0.05] = 0
        return bits.astype(np.uint16)
    return bf16((m, k)), bf16((k, n))


@dataclass
class GemmJob:
    """One GEMM in memory: ``a`` (M x K), ``b`` (K x N) and where they and C live, run in
    ``dataflow`` "ws" or "os"."""

    a: np.ndarray
    b: np.ndarray
    dtype: str
    dataflow: str = "ws"
    a_addr: int = 0
    b_addr: int = 0
    c_addr: int = 0
    lda: int = 0
    ldb: int = 0
    ldc: int = 0
    end: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def shape(self):
        return self.a.shape[0], self.a.shape[1], self.b.shape[1]

    def place(self, rng, base, *, dense=False):
        """Choose addresses from byte ``base`` on (odd offsets and padded strides unless
        ``dense``); returns the first free address after the job."""
        m, k, n = self.shape
        es = ELEMENT_WIDTH[self.dtype] // 8

        def region(start, rows, row_bytes):
            offset = 0 if dense else int(rng.integers(0, 64)) * es
            stride = row_bytes if dense else row_bytes + int(rng.integers(0, 3)) * 40 * es
            addr = start + offset
            return addr, stride, addr + rows * stride

        self.a_addr, self.lda, after = region(base, m, k * es)
        self.b_addr, self.ldb, after = region(after + 64, k, n * es)
        self.c_addr, self.ldc, self.end = region(after + 64, m, n * 4)
        if not dense:
            self.ldc += 4 * int(rng.integers(0, 2))
            self.end = self.c_addr + m * self.ldc
        self.end += 64
        return self.end

    def _rows(self, matrix, stride):
        raw = matrix.view(np.uint8).reshape(matrix.shape[0], -1)
        return [(i * stride, raw[i].tobytes()) for i in range(matrix.shape[0])]

    def load(self, memory):
        """Write A and B into ``memory`` (an :class:`hybridgen.verif.axi.AxiMemory`); guard C."""
        for addr, stride, matrix in ((self.a_addr, self.lda, self.a),
                                     (self.b_addr, self.ldb, self.b)):
            for offset, row in self._rows(np.ascontiguousarray(matrix), stride):
                memory.write(addr + offset, row)
        m, _, _ = self.shape
        memory.write(self.c_addr - 16, bytes([GUARD]) * (m * self.ldc + 32))

    def descriptor(self, fields):
        """The descriptor payload integer (``fields`` from the sidecar's ``desc__payload``)."""
        from hybridgen.verif.stream import pack
        m, k, n = self.shape
        values = dict(m=m, k=k, n=n, dtype=Dtype[self.dtype.upper()].value,
                      dataflow=Dataflow[self.dataflow.upper()].value,
                      a_addr=self.a_addr, b_addr=self.b_addr, c_addr=self.c_addr,
                      lda=self.lda, ldb=self.ldb, ldc=self.ldc)
        values.update(self.extra)
        return pack(fields, **{key: [value] for key, value in values.items()})[0]

    def result(self, memory):
        """C as read back (int32 or uint32 fp32 bits), and whether every guard byte survived."""
        m, _, n = self.shape
        raw = memory.read(self.c_addr - 16, m * self.ldc + 32)
        guard_ok = raw[:16] == bytes([GUARD]) * 16 and raw[16 + m * self.ldc:] == \
            bytes([GUARD]) * 16
        rows = []
        for i in range(m):
            start = 16 + i * self.ldc
            rows.append(np.frombuffer(raw[start:start + 4 * n], np.uint32))
            pad = raw[start + 4 * n:start + self.ldc]
            guard_ok &= pad == bytes([GUARD]) * len(pad)
        c = np.stack(rows)
        return (c.view(np.int32) if self.dtype == "int8" else c), guard_ok

    def golden(self, rows):
        return gemm(self.a, self.b, self.dtype, rows, self.dataflow)


def engine_geometry(design):
    """The engine's :class:`EngineGeometry`, rebuilt from the sidecar."""
    return EngineGeometry(**design["derived"]["geometry_params"])


def expected_counters(design, m, k, n, dataflow="ws"):
    """What the engine's byte and busy counters must read for one GEMM (exact), from the
    engine's geometry (rebuilt from the design's sidecar)."""
    g = engine_geometry(design)
    rows, cols, es = g.rows, g.cols, g.element_bytes
    mb = g.block_rows(k, dataflow)
    if dataflow == "ws":
        busy = m * -(-n // cols) * -(-k // rows)
    else:  # one job per M tile (R * I rows) x N tile, K * I busy cycles each
        block_rows = [min(mb, m - start) for start in range(0, m, mb)]
        jobs = sum(-(-rows_ // g.os_tile_rows) for rows_ in block_rows) * -(-n // cols)
        busy = jobs * k * g.os_interleave
    blocks = -(-m // mb)
    return {"busy_cycles": busy, "read_bytes": m * k * es + blocks * k * n * es,
            "write_bytes": m * n * 4}
