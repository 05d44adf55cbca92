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

Modes (:mod:`hybridgen.rtl.ursc.modes`): the running mode is the build's (``modes`` of the
sidecar's configuration); a "both" build runs one phase per mode (attention, then SSD, or
only ``$RVPE_MODE``), ``mode`` set between phases with the pipeline drained. The rows use the
reductions of the running mode; the elementwise beats draw from every op, and an op the
running mode does not build is expected to come out as ``pass`` (``a``), the per-mode
decode's contract.
"""

import os

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.golden import numerics, ursc
from hybridgen.rtl.ursc.modes import UrscMode, rvpe_ops
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


REDUCTIONS = ("rowsum", "rowmax", "cumsum")


class Row:
    def __init__(self, rng, width, reductions):
        self.op = str(rng.choice(reductions))
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


def schedule(rng, width, rows, params, ops=tuple(numerics.VECTOR_OPS)):
    """Beats ``(op name, a, b, first, last)`` and the expected output vectors in order, with
    the running mode's ops ``ops`` (others: ``pass``)."""
    reductions = [op for op in REDUCTIONS if op in ops]
    outside = tuple(op for op in REDUCTIONS if op not in ops)
    queues = [[Row(rng, width, reductions) for _ in range(rows)] for _ in range(SLOTS)]
    position = [0] * SLOTS
    beats, expected, counts = [], [], {"fillers": 0, "elementwise": 0}
    while any(queues):
        for s in range(SLOTS):
            while rng.random() < 0.3:
                op = str(rng.choice(ELEMENTWISE + outside))
                a, b = values(rng, width), values(rng, width)
                beats.append((op, a, b, bool(rng.integers(2)), bool(rng.integers(2)))
                             if op in outside else (op, a, b, False, False))
                model = op if op in ops else "pass"
                expected.append(numerics.vector_op(model, a[None], b[None], params)[0])
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


def phases(modes):
    """The running modes of one run: the build's, or on a "both" build ``$RVPE_MODE`` or
    attention then SSD."""
    if modes != "both":
        return [modes]
    chosen = os.environ.get("RVPE_MODE")
    return [chosen] if chosen else ["attention", "ssd"]


def check_outputs(got, want, first_index=0):
    for index, (row, expect) in enumerate(zip(got, want), first_index):
        bad = np.flatnonzero(row != expect)
        if bad.size:
            k = bad[0]
            raise AssertionError(f"output {index}: {bad.size} lanes differ; first lane {k}: "
                                 f"rtl {int(row[k]):#010x} golden {int(expect[k]):#010x}")


@cocotb.test()
async def random(dut):
    """Interleaved reduction rows, fillers and elementwise beats (every op; those outside the
    running mode as ``pass``), 30 % stalls, bit-exact; on a "both" build one phase per mode."""
    design = load_design()
    config = design["config"]
    width = config["vector_width"]
    params = numerics.SfuParams.of(config["sfu"])
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    modes = config.get("modes", "both")
    harness = StreamHarness(dut, rng)
    source = harness.source("i", stall=0.3)
    sink = harness.sink("o", stall=0.3)
    busy, want, sent = [0], [], 0
    if modes == "both":
        dut.mode.value = UrscMode[phases(modes)[0].upper()].value
    await harness.start()
    cocotb.start_soon(count_busy(dut, busy))
    latency = design["derived"]["latency"]
    for mode in phases(modes):
        if modes == "both":
            dut.mode.value = UrscMode[mode.upper()].value
        beats, expect, counts = schedule(rng, width, int(os.environ.get("RVPE_ROWS", "4")),
                                         params, rvpe_ops(mode))
        source.send(words(design, beats))
        want += expect
        sent += len(beats)
        await harness.collect({sink: len(want)}, latency=latency,
                              timeout_cycles=5 * len(beats) + 4 * latency + 100)
        dut._log.info("modes=%s, mode %s: %d beats (%d fillers, %d elementwise) -> %d outputs",
                      modes, mode, len(beats), counts["fillers"], counts["elementwise"],
                      len(expect))
    check_outputs(unpack_lanes(sink.beats, width, 32), want)
    assert busy[0] == len(source.accepted) == sent, (busy[0], len(source.accepted))
    dut._log.info("%d beats -> %d outputs bit-exact in %d cycles", sent, len(want),
                  harness.cycle)
