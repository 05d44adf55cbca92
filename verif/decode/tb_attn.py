"""cocotb testbench of the decode array's decode attention (``Op.ATTN``,
:class:`hybridgen.rtl.decode.attn_channel.AttnChannel` and
:class:`hybridgen.rtl.decode.attn_output.AttnOutput` inside
:class:`hybridgen.rtl.decode.DecodeArray`).

One :class:`hybridgen.verif.axi.AxiMemory` per channel with random latency and random stalls
on all five AXI channels, the AXI checker on every port; o bit-exact against
:func:`hybridgen.golden.decode_attn.decode_attention_bits` (the array's units, dot 32); guard
bytes around o in channel 0 and over the whole o region of every other channel; the byte
counters equal the layout's row bytes (so the write bytes are exactly the bytes of o: no
dequantized copy), the cycle classes add up and the cycle counter equals the testbench's count.

Tests:

``shapes``  $ATTN_SHAPES (default ``fast``: d = 64; ``all``: also d = 96 and 128; ``quick``: one
            small kernel at d = 32, the default suite's run): GQA and MHA,
            batch 1 and 2, cache lengths not multiples of 32 and a length 0, all three KV
            formats, NaN / inf past every length, back to back.
``errors``  bad decode-attention descriptors complete with their flags and move nothing; a good
            kernel after.
``bench``   ``hybridgen bench decode-attn``: the problem from ``$HYBRIDGEN_BENCH_INPUTS`` in
            format ``$ATTN_KV_FORMAT``, no random stalls, fixed latency ``$ATTN_LATENCY``
            (default 128), half-duplex channels.
"""

import json
import os

import numpy as np

import cocotb

from hybridgen.golden.decode_attn import decode_attention_case
from hybridgen.rtl.decode.layouts import STALL_CLASSES, Error, KvFormat
from hybridgen.verif.decode.attn import AttnJob
from hybridgen.verif.decode.gemv import check_rejected, geometry_of
from hybridgen.verif.decode.tb_gemv import MODEL_READ_LATENCY, GemvBench
from hybridgen.verif.stream import load_design


def check_job(bench, job, record, *, index):
    g = bench.geometry
    label = f"attention {index} (b, hq, hkv, d, sk, lens, fmt = {job.shape})"
    assert record["error"] == 0, f"{label}: error {record['error']}"
    o, guard_ok = job.result(g, bench.memories)
    want = job.golden(g)
    bad = np.argwhere(o != want)
    if bad.size:
        first = tuple(bad[0])
        raise AssertionError(f"{label}: {len(bad)} of {o.size} values of o differ, first "
                             f"o{list(first)}: rtl {int(o[first]):#06x} golden "
                             f"{int(want[first]):#06x}")
    assert guard_ok, f"{label}: the array wrote outside o"
    read, written = job.expected_bytes(g)
    for c in range(g.channels):
        assert record[f"read_bytes{c}"] == read[c], \
            f"{label}: channel {c} read {record[f'read_bytes{c}']} bytes, expected {read[c]}"
        assert record[f"write_bytes{c}"] == written[c], \
            f"{label}: channel {c} wrote {record[f'write_bytes{c}']} bytes, expected {written[c]}"
    total = sum(record[key] for key in STALL_CLASSES)
    assert total == record["cycles"], f"{label}: classes {total} != cycles {record['cycles']}"
    assert record["cycles"] == bench.measured_cycles(index), \
        f"{label}: counter {record['cycles']}, testbench {bench.measured_cycles(index)}"


def shape_list(g, which):
    """(b, sk, hq, hkv, d, fmt, lens): GQA / MHA, lengths around the tile, a length 0.
    ``quick`` (the default suite's end-to-end run): one GQA BFP8 kernel at d = 32, batch 2:
    length 40, whose two position tiles are in two channels (the combine of two partials),
    and length 0 (no tile: o = +0)."""
    H, U = g.attn_heads, g.units
    if which == "quick":
        return [(2, 40, H, 1, 32, "bfp8", [40, 0])]
    fast = [
        (2, 77, 2 * H, 2, 64, "bfp8", [77, 0]),            # GQA, a length 0
        (1, 40, 2, 2, 64, "bfp4", [33]),                   # MHA, one tile past 32
        (2, 32 * U + 5, H, 1, 64, "bf16", [5, 32 * U + 5]),  # a unit with no tile; wrap
    ]
    wide = [
        (1, 50, H, 1, 96, "bfp8", [50]),
        (2, 45, H, H // 2 or 1, 128, "bfp4", [1, 45]),
        (1, 70, 2, 1, 128, "bf16", [64]),
    ]
    return fast + (wide if which == "all" else [])


def _case(rng, b, sk, hq, hkv, d, fmt, lens):
    return decode_attention_case(rng, b=b, sk=sk, hq=hq, hkv=hkv, d=d, fmt=fmt,
                                 cache_lens=lens, units=1, dot=32)


async def _progress(dut, bench, every=1000):
    """Debugging aid: log the cycle and the completions every ``every`` cycles."""
    from cocotb.triggers import ClockCycles
    while True:
        await ClockCycles(dut.clk, every)
        stats = [m.checker.stats() for m in bench.memories]
        dut._log.info("cycle %d: %d done, read %s written %s", bench.harness.cycle,
                      len(bench.done.beats), [s["bytes_read"] for s in stats],
                      [s["bytes_written"] for s in stats])


@cocotb.test()
async def shapes(dut):
    bench = await GemvBench.started(dut, stall=0.2, axi_stall=0.2)
    g, rng = bench.geometry, bench.rng
    which = os.environ.get("ATTN_SHAPES", "fast")
    shapes_ = shape_list(g, which)[:int(os.environ.get("ATTN_JOBS", "99"))]
    jobs = [AttnJob(g, _case(rng, *shape), fmt=shape[5]) for shape in shapes_]
    if os.environ.get("ATTN_PROGRESS"):
        cocotb.start_soon(_progress(dut, bench))
    bench.place(jobs)
    dut._log.info("seed %d: shapes %s", cocotb.RANDOM_SEED, [j.shape for j in jobs])
    records = await bench.run(jobs, timeout_cycles=400_000)
    for index, (job, record) in enumerate(zip(jobs, records)):
        check_job(bench, job, record, index=index)


@cocotb.test()
async def errors(dut):
    bench = await GemvBench.started(dut, stall=0.3, axi_stall=0.0, latency=0)
    g, rng = bench.geometry, bench.rng
    good = AttnJob(g, _case(rng, 1, 33, 2, 1, 32, "bfp8", [33]), fmt="bfp8")
    bench.place([good])
    cases = {"batch0": ({"batch": 0}, Error.ATTN_SHAPE),
             "batch": ({"batch": g.max_batch + 1}, Error.ATTN_SHAPE),
             "d48": ({"d": 48}, Error.ATTN_SHAPE),
             "d_big": ({"d": g.attn_max_d + 32}, Error.ATTN_SHAPE),
             "hq": ({"hq": 3}, Error.ATTN_SHAPE),
             "g_big": ({"hq": g.attn_heads + 1}, Error.ATTN_SHAPE),
             "sk0": ({"sk": 0}, Error.ATTN_SHAPE),
             "format": ({"kv_format": 3}, Error.ATTN_FORMAT)}
    if "bfp4" not in g.kv_formats:
        cases["bfp4"] = ({"kv_format": KvFormat.BFP4.value}, Error.ATTN_FORMAT)
    jobs = []
    for extra, _ in cases.values():
        job = AttnJob(g, good.case, fmt="bfp8", extra=extra)
        for name in ("q_addr", "lens_addr", "k_addr", "v_addr", "o_addr", "o_end"):
            setattr(job, name, getattr(good, name))
        jobs.append(job)
    records = await bench.run(jobs + [good], timeout_cycles=50_000)
    check_rejected(records, {name: code for name, (_, code) in cases.items()}, g.channels)
    check_job(bench, good, records[-1], index=len(cases))


@cocotb.test()
async def bench(dut):
    """``hybridgen bench decode-attn``: no stalls, fixed latency, half duplex."""
    design = load_design()
    g = geometry_of(design)
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    with np.load(os.environ["HYBRIDGEN_BENCH_INPUTS"]) as npz:
        case = {k: npz[k] for k in npz.files}
    fmt = os.environ.get("ATTN_KV_FORMAT", "bfp8")
    latency = int(os.environ.get("ATTN_LATENCY", "128"))
    job = AttnJob(g, case, fmt=fmt)
    end = job.place(g, rng, 0, dense=True)
    size = 1 << max(20, int(end + 4096).bit_length())
    bench_ = GemvBench(dut, design, rng, stall=0.0, axi_stall=0.0,
                       latencies=[max(0, latency - MODEL_READ_LATENCY)] * g.channels,
                       memory_bytes=size, write_latency=latency, half_duplex=True)
    await bench_.start()
    job.load(g, bench_.memories)
    beats = max(job.expected_bytes(g)[0]) // g.bus_bytes
    records = await bench_.run([job], timeout_cycles=16 * beats + 100_000)
    record = records[0]
    o, guard_ok = job.result(g, bench_.memories)
    stats = [memory.checker.stats() for memory in bench_.memories]
    measured = {**record, "tb_cycles": bench_.measured_cycles(0), "guard_ok": bool(guard_ok),
                "latency": latency,
                "bus_bytes_read": sum(s["bytes_read"] for s in stats),
                "bus_bytes_written": sum(s["bytes_written"] for s in stats),
                "duplex_cycles": sum(s["duplex_cycles"] for s in stats),
                "max_outstanding_reads": max(s["max_outstanding_reads"] for s in stats)}
    measured["counter_cycles"] = record["cycles"]
    measured["cycles"] = measured["tb_cycles"]
    np.savez(os.environ["HYBRIDGEN_BENCH_OUTPUTS"], o=o, measured=np.array(json.dumps(measured)))
