"""cocotb testbench of the decode array's Mamba-2 decode step (``ssm-step``,
:class:`hybridgen.rtl.decode.ssm_channel.SsmChannel` inside
:class:`hybridgen.rtl.decode.DecodeArray`).

One :class:`hybridgen.verif.axi.AxiMemory` per channel with random latency and random stalls
on all five AXI channels, the AXI checker on every port; y and the updated state bit-exact
against :func:`hybridgen.golden.decode.ssm_step`; guard bytes around every channel's state
region and over the whole y region (a channel may write only its heads' rows); the byte
counters equal the layout's row bytes and the cycle classes add up.

Tests:

``shapes``  batch 1 and 2, ngroups 1 and > 1, fp32 and bf16 state, with and without z,
            softplus off once; p and n not multiples of the ring or the chunk; a channel
            with no head; back to back.
``errors``  bad decode-step descriptors (batch, heads, headdim, dstate 0; headdim and dstate
            above the buffers) complete with flag 16 and move nothing; a good step after.
``reset``   a reset a random 20 .. 150 cycles into a decode step (it must not complete); the
            next step (other shape, bf16 state, z) is correct, counters included.
``bench``   ``hybridgen bench ssm-step``: inputs from ``$HYBRIDGEN_BENCH_INPUTS``, no random
            stalls, fixed latency ``$SSM_LATENCY`` (default 128), half-duplex channels.
"""

import json
import os

import numpy as np

import cocotb

from hybridgen.golden.decode import ssm_step_case
from hybridgen.rtl.decode.layouts import STALL_CLASSES, Error
from hybridgen.verif.decode.gemv import check_rejected, geometry_of
from hybridgen.verif.decode.ssm import SsmJob
from hybridgen.verif.decode.tb_gemv import MODEL_READ_LATENCY, GemvBench
from hybridgen.verif.stream import load_design


def check_job(bench, job, record, *, index):
    g = bench.geometry
    label = f"step {index} (b, h, p, n, g = {job.shape}, {job.state_dtype}, z={job.with_z})"
    assert record["error"] == 0, f"{label}: error {record['error']}"
    y, state, guard_ok = job.result(g, bench.memories)
    y_want, s_want = job.golden(g)
    bad = np.argwhere(state != s_want)
    if bad.size and os.environ.get("SSM_DEBUG"):
        from hybridgen.golden.numerics import fp32_to_float64, bf16_from_bits
        cs = job.case
        print("DEBUG s_in", fp32_to_float64(cs["state_in"][0, 0, :2, :6]))
        print("DEBUG rtl", fp32_to_float64(state[0, 0, :2, :6]))
        print("DEBUG want", fp32_to_float64(s_want[0, 0, :2, :6]))
        print("DEBUG x", bf16_from_bits(cs["x"][0, 0]), "dt", bf16_from_bits(cs["dt"][0]),
              "B", bf16_from_bits(cs["B"][0, 0, :6]), "A", fp32_to_float64(cs["A"]),
              "bias", fp32_to_float64(cs["dt_bias"]))
        print("DEBUG bad count per head", [(int(e), int(np.sum(np.any(state[0, e] != s_want[0, e], axis=-1)))) for e in range(state.shape[1])])
    if bad.size:
        raise AssertionError(f"{label}: {len(bad)} state values differ, first {tuple(bad[0])}: "
                             f"rtl {int(state[tuple(bad[0])]):#x} golden "
                             f"{int(s_want[tuple(bad[0])]):#x}")
    bad = np.argwhere(y != y_want)
    if bad.size:
        raise AssertionError(f"{label}: {len(bad)} y values differ, first {tuple(bad[0])}: "
                             f"rtl {int(y[tuple(bad[0])]):#06x} golden "
                             f"{int(y_want[tuple(bad[0])]):#06x}")
    assert guard_ok, f"{label}: the array wrote outside its outputs"
    read, written = job.expected_bytes(g)
    for c in range(g.channels):
        assert record[f"read_bytes{c}"] == read[c], \
            f"{label}: channel {c} read {record[f'read_bytes{c}']} bytes, expected {read[c]}"
        assert record[f"write_bytes{c}"] == written[c], \
            f"{label}: channel {c} wrote {record[f'write_bytes{c}']} bytes, expected {written[c]}"
    total = sum(record[key] for key in STALL_CLASSES)
    assert total == record["cycles"], f"{label}: classes {total} != cycles {record['cycles']}"
    assert record["cycles"] == bench.measured_cycles(index), f"{label}: cycle counter"


def shape_list(g):
    """(b, h, p, n, groups, state_dtype, z, softplus) around the ring I and the chunk W."""
    W, I, C = g.bus_bytes // 4, g.interleave, g.channels
    return [
        (1, 2 * C, I + 1, 2 * W + 3, 2, "fp32", True, True),
        (2, 2, 2 * I, W, 1, "bf16", False, True),
        (1, 1, 3, 5, 1, "fp32", False, False),          # one head: a channel with none
        (2, 4, I - 1, 3 * W - 1, 4, "bf16", True, True),
        (1, C + 1, 2 * I + 3, W + 1, 1, "fp32", False, True),
    ]


@cocotb.test()
async def shapes(dut):
    bench = await GemvBench.started(dut, stall=0.2, axi_stall=0.2)
    g, rng = bench.geometry, bench.rng
    jobs = []
    for b, h, p, n, groups, dtype, z, soft in shape_list(g)[:int(os.environ.get("SSM_JOBS", "99"))]:
        case = ssm_step_case(rng, b, h, p, n, groups, state_dtype=dtype, with_z=z,
                             softplus=soft)
        jobs.append(SsmJob(g, case, groups=groups, state_dtype=dtype, softplus=soft))
    bench.place(jobs)
    dut._log.info("seed %d: shapes %s", cocotb.RANDOM_SEED, [j.shape for j in jobs])
    records = await bench.run(jobs, timeout_cycles=300_000)
    for index, (job, record) in enumerate(zip(jobs, records)):
        check_job(bench, job, record, index=index)


@cocotb.test()
async def errors(dut):
    bench = await GemvBench.started(dut, stall=0.3, axi_stall=0.0, latency=0)
    g, rng = bench.geometry, bench.rng
    good = SsmJob(g, ssm_step_case(rng, 1, 2, 3, 5, 1), groups=1)
    bench.place([good])
    cases = {"batch0": {"batch": 0}, "heads0": {"heads": 0}, "p0": {"headdim": 0},
             "n0": {"dstate": 0}, "p_big": {"headdim": g.ssm_headdim + 1},
             "n_big": {"dstate": g.ssm_dstate + 1}}
    jobs = []
    for extra in cases.values():
        job = SsmJob(g, good.case, groups=1, extra=extra)
        job.state_addr, job.record_addr, job.y_addr = \
            good.state_addr, good.record_addr, good.y_addr
        jobs.append(job)
    records = await bench.run(jobs + [good], timeout_cycles=50_000)
    check_rejected(records, {name: Error.SSM_SHAPE for name in cases}, g.channels)
    check_job(bench, good, records[-1], index=len(cases))


@cocotb.test()
async def reset(dut):
    bench = await GemvBench.started(dut, stall=0.1, axi_stall=0.1, latency=3)
    g, rng = bench.geometry, bench.rng
    # every channel busy for ~1000 cycles: the reset surely interrupts the step
    first = SsmJob(g, ssm_step_case(rng, 2, 2 * g.channels, g.ssm_headdim, g.ssm_dstate, 1),
                   groups=1)
    end = bench.place([first])
    bench.desc.send([first.descriptor(bench.desc_fields)])
    cut = int(rng.integers(20, 150))
    dut._log.info("seed %d: reset %d cycles into the decode step", cocotb.RANDOM_SEED, cut)
    await bench.harness.reset_during(bench.desc, cut)
    assert not bench.done.beats, "the interrupted decode step completed before the reset"
    second = SsmJob(g, ssm_step_case(rng, 1, g.channels + 1, 3, 5, 1, state_dtype="bf16",
                                     with_z=True), groups=1, state_dtype="bf16")
    bench.place([second], base=end + 0x100)
    bench.desc.accepted.clear()
    records = await bench.run([second], timeout_cycles=100_000)
    check_job(bench, second, records[0], index=0)


@cocotb.test()
async def bench(dut):
    """``hybridgen bench ssm-step``: no stalls, fixed latency, half duplex."""
    design = load_design()
    g = geometry_of(design)
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    with np.load(os.environ["HYBRIDGEN_BENCH_INPUTS"]) as npz:
        case = {k: npz[k] for k in npz.files}
    latency = int(os.environ.get("SSM_LATENCY", "128"))
    job = SsmJob(g, case, groups=case["B"].shape[1],
                 state_dtype="fp32" if case["state_in"].dtype == np.uint32 else "bf16",
                 softplus=os.environ.get("SSM_SOFTPLUS", "1") == "1")
    end = job.place(g, rng, 0, dense=True)
    size = 1 << max(20, int(end + 4096).bit_length())
    bench_ = GemvBench(dut, design, rng, stall=0.0, axi_stall=0.0,
                       latencies=[max(0, latency - MODEL_READ_LATENCY)] * g.channels,
                       memory_bytes=size, write_latency=latency, half_duplex=True)
    await bench_.start()
    job.load(g, bench_.memories)
    beats = max(job.expected_bytes(g)[0]) // g.bus_bytes
    records = await bench_.run([job], timeout_cycles=8 * beats + 100_000)
    record = records[0]
    y, state, guard_ok = job.result(g, bench_.memories)
    stats = [memory.checker.stats() for memory in bench_.memories]
    measured = {**record, "tb_cycles": bench_.measured_cycles(0), "guard_ok": bool(guard_ok),
                "latency": latency,
                "bus_bytes_read": sum(s["bytes_read"] for s in stats),
                "bus_bytes_written": sum(s["bytes_written"] for s in stats),
                "duplex_cycles": sum(s["duplex_cycles"] for s in stats),
                "max_outstanding_reads": max(s["max_outstanding_reads"] for s in stats)}
    measured["counter_cycles"] = record["cycles"]
    measured["cycles"] = measured["tb_cycles"]
    np.savez(os.environ["HYBRIDGEN_BENCH_OUTPUTS"], y=y, state_out=state,
             measured=np.array(json.dumps(measured)))
