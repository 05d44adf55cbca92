"""cocotb testbench of the MAC units (``MacInt8`` / ``MacBf16``), shared by tests and bench.

The design's sidecar (``$HYBRIDGEN_DESIGN``) tells the dtype and the payload layout. Every
result is compared bit-exactly with ``hybridgen.golden.numerics``; random stalls on both streams and the
protocol checker are always on in the regression tests.

Tests
-----
``vectors``   ``$MAC_VECTORS`` (default 20,000) operands from ``hybridgen.verif.operands`` covering the numeric
              classes, then every special-value combination; coverage bins are logged.
``bench``     the ``hybridgen bench mac`` run: inputs from ``$HYBRIDGEN_BENCH_INPUTS``, no stalls,
              outputs and the cycle count to ``$HYBRIDGEN_BENCH_OUTPUTS``.
"""

import json
import os

import numpy as np

import cocotb

from hybridgen.golden import numerics
from hybridgen.verif import operands
from hybridgen.verif.stream import StreamHarness, load_design, pack, to_signed


def _fields(design):
    return next(p for p in design["ports"] if p["name"] == "i__payload")["fields"]


async def _stream_through(dut, design, a, b, acc, *, rng, stall):
    """Send (a, b, acc) through the MAC; return (outputs as int64 bit patterns, harness, sink)."""
    harness = StreamHarness(dut, rng)
    source = harness.source("i", stall=stall)
    sink = harness.sink("o", stall=stall)
    await harness.start()
    words = pack(_fields(design), a=a, b=b, acc=acc)
    source.send(words)
    count = len(words)
    latency = design["derived"]["latency"]
    await harness.collect({sink: count}, latency=latency,
                          timeout_cycles=int(count / (1 - stall) ** 2) * 2 + latency + 200)
    return np.array(sink.beats, dtype=np.int64), harness, source, sink


def _expected(dtype, a, b, acc):
    if dtype == "int8":
        return numerics.mac_int8(a, b, acc).astype(np.int64)
    return numerics.mac_bf16(a, b, acc).astype(np.int64)


def _compare(dut, dtype, a, b, acc, got):
    if dtype == "int8":
        got = to_signed(got, 32)
    want = _expected(dtype, a, b, acc)
    bad = np.flatnonzero(got != want)
    if bad.size:
        i = bad[0]
        raise AssertionError(
            f"{bad.size} of {len(want)} results differ; first at {i}: a={int(a[i]):#x} "
            f"b={int(b[i]):#x} acc={int(acc[i]):#x} rtl={int(got[i]) & 0xFFFFFFFF:#010x} "
            f"golden={int(want[i]) & 0xFFFFFFFF:#010x}")


@cocotb.test()
async def vectors(dut):
    """Generated operands + every special-value combination, random stalls, bit-exact."""
    design = load_design()
    dtype = design["config"]["dtype"]
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    count = int(os.environ.get("MAC_VECTORS", "20000"))
    if dtype == "int8":
        a, b, acc, coverage = operands.int8_mac_operands(rng, count)
        sa, sb, sacc = operands.int8_mac_specials()
    else:
        a, b, acc, coverage = operands.bf16_mac_operands(rng, count)
        sa, sb, sacc = operands.bf16_mac_specials()
    a, b, acc = (np.concatenate([x, y]) for x, y in ((a, sa), (b, sb), (acc, sacc)))
    dut._log.info("seed %d: %d generated + %d special vectors, dtype %s", cocotb.RANDOM_SEED,
                  count, len(sa), dtype)
    dut._log.info("coverage bins:\n%s", coverage.report())
    coverage.assert_all_hit()
    got, harness, _, _ = await _stream_through(dut, design, a, b, acc, rng=rng, stall=0.3)
    _compare(dut, dtype, a, b, acc, got)
    dut._log.info("%d vectors bit-exact in %d cycles", len(a), harness.cycle)


@cocotb.test()
async def bench(dut):
    """``hybridgen bench mac``: given inputs, no stalls; write outputs and cycles."""
    design = load_design()
    dtype = design["config"]["dtype"]
    with np.load(os.environ["HYBRIDGEN_BENCH_INPUTS"]) as npz:
        a, b, acc = npz["a"], npz["b"], npz["acc_in"]
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    got, _, source, sink = await _stream_through(dut, design, a, b, acc, rng=rng, stall=0.0)
    if dtype == "int8":
        out = to_signed(got, 32).astype(np.int32)
    else:
        out = got.astype(np.uint32)
    cycles = sink.cycles[-1] - source.accepted[0] + 1
    np.savez(os.environ["HYBRIDGEN_BENCH_OUTPUTS"], out=out,
             measured=np.array(json.dumps({"cycles": cycles})))
