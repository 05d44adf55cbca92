"""cocotb testbench of the decode array's GEMV (:class:`hybridgen.rtl.decode.DecodeArray`).

Every channel's AXI4 port is answered by its own :class:`hybridgen.verif.axi.AxiMemory`
(cocotbext-axi's AxiRam) with a protocol checker on every channel; descriptors go in and
completion records come out through :class:`hybridgen.verif.stream.StreamHarness`.

Every result is compared with :func:`hybridgen.golden.decode.gemv` exactly; every byte of
every channel's y region that is not one of that channel's outputs, and 16 bytes either side,
must keep its guard value; the counters must equal the testbench's counts (cycles from the
descriptor accepted to the last write response, row bytes read and written per channel) and
the cycle classes must add up to the cycles.

Tests:

``shapes``  batch 1, 2 and max_batch; k and n not multiples of anything (k = 1, k below one
            beat, n = 1, n below one group, several groups per channel, a channel with no
            group); back to back; random stalls on both streams and every AXI channel and a
            random extra read latency per channel; odd addresses and padded strides.
``errors``  bad descriptors (unknown op, batch 0 and above max_batch, k = 0, n = 0, k above
            max_k) complete with their error flags and move nothing; a good GEMV after.
``reset``   reset in the middle of a GEMV, then a correct GEMV.
``bench``   ``hybridgen bench gemv``: x, w from ``$HYBRIDGEN_BENCH_INPUTS``, dense, no random
            stalls, fixed latency ``$GEMV_LATENCY`` (default 128: first R beat 128 cycles after
            AR, B 128 cycles after WLAST), half-duplex channels.
"""

import json
import os

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.rtl.decode.layouts import STALL_CLASSES, Error
from hybridgen.verif.axi import AxiMemory
from hybridgen.verif.decode.gemv import GemvJob, check_rejected, geometry_of, random_bf16,\
    random_operands
from hybridgen.verif.stream import StreamHarness, load_design, unpack

#: AxiMemory's own read latency (first R beat after the second edge following AR): a latency
#: L is ``read_latency = L - MODEL_READ_LATENCY``.
MODEL_READ_LATENCY = 2


def _fields(design, name):
    for port in design["ports"]:
        if port["name"] == name:
            return port["fields"]
    raise KeyError(name)


class GemvBench:
    """Descriptor/completion streams, one AXI memory per channel, a write-response monitor."""

    def __init__(self, dut, design, rng, *, stall, axi_stall, latencies, memory_bytes,
                 write_latency=0, half_duplex=False):
        self.dut, self.design, self.rng = dut, design, rng
        self.geometry = geometry_of(design)
        self.harness = StreamHarness(dut, rng)
        self.desc = self.harness.source("desc", stall=stall)
        self.done = self.harness.sink("done", stall=stall)
        self.desc_fields = _fields(design, "desc__payload")
        self.done_fields = _fields(design, "done__payload")
        self.memories = [
            AxiMemory(dut, f"m_axi__{c}", size=memory_bytes, latency_stall=axi_stall,
                      read_latency=latencies[c], read_depth=max(64, self.geometry.outstanding),
                      write_latency=write_latency, half_duplex=half_duplex, rng=rng)
            for c in range(self.geometry.channels)]
        self.write_responses = []

    async def start(self):
        await self.harness.start()
        cocotb.start_soon(self._watch_responses())

    @classmethod
    async def started(cls, dut, **options):
        design = load_design()
        rng = np.random.default_rng(cocotb.RANDOM_SEED)
        channels = geometry_of(design).channels
        latency = options.pop("latency", None)
        latencies = (list(rng.integers(0, 12, channels)) if latency is None
                     else [latency] * channels)
        bench = cls(dut, design, rng, latencies=[int(v) for v in latencies],
                    memory_bytes=1 << 18, **options)
        await bench.start()
        return bench

    async def _watch_responses(self):
        dut = self.dut
        ports = [(getattr(dut, f"m_axi__{c}__bvalid"), getattr(dut, f"m_axi__{c}__bready"))
                 for c in range(self.geometry.channels)]
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if any(v.value == 1 and r.value == 1 for v, r in ports):
                self.write_responses.append(self.harness.cycle)

    def place(self, jobs, base=0x30):
        for job in jobs:
            base = job.place(self.geometry, self.rng, base)
            job.load(self.geometry, self.memories)
        return base

    async def run(self, jobs, *, timeout_cycles):
        """Send every job's descriptor back to back; return one completion dict per job."""
        first = len(self.done.beats)
        self.desc.send([job.descriptor(self.desc_fields) for job in jobs])
        try:
            await self.harness.collect({self.done: first + len(jobs)},
                                       latency=self.design["derived"]["dot_latency"] + 16,
                                       timeout_cycles=timeout_cycles)
        except AssertionError as err:
            raise AssertionError(f"{err}: {len(self.done.beats) - first} of {len(jobs)} GEMVs "
                                 f"completed") from None
        for memory in self.memories:
            memory.check()
        records = unpack(self.done_fields, self.done.beats[first:])
        return [{key: int(values[i]) for key, values in records.items()}
                for i in range(len(jobs))]

    def measured_cycles(self, index):
        """Testbench count for completion ``index``: descriptor accepted -> last B response."""
        start = self.desc.accepted[index]
        end = self.done.cycles[index]
        responses = [c for c in self.write_responses if start < c <= end]
        return (max(responses) if responses else start) - start


def check_job(bench, job, record, *, index):
    """Result bit-exact, guards intact, counters equal to the testbench's counts."""
    g = bench.geometry
    b, k, n = job.shape
    label = f"GEMV {index} (batch={b} k={k} n={n})"
    assert record["error"] == 0, f"{label}: error {record['error']}"
    got, guard_ok = job.result(g, bench.memories)
    want = job.golden(g)
    bad = np.argwhere(got != want)
    if bad.size:
        i, j = bad[0]
        raise AssertionError(f"{label}: {len(bad)} of {b * n} results differ, first y[{i},{j}]: "
                             f"rtl {int(got[i, j]):#06x} golden {int(want[i, j]):#06x}")
    assert guard_ok, f"{label}: the array wrote outside its outputs"
    read, written = job.expected_bytes(g)
    for c in range(g.channels):
        assert record[f"read_bytes{c}"] == read[c], \
            f"{label}: channel {c} read {record[f'read_bytes{c}']} bytes, expected {read[c]}"
        assert record[f"write_bytes{c}"] == written[c], \
            f"{label}: channel {c} wrote {record[f'write_bytes{c}']} bytes, expected {written[c]}"
    total = sum(record[key] for key in STALL_CLASSES)
    assert total == record["cycles"], f"{label}: classes {total} != cycles {record['cycles']}"
    tb_cycles = bench.measured_cycles(index)
    assert record["cycles"] == tb_cycles, \
        f"{label}: counter cycles = {record['cycles']}, testbench counted {tb_cycles}"


def shape_list(geometry):
    """(batch, k, n) relative to the beat (V values), the group (I columns) and the channels."""
    V, I, C, B = geometry.values, geometry.interleave, geometry.channels, geometry.max_batch
    return [
        (1, 3 * V + 5, C * I * 2 + 3),     # batch 1, several groups per channel, tails
        (B, 2 * V - 1, I * C + I - 1),     # full batch
        (2, 1, 1),                         # k = 1, n = 1: one channel works
        (B - 1 if B > 2 else 1, V, I + 1),  # k one beat, a channel with no group
        (1, 5 * V + 3, 2 * C * I + 1),
        (min(3, B), V + 1, 5),
    ]


@cocotb.test()
async def shapes(dut):
    bench = await GemvBench.started(dut, stall=0.2, axi_stall=0.2)
    g, rng = bench.geometry, bench.rng
    jobs = [GemvJob(*random_operands(rng, b, k, n))
            for b, k, n in shape_list(g)]
    bench.place(jobs)
    dut._log.info("seed %d: shapes %s", cocotb.RANDOM_SEED, [j.shape for j in jobs])
    records = await bench.run(jobs, timeout_cycles=200_000)
    for index, (job, record) in enumerate(zip(jobs, records)):
        check_job(bench, job, record, index=index)


@cocotb.test()
async def errors(dut):
    bench = await GemvBench.started(dut, stall=0.3, axi_stall=0.0, latency=0)
    g, rng = bench.geometry, bench.rng
    x, w = random_bf16(rng, (2, 7)), random_bf16(rng, (7, 5))
    good = GemvJob(x, w)
    bench.place([good])
    cases = {"op": ({"op": 3}, Error.OP), "batch0": ({"batch": 0}, Error.BATCH),
             "batch": ({"batch": g.max_batch + 1}, Error.BATCH),
             "k0": ({"k": 0}, Error.SHAPE), "n0": ({"n": 0}, Error.SHAPE),
             "k_big": ({"k": g.max_k + 1}, Error.K_TOO_LARGE)}
    jobs = []
    for extra, _ in cases.values():
        job = GemvJob(x, w, extra=extra)
        job.w_addr, job.x_addr, job.ldx = good.w_addr, good.x_addr, good.ldx
        job.y_addr, job.ldy = good.y_addr, good.ldy
        jobs.append(job)
    records = await bench.run(jobs + [good], timeout_cycles=50_000)
    check_rejected(records, {name: code for name, (_, code) in cases.items()}, g.channels)
    check_job(bench, good, records[-1], index=len(cases))


@cocotb.test()
async def reset(dut):
    bench = await GemvBench.started(dut, stall=0.1, axi_stall=0.1, latency=3)
    g, rng = bench.geometry, bench.rng
    # long enough (several groups per channel) that the reset surely interrupts it
    first = GemvJob(random_bf16(rng, (g.max_batch, 6 * g.values + 1)),
                    random_bf16(rng, (6 * g.values + 1, 6 * g.channels * g.interleave + 1)))
    bench.place([first])
    bench.desc.send([first.descriptor(bench.desc_fields)])
    cut = int(rng.integers(20, 150))
    dut._log.info("seed %d: reset %d cycles into the GEMV", cocotb.RANDOM_SEED, cut)
    await bench.harness.reset_during(bench.desc, cut)
    assert not bench.done.beats, "the interrupted GEMV completed before the reset"
    second = GemvJob(random_bf16(rng, (2, 2 * g.values + 3)),
                     random_bf16(rng, (2 * g.values + 3, 2 * g.channels * g.interleave + 3)))
    bench.place([second], base=first.end + 0x100)
    bench.desc.accepted.clear()
    records = await bench.run([second], timeout_cycles=100_000)
    check_job(bench, second, records[0], index=0)


@cocotb.test()
async def bench(dut):
    """``hybridgen bench gemv``: dense operands, no stalls, fixed latency, half duplex."""
    design = load_design()
    g = geometry_of(design)
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    with np.load(os.environ["HYBRIDGEN_BENCH_INPUTS"]) as npz:
        x, w = npz["x"], npz["w"]
    latency = int(os.environ.get("GEMV_LATENCY", "128"))
    job = GemvJob(x, w)
    end = job.place(g, rng, 0, dense=True)
    size = 1 << max(20, int(end + 4096).bit_length())
    bench_ = GemvBench(dut, design, rng, stall=0.0, axi_stall=0.0,
                       latencies=[max(0, latency - MODEL_READ_LATENCY)] * g.channels,
                       memory_bytes=size, write_latency=latency, half_duplex=True)
    await bench_.start()
    job.load(g, bench_.memories)
    b, k, n = job.shape
    beats = max(g.channel_groups(n, c) for c in range(g.channels)) * g.group_bytes(k) \
        // g.bus_bytes
    records = await bench_.run([job], timeout_cycles=4 * beats + 20 * b * k + 100_000)
    record = records[0]
    y, guard_ok = job.result(g, bench_.memories)
    stats = [memory.checker.stats() for memory in bench_.memories]
    measured = {**record, "tb_cycles": bench_.measured_cycles(0), "guard_ok": bool(guard_ok),
                "latency": latency,
                "bus_bytes_read": sum(s["bytes_read"] for s in stats),
                "bus_bytes_written": sum(s["bytes_written"] for s in stats),
                "duplex_cycles": sum(s["duplex_cycles"] for s in stats),
                "max_outstanding_reads": max(s["max_outstanding_reads"] for s in stats)}
    measured["counter_cycles"] = record["cycles"]
    measured["cycles"] = measured["tb_cycles"]
    np.savez(os.environ["HYBRIDGEN_BENCH_OUTPUTS"], y=y, measured=np.array(json.dumps(measured)))
