"""cocotb testbench of the GEMM engine (:class:`hybridgen.rtl.systolic.engine.GemmEngine`).

The engine's AXI4 master port is answered by :class:`hybridgen.verif.axi.AxiMemory` (cocotbext-axi's
AxiRam) with a protocol checker on every channel (handshakes, WLAST, burst length, 4 KB
boundaries); descriptors go in and completion records come out through
:class:`hybridgen.verif.stream.StreamHarness` (stream protocol checkers on both).

Every result is compared with :func:`hybridgen.golden.gemm.gemm` exactly, the bytes around C must be
untouched, and the engine's performance counters must equal the testbench's own counts: cycles
from the descriptor accepted to the last write response, A rows streamed, bytes moved, and the
stall classes must add up to the cycles.

Tests (shapes are chosen relative to the design's array and memory sizes):

``shapes``     square, tall, wide, K = 1, 1x1x1, M/N/K not multiples of the array, several M
               blocks, K large enough to shrink the M block, a dense GEMM (A fetched one M
               block per request), back to back, random stalls on both streams and every AXI
               channel, random read latency; every shape in each dataflow the engine has
               (alternating, so a "both" engine switches between consecutive GEMMs).
``errors``     bad descriptors (zero dimension, wrong dtype, a dataflow not built, K too
               large) complete with the error code and move nothing; a good GEMM right
               after still works.
``reset``      reset in the middle of a GEMM (OS if built); the next GEMM (WS if built) is
               correct.
``bench``      ``hybridgen bench gemm``: ``a``, ``b`` from ``$HYBRIDGEN_BENCH_INPUTS``, dense,
               aligned, no stalls, fixed read latency ``$GEMM_READ_LATENCY`` (default 32).
"""

import json
import os

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.verif.axi import AxiMemory
from hybridgen.verif.stream import StreamHarness, load_design, unpack
from hybridgen.rtl.systolic.layouts import STALL_CLASSES, Dtype, Error
from hybridgen.verif.systolic.gemm import GemmJob, expected_counters, random_operands



def _fields(design, name):
    for port in design["ports"]:
        if port["name"] == name:
            return port["fields"]
    raise KeyError(name)


class EngineBench:
    """Descriptor/completion streams, the AXI memory and a write-response monitor."""

    def __init__(self, dut, design, rng, *, stall, axi_stall, read_latency, memory_bytes):
        self.dut, self.design, self.rng = dut, design, rng
        self.config = design["config"]
        self.harness = StreamHarness(dut, rng)
        self.desc = self.harness.source("desc", stall=stall)
        self.done = self.harness.sink("done", stall=stall)
        self.desc_fields = _fields(design, "desc__payload")
        self.done_fields = _fields(design, "done__payload")
        self.memory = AxiMemory(dut, "m_axi", size=memory_bytes, latency_stall=axi_stall,
                                read_latency=read_latency, read_depth=64, rng=rng)
        self.write_responses = []

    async def start(self):
        await self.harness.start()
        cocotb.start_soon(self._watch_responses())

    @classmethod
    async def started(cls, dut, **options):
        """The design under test's bench (``options`` as for the constructor, 1 MiB of
        memory), stimulus seeded from ``cocotb.RANDOM_SEED``, clock running, out of reset."""
        bench = cls(dut, load_design(), np.random.default_rng(cocotb.RANDOM_SEED),
                    memory_bytes=1 << 20, **options)
        await bench.start()
        return bench

    async def _watch_responses(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.m_axi__bvalid.value == 1 and dut.m_axi__bready.value == 1:
                self.write_responses.append(self.harness.cycle)

    async def run(self, jobs, *, timeout_cycles):
        """Send every job's descriptor back to back; return one completion dict per job."""
        first = len(self.done.beats)
        self.desc.send([job.descriptor(self.desc_fields) for job in jobs])
        try:
            await self.harness.collect({self.done: first + len(jobs)},
                                       latency=self.design["derived"]["array_latency"],
                                       timeout_cycles=timeout_cycles)
        except AssertionError as err:
            raise AssertionError(f"{err}: {len(self.done.beats) - first} of {len(jobs)} GEMMs "
                                 f"completed") from None
        self.memory.check()
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
    m, k, n = job.shape
    label = f"GEMM {index} (M={m} K={k} N={n} {job.dtype} {job.dataflow})"
    assert record["error"] == 0, f"{label}: engine reported error {record['error']}"
    got, guard_ok = job.result(bench.memory)
    want = job.golden(bench.config["rows"])
    bad = np.argwhere(got != want)
    if bad.size:
        i, j = bad[0]
        raise AssertionError(f"{label}: {len(bad)} of {m * n} results differ, first C[{i},{j}]: "
                             f"rtl {int(got[i, j]) & 0xFFFFFFFF:#010x} golden "
                             f"{int(want[i, j]) & 0xFFFFFFFF:#010x}")
    assert guard_ok, f"{label}: the engine wrote outside C"
    for key, value in expected_counters(bench.design, m, k, n, job.dataflow).items():
        assert record[key] == value, f"{label}: counter {key} = {record[key]}, expected {value}"
    total = sum(record[key] for key in STALL_CLASSES)
    assert total == record["cycles"], \
        f"{label}: busy + stall classes = {total} != cycles {record['cycles']}"
    tb_cycles = bench.measured_cycles(index)
    assert record["cycles"] == tb_cycles, \
        f"{label}: counter cycles = {record['cycles']}, testbench counted {tb_cycles}"


def shape_list(config, derived, dataflow="ws"):
    """Shapes for the configured array (relative to rows x cols and the memories; OS shapes
    keep K <= os_max_k)."""
    R, C = config["rows"], config["cols"]
    kt_big = config["spad_rows"] // 2  # ceil(K/R) for which the M block shrinks
    max_k = derived["max_k"]
    line_k = R * derived["line_chunks"]
    if dataflow == "os":
        max_k = min(max_k, config["os_max_k"])
    dense_k = line_k * max(1, min(4, max_k // line_k))
    big_k = min(R * kt_big // 4, 400, max_k)
    return [
        (2 * R, 2 * R, 2 * C),                 # square, multiples
        (3 * R + 1, R - 1, C + 2),             # tall, K below one tile
        (3, 2 * R + 3, 4 * C + 1),             # wide
        (5, 1, 7),                             # K = 1
        (1, 1, 1),
        (config["acc_rows"] + 5, R + 1, C - 1),  # two M blocks, edges everywhere
        (7, big_k, 3),                         # many K tiles
        # dense, K a multiple of a scratchpad line: A fetched several rows per request
        (config["acc_rows"] + 3, dense_k, C + 1),
    ]


@cocotb.test()
async def shapes(dut):
    latency = int(np.random.default_rng(cocotb.RANDOM_SEED + 1).integers(0, 12))
    bench = await EngineBench.started(dut, stall=0.2, axi_stall=0.2, read_latency=latency)
    design, config, rng = bench.design, bench.config, bench.rng
    jobs, base = [], 0x1F0  # first rows straddle beats; later ones cross 4 KB boundaries
    # an engine built for both dataflows alternates them GEMM by GEMM (back to back)
    modes = design["derived"]["dataflows"]
    lists = [shape_list(config, design["derived"], mode) for mode in modes]
    plan = [(mode, shapes_[i], i == len(shapes_) - 1)
            for i in range(max(map(len, lists)))
            for mode, shapes_ in zip(modes, lists) if i < len(shapes_)]
    for mode, (m, k, n), dense in plan:
        a, b = random_operands(rng, m, k, n, config["dtype"])
        job = GemmJob(a, b, config["dtype"], mode)
        # the last GEMMs are dense: A is fetched one M block per request
        base = job.place(rng, base, dense=dense)
        job.load(bench.memory)
        jobs.append(job)
    dut._log.info("seed %d: shapes %s", cocotb.RANDOM_SEED,
                  [(j.dataflow, j.shape) for j in jobs])
    records = await bench.run(jobs, timeout_cycles=50_000 * len(jobs))
    for index, (job, record) in enumerate(zip(jobs, records)):
        check_job(bench, job, record, index=index)


@cocotb.test()
async def errors(dut):
    bench = await EngineBench.started(dut, stall=0.3, axi_stall=0.0, read_latency=0)
    design, config, rng = bench.design, bench.config, bench.rng
    dtype = config["dtype"]
    other = "bf16" if dtype == "int8" else "int8"
    a, b = random_operands(rng, 3, 5, 4, dtype)
    modes = design["derived"]["dataflows"]
    good = GemmJob(a, b, dtype, modes[-1])
    good.place(rng, 0x100)
    good.load(bench.memory)
    max_k = design["derived"]["max_k"]
    cases = {
        "shape": GemmJob(a, b, dtype, extra={"n": 0}),
        "dtype": GemmJob(a, b, dtype, extra={"dtype": Dtype[other.upper()].value}),
        # a dataflow code the engine was not built for
        "dataflow": GemmJob(a, b, dtype, extra={"dataflow": 1 if modes == ["ws"] else 2}),
    }
    if max_k < 65535:
        cases["k_too_large"] = GemmJob(a, b, dtype, modes[0], extra={"k": max_k + 1})
    if "os" in modes and config["os_max_k"] < max_k:
        cases["os_k_too_large"] = GemmJob(a, b, dtype, "os",
                                          extra={"k": config["os_max_k"] + 1})
    codes = {"shape": Error.SHAPE, "dtype": Error.DTYPE, "k_too_large": Error.K_TOO_LARGE,
             "os_k_too_large": Error.K_TOO_LARGE, "dataflow": Error.DATAFLOW}
    for job in cases.values():
        job.a_addr, job.b_addr, job.c_addr = good.a_addr, good.b_addr, good.c_addr
        job.lda, job.ldb, job.ldc = good.lda, good.ldb, good.ldc
    records = await bench.run(list(cases.values()) + [good], timeout_cycles=50_000)
    for (name, _), record in zip(cases.items(), records):
        assert record["error"] == codes[name].value, f"{name}: error code {record['error']}"
        assert record["write_bytes"] == 0 and record["read_bytes"] == 0, \
            f"{name}: a rejected descriptor moved data"
    check_job(bench, good, records[-1], index=len(cases))


@cocotb.test()
async def reset(dut):
    bench = await EngineBench.started(dut, stall=0.1, axi_stall=0.1, read_latency=3)
    config, rng = bench.config, bench.rng
    R, C = config["rows"], config["cols"]
    # long enough (several M blocks, K and N tiles) that the reset surely interrupts it
    modes = bench.design["derived"]["dataflows"]
    a, b = random_operands(rng, 2 * config["acc_rows"] + 3, 4 * R, 3 * C, config["dtype"])
    first = GemmJob(a, b, config["dtype"], modes[-1])
    first.place(rng, 0x40)
    first.load(bench.memory)
    bench.desc.send([first.descriptor(bench.desc_fields)])
    cut = int(rng.integers(30, 200))
    dut._log.info("seed %d: reset %d cycles into the GEMM", cocotb.RANDOM_SEED, cut)
    await bench.harness.reset_during(bench.desc, cut)
    assert not bench.done.beats, "the interrupted GEMM completed before the reset"
    a2, b2 = random_operands(rng, 2 * R + 3, R + 2, C + 1, config["dtype"])
    second = GemmJob(a2, b2, config["dtype"], modes[0])
    second.place(rng, first.end + 0x100)
    second.load(bench.memory)
    bench.desc.accepted.clear()
    records = await bench.run([second], timeout_cycles=100_000)
    check_job(bench, second, records[0], index=0)


@cocotb.test()
async def bench(dut):
    """``hybridgen bench gemm``: dense operands at address 0, no stalls, fixed latency."""
    design = load_design()
    config = design["config"]
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    with np.load(os.environ["HYBRIDGEN_BENCH_INPUTS"]) as npz:
        a, b = npz["a"], npz["b"]
    job = GemmJob(a, b, config["dtype"], design["derived"]["dataflows"][0])
    end = job.place(rng, 0, dense=True)
    latency = int(os.environ.get("GEMM_READ_LATENCY", "32"))
    size = 1 << max(20, int(end + 4096).bit_length())
    bench_ = EngineBench(dut, design, rng, stall=0.0, axi_stall=0.0, read_latency=latency,
                         memory_bytes=size)
    await bench_.start()
    job.load(bench_.memory)
    m, k, n = job.shape
    records = await bench_.run([job], timeout_cycles=50 * (m * k * n // (config["rows"] *
                                                                        config["cols"])) + 100_000)
    record = records[0]
    c, guard_ok = job.result(bench_.memory)
    measured = {**record, "tb_cycles": bench_.measured_cycles(0), "guard_ok": bool(guard_ok),
                "read_latency": latency, "bus_bytes_read": bench_.memory.bytes_read,
                "bus_bytes_written": bench_.memory.bytes_written}
    measured["cycles"] = measured["tb_cycles"]
    measured["counter_cycles"] = record["cycles"]
    np.savez(os.environ["HYBRIDGEN_BENCH_OUTPUTS"], c=c, measured=np.array(json.dumps(measured)))
