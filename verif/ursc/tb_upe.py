"""cocotb testbench of the URSC update engine (:class:`hybridgen.rtl.ursc.upe.Upe`).

``random``: ``$UPE_ROWS`` rows per update unit, the op drawn per row (MULADD, MUL, MUL_BF16), a
random fp32 scalar ``s`` and rows ``x``, ``y`` (random bit patterns and values near 1, so sums
cancel and round), 30 % bubbles on every ``i`` and back-pressure on every ``o``. The expected
rows compose :mod:`hybridgen.golden.numerics` in the UpE's order (module docstring of
:mod:`hybridgen.rtl.ursc.upe`): ``fp32_add(fp32_mul(s, x), y)``, ``fp32_mul(s, x)``,
``fp32_to_bf16(fp32_mul(s, x)) << 16``. Bit-exact; the harness fails on a missing or extra
beat; every unit's ``busy`` cycles equal its accepted beats. Ports ``upe_i__<u>``,
``upe_o__<u>``, ``upe_busy__<u>`` as on the datapath top.

Modes (:mod:`hybridgen.rtl.ursc.modes`): the ops are drawn from all three; an op the running
mode does not build (the build's mode; on a "both" build ``$UPE_MODE``, default attention,
driven on ``mode``) is expected as ``MULADD``.
"""

import os

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.golden import numerics
from hybridgen.rtl.ursc.modes import UrscMode, upe_ops
from hybridgen.verif.stream import StreamHarness, load_design
from hybridgen.verif.ursc.designs import fields_of, pack_lanes, unpack_lanes
from hybridgen.verif.vector.operands import fp32_random

MULADD, MUL, MUL_BF16 = 0, 1, 2


def expected(ops, s, x, y, built=("MULADD", "MUL", "MUL_BF16")):
    """UpE results [R, W] for per-row ops, scalars ``s`` [R] and rows ``x``, ``y`` [R, W];
    an op not in ``built`` (names) is a ``MULADD``."""
    codes = {"MULADD": MULADD, "MUL": MUL, "MUL_BF16": MUL_BF16}
    ops = np.where(np.isin(ops, [codes[name] for name in built]), ops, MULADD)
    product = numerics.fp32_mul(s[:, None], x)
    out = numerics.fp32_add(product, y)
    out = np.where((ops == MUL)[:, None], product, out)
    rounded = numerics.fp32_to_bf16(product).astype(np.uint32) << np.uint32(16)
    return np.where((ops == MUL_BF16)[:, None], rounded, out).astype(np.uint32)


def operands(rng, shape):
    """Random fp32 bit patterns mixed with values in [0.5, 2) of either sign."""
    values = fp32_random(rng, int(np.prod(shape))).reshape(shape)
    near = rng.random(shape) < 0.5
    close = numerics.fp32_to_bits((rng.uniform(0.5, 2.0, shape) *
                                   rng.choice([-1.0, 1.0], shape)).astype(np.float32))
    return np.where(near, close, values).astype(np.uint32)


async def count_busy(dut, units, counters):
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        for u in range(units):
            value = getattr(dut, f"upe_busy__{u}").value
            if value.is_resolvable and int(value):
                counters[u] += 1


@cocotb.test()
async def random(dut):
    """Random ops on every unit, 30 % stalls, bit-exact, busy = accepted beats."""
    design = load_design()
    config = design["config"]
    units, width = config["update_units"], config["update_width"]
    rows = int(os.environ.get("UPE_ROWS", "300"))
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    modes = config.get("modes", "both")
    mode = os.environ.get("UPE_MODE", "attention") if modes == "both" else modes
    if modes == "both":
        dut.mode.value = UrscMode[mode.upper()].value
    built = upe_ops(mode)
    dut._log.info("build modes=%s, running mode %s: ops %s", modes, mode, ", ".join(built))
    fields = fields_of(design, "upe_i__0__payload")
    harness = StreamHarness(dut, rng)
    sources = [harness.source(f"upe_i__{u}", stall=0.3) for u in range(units)]
    sinks = [harness.sink(f"upe_o__{u}", stall=0.3) for u in range(units)]
    busy = [0] * units
    await harness.start()
    cocotb.start_soon(count_busy(dut, units, busy))
    want = []
    for source in sources:
        ops = rng.integers(0, 3, rows)
        s, x, y = operands(rng, rows), operands(rng, (rows, width)), operands(rng, (rows, width))
        source.send([int(op) | (int(si) << fields["s"]["offset"]) | (xi << fields["x"]["offset"])
                     | (yi << fields["y"]["offset"])
                     for op, si, xi, yi in zip(ops, s, pack_lanes(x, 32), pack_lanes(y, 32))])
        want.append((ops, s, x, expected(ops, s, x, y, built)))
    latency = design["derived"]["upe_latency"]
    await harness.collect({sink: rows for sink in sinks}, latency=latency,
                          timeout_cycles=5 * rows + 4 * latency + 100)
    for u, (sink, (ops, s, x, rows_want)) in enumerate(zip(sinks, want)):
        got = unpack_lanes(sink.beats, width, 32)
        bad = np.argwhere(got != rows_want)
        if bad.size:
            r, k = bad[0]
            raise AssertionError(f"unit {u}: {len(bad)} results differ; first row {r} lane {k}: "
                                 f"op {int(ops[r])} s={int(s[r]):#010x} x={int(x[r, k]):#010x} "
                                 f"rtl {int(got[r, k]):#010x} golden {int(rows_want[r, k]):#010x}")
        assert busy[u] == len(sources[u].accepted) == rows, (u, busy[u])
    dut._log.info("%d units x %d rows bit-exact in %d cycles", units, rows, harness.cycle)
