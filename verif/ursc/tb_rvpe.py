"""cocotb testbench of one URSC RVPE unit (:class:`hybridgen.rtl.ursc.rvpe.RvpeUnit`).

``random``: three independent streams of reduction rows, one per carry slot (rowsum, rowmax or
cumsum, 1 to 4 vectors of ``vector_width`` lanes, the tail padded with +0 / -inf as the
contract says), merged round-robin over the reduction beats; a slot at a row boundary
sometimes gets a filler beat (rowsum, ``first = 1, last = 0``), and elementwise beats (every
lane op and ``pass``) are mixed in between at random. 30 % bubbles on ``i`` and back-pressure
on ``o``. Expected: :func:`hybridgen.golden.ursc.rvpe_rowsum` / ``rvpe_rowmax`` (one beat per
row, broadcast), ``rvpe_cumsum`` (one beat per vector) and
:func:`hybridgen.golden.numerics.vector_op` (elementwise); bit-exact, the harness fails on a
missing or extra beat, ``busy`` cycles = accepted beats.
"""

import os

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.golden import numerics, ursc
from hybridgen.verif.stream import StreamHarness, load_design
from hybridgen.verif.ursc.designs import fields_of, pack_lanes, unpack_lanes
from hybridgen.verif.vector.operands import BINARY_OPS, UNARY_OPS, fp32_random

SLOTS = 3
NEG_INF = 0xFF800000
ELEMENTWISE = UNARY_OPS + BINARY_OPS + ("pass",)


def values(rng, n):
    """fp32 patterns: 60 % values in [2^-4, 2^4) of either sign, the rest fp32_random."""
    near = numerics.fp32_to_bits((rng.uniform(0.0625, 16.0, n) *
                                  rng.choice([-1.0, 1.0], n)).astype(np.float32))
    return np.where(rng.random(n) < 0.6, near, fp32_random(rng, n)).astype(np.uint32)


class Row:
    def __init__(self, rng, width):
        self.op = str(rng.choice(["rowsum", "rowmax", "cumsum"]))
        self.n = int(rng.integers(1, 4 * width + 1))
        self.values = values(rng, self.n)
        count = -(-self.n // width)
        pad = NEG_INF if self.op == "rowmax" else 0
        padded = np.full(count * width, pad, dtype=np.uint32)
        padded[:self.n] = self.values
        self.vectors = padded.reshape(count, width)
        if self.op == "cumsum":
            self.results = ursc.rvpe_cumsum(padded, width).reshape(count, width)
        else:
            model = ursc.rvpe_rowsum if self.op == "rowsum" else ursc.rvpe_rowmax
            self.result = np.full(width, model(self.values, width), dtype=np.uint32)


def schedule(rng, width, rows, params):
    """Beats ``(op name, a, b, first, last)`` and the expected output vectors in order."""
    queues = [[Row(rng, width) for _ in range(rows)] for _ in range(SLOTS)]
    position = [0] * SLOTS
    beats, expected, counts = [], [], {"fillers": 0, "elementwise": 0}
    while any(queues):
        for s in range(SLOTS):
            while rng.random() < 0.3:
                op = str(rng.choice(ELEMENTWISE))
                a, b = values(rng, width), values(rng, width)
                beats.append((op, a, b, False, False))
                expected.append(numerics.vector_op(op, a[None], b[None], params)[0])
                counts["elementwise"] += 1
            if queues[s] and (position[s] > 0 or rng.random() >= 0.15):
                row, j = queues[s][0], position[s]
                last = j == len(row.vectors) - 1
                beats.append((row.op, row.vectors[j], values(rng, width), j == 0, last))
                position[s] += 1
                if row.op == "cumsum":
                    expected.append(row.results[j])
                elif last:
                    expected.append(row.result)
                if last:
                    queues[s].pop(0)
                    position[s] = 0
            else:
                beats.append(("rowsum", values(rng, width), values(rng, width), True, False))
                counts["fillers"] += 1
    return beats, expected, counts


def words(design, beats):
    fields = fields_of(design, "i__payload")
    a = pack_lanes(np.stack([b[1] for b in beats]), 32)
    b = pack_lanes(np.stack([b[2] for b in beats]), 32)
    return [numerics.VECTOR_OPS[op] | (x << fields["a"]["offset"]) | (y << fields["b"]["offset"])
            | (int(first) << fields["first"]["offset"]) | (int(last) << fields["last"]["offset"])
            for x, y, (op, _, _, first, last) in zip(a, b, beats)]


async def count_busy(dut, counter):
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        if dut.busy.value.is_resolvable and int(dut.busy.value):
            counter[0] += 1


@cocotb.test()
async def random(dut):
    """Interleaved reduction rows, fillers and elementwise beats, 30 % stalls, bit-exact."""
    design = load_design()
    config = design["config"]
    width = config["vector_width"]
    params = numerics.SfuParams.of(config["sfu"])
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    beats, want, counts = schedule(rng, width, int(os.environ.get("RVPE_ROWS", "4")), params)
    harness = StreamHarness(dut, rng)
    source = harness.source("i", stall=0.3)
    sink = harness.sink("o", stall=0.3)
    busy = [0]
    await harness.start()
    cocotb.start_soon(count_busy(dut, busy))
    source.send(words(design, beats))
    latency = design["derived"]["latency"]
    await harness.collect({sink: len(want)}, latency=latency,
                          timeout_cycles=5 * len(beats) + 4 * latency + 100)
    got = unpack_lanes(sink.beats, width, 32)
    for index, (row, expect) in enumerate(zip(got, want)):
        bad = np.flatnonzero(row != expect)
        if bad.size:
            k = bad[0]
            raise AssertionError(f"output {index}: {bad.size} lanes differ; first lane {k}: "
                                 f"rtl {int(row[k]):#010x} golden {int(expect[k]):#010x}")
    assert busy[0] == len(source.accepted) == len(beats), (busy[0], len(source.accepted))
    dut._log.info("%d beats (%d fillers, %d elementwise) -> %d outputs bit-exact in %d cycles",
                  len(beats), counts["fillers"], counts["elementwise"], len(want), harness.cycle)
