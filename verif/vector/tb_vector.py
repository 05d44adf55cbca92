"""cocotb testbench of the vector unit (``vector`` block) and the single lane (``sfu`` block).

The design's sidecar tells the block and the lane count (the ``sfu`` lane is one lane). Every
result is compared bit-exactly with :func:`hybridgen.golden.numerics.vector_op` (row reductions) or
:func:`hybridgen.golden.numerics.lane_op`.

Tests
-----
``sweep``   ``$VECTOR_OP`` (a unary op) on every bf16 input widened to fp32 (65,536; with
            ``$VECTOR_BF16_STRIDE`` = s > 1 every s-th one from a random offset, 0 none) and
            ``$VECTOR_FP32`` (default 100,000) random fp32 inputs, ``$VECTOR_STALL`` (default
            0.1) random bubbles and back-pressure.
``mixed``   ``$VECTOR_ROWS`` (default 3,000) random vectors, the op drawn per vector from every
            op (binary, unary, reductions, pass), 30 % stalls on both streams.
``bench``   ``hybridgen bench sfu`` / ``bench vector``: inputs ``x`` (and per-vector ``op``)
            from ``$HYBRIDGEN_BENCH_INPUTS``, no stalls; ``y`` and cycles to
            ``$HYBRIDGEN_BENCH_OUTPUTS``.
"""

import json
import os

import numpy as np

import cocotb

from hybridgen.golden import numerics
from hybridgen.verif.stream import StreamHarness, load_design
from hybridgen.verif.vector import operands


def _layout(design):
    fields = {f["name"]: f for f in next(p for p in design["ports"]
                                         if p["name"] == "i__payload")["fields"]}
    width = design["config"].get("width", 1)
    return fields, width


def _words(design, ops, a, b):
    """Payload integers for rows ``a``, ``b`` (uint32 [R, W]) and per-row op codes."""
    fields, width = _layout(design)
    a_bytes = np.ascontiguousarray(a.astype("<u4")).tobytes()
    b_bytes = np.ascontiguousarray(b.astype("<u4")).tobytes()
    size = 4 * width
    words = []
    for r, op in enumerate(ops.tolist()):
        a_int = int.from_bytes(a_bytes[r * size:(r + 1) * size], "little")
        b_int = int.from_bytes(b_bytes[r * size:(r + 1) * size], "little")
        words.append((op << fields["op"]["offset"]) | (a_int << fields["a"]["offset"])
                     | (b_int << fields["b"]["offset"]))
    return words


def _rows(beats, width):
    data = b"".join(beat.to_bytes(4 * width, "little") for beat in beats)
    return np.frombuffer(data, dtype="<u4").reshape(len(beats), width).astype(np.uint32)


def expected(ops, a, b, params):
    """Bit-exact expected rows for per-row op codes ``ops``."""
    out = np.zeros_like(a)
    names = {code: name for name, code in numerics.VECTOR_OPS.items()}
    for code in np.unique(ops):
        rows = ops == code
        out[rows] = numerics.vector_op(names[int(code)], a[rows], b[rows], params)
    return out


def _expected_for(design, ops, a, b):
    params = numerics.SfuParams.of(design["config"]["sfu"] if design["block"] == "vector"
                                   else design["config"])
    if design["block"] == "sfu":
        names = {code: name for name, code in numerics.VECTOR_OPS.items()}
        out = np.zeros_like(a)
        for code in np.unique(ops):
            rows = ops == code
            out[rows] = numerics.lane_op(names[int(code)], a[rows], b[rows], params)
        return out
    return expected(ops, a, b, params)


async def stream_rows(dut, design, ops, a, b, *, rng, stall):
    """Send the rows through the unit; return (output rows, harness, source, sink)."""
    _, width = _layout(design)
    harness = StreamHarness(dut, rng)
    source = harness.source("i", stall=stall)
    sink = harness.sink("o", stall=stall)
    await harness.start()
    words = _words(design, ops, a, b)
    source.send(words)
    count = len(words)
    latency = design["derived"]["latency"]
    await harness.collect({sink: count}, latency=latency,
                          timeout_cycles=int(count / (1 - stall) ** 2) * 2 + latency + 200)
    return _rows(sink.beats, width), harness, source, sink


def _check(dut, ops, a, b, got, want):
    bad = np.argwhere(got != want)
    if bad.size:
        r, k = bad[0]
        names = {code: name for name, code in numerics.VECTOR_OPS.items()}
        raise AssertionError(
            f"{len(bad)} results differ; first row {r} lane {k}: op {names[int(ops[r])]} "
            f"a={int(a[r, k]):#010x} b={int(b[r, k]):#010x} rtl={int(got[r, k]):#010x} "
            f"golden={int(want[r, k]):#010x}")


@cocotb.test()
async def sweep(dut):
    """One unary op: all bf16 inputs + random fp32 inputs, bit-exact, light stalls."""
    design = load_design()
    _, width = _layout(design)
    op = os.environ["VECTOR_OP"]
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    count = int(os.environ.get("VECTOR_FP32", "100000"))
    stride = int(os.environ.get("VECTOR_BF16_STRIDE", "1"))
    bf16 = operands.bf16_all_as_fp32()[int(rng.integers(stride))::stride] if stride else \
        np.zeros(0, dtype=np.uint32)
    x = np.concatenate([bf16, operands.fp32_random(rng, count)])
    x = np.concatenate([x, np.zeros((-len(x)) % width, dtype=np.uint32)])
    a = x.reshape(-1, width)
    b = np.zeros_like(a)
    ops = np.full(len(a), numerics.VECTOR_OPS[op], dtype=np.uint8)
    stall = float(os.environ.get("VECTOR_STALL", "0.1"))
    got, harness, _, _ = await stream_rows(dut, design, ops, a, b, rng=rng, stall=stall)
    _check(dut, ops, a, b, got, _expected_for(design, ops, a, b))
    dut._log.info("%s: %d inputs (%d bf16) bit-exact in %d cycles", op, a.size, len(bf16),
                  harness.cycle)


@cocotb.test()
async def mixed(dut):
    """Random vectors, a random op per vector (all ops), 30 % stalls both sides, bit-exact."""
    design = load_design()
    _, width = _layout(design)
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    rows = int(os.environ.get("VECTOR_ROWS", "3000"))
    ops = operands.random_ops(rng, rows)
    a = operands.fp32_random(rng, rows * width).reshape(rows, width)
    b = operands.fp32_random(rng, rows * width).reshape(rows, width)
    # Some rows of small same-sign values, where sums and maxima are interesting.
    small = rng.random(rows) < 0.3
    a[small] = (rng.integers(0x3E000000, 0x40800000, (small.sum(), width), dtype=np.uint32)
                | (rng.integers(0, 2, (small.sum(), width), dtype=np.uint32) << np.uint32(31)))
    got, harness, _, _ = await stream_rows(dut, design, ops, a, b, rng=rng, stall=0.3)
    _check(dut, ops, a, b, got, _expected_for(design, ops, a, b))
    dut._log.info("%d vectors (all ops) bit-exact in %d cycles", rows, harness.cycle)


@cocotb.test()
async def bench(dut):
    """``hybridgen bench sfu|vector``: given inputs, no stalls; write ``y`` and cycles."""
    design = load_design()
    _, width = _layout(design)
    with np.load(os.environ["HYBRIDGEN_BENCH_INPUTS"]) as npz:
        x, op = npz["x"].astype(np.uint32), npz["op"].astype(np.uint8)
    shape = x.shape
    a = x.reshape(-1, width)
    ops = np.broadcast_to(op.reshape(-1), (len(a),)).copy() if op.size == 1 else op
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    got, _, source, sink = await stream_rows(dut, design, ops, a, np.zeros_like(a), rng=rng,
                                             stall=0.0)
    cycles = sink.cycles[-1] - source.accepted[0] + 1
    np.savez(os.environ["HYBRIDGEN_BENCH_OUTPUTS"], y=got.reshape(shape),
             measured=np.array(json.dumps({"cycles": cycles})))
