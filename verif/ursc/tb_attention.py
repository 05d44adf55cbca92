"""cocotb testbench of the URSC core's PipeFlash attention (:class:`hybridgen.rtl.ursc.core.UrscCore`).

The AXI4 master port is answered by :class:`hybridgen.verif.axi.AxiMemory` (AxiRam with random
stalls on every channel and a random extra read latency) with the AXI protocol checker;
descriptors go in and completions come out through :class:`hybridgen.verif.stream.StreamHarness`
(random stalls, protocol checkers, a missing or an extra completion fails). Every O is compared
bit for bit with :func:`hybridgen.golden.ursc.ursc_attention`, the guard bytes around O must be
intact, and the counters must equal the testbench's own counts
(:func:`hybridgen.verif.ursc.attention.expected_counters`; cycles: descriptor accepted -> last
write response), the stall classes adding up to the cycles.

Tests: ``shapes`` (d = 64 and 96, MHA, GQA 4:1 and 8:2, causal and not, sq < sk, sq > sk with
rows that see no key, sq = 1, blocks not dividing the lengths; back to back), ``errors`` (bad
descriptors complete with their code and move nothing; a good kernel after them is correct),
``reset`` (reset in the middle of a kernel, then a correct kernel), ``bench`` (``hybridgen bench attention``: inputs from ``$HYBRIDGEN_BENCH_INPUTS``, no stalls,
fixed read latency ``$ATTENTION_READ_LATENCY``).
"""

import json
import os

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.rtl.ursc.attention_desc import AttentionError
from hybridgen.gen.presets import resolve
from hybridgen.rtl.ursc.core import STALL_CLASSES, core_errors
from hybridgen.verif.axi import AxiMemory
from hybridgen.verif.stream import StreamHarness, load_design, unpack
from hybridgen.verif.ursc.attention import AttentionJob, expected_counters, random_qkv


def _fields(design, name):
    return next(p["fields"] for p in design["ports"] if p["name"] == name)


class CoreBench:
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

    @classmethod
    async def started(cls, dut, **options):
        bench = cls(dut, load_design(), np.random.default_rng(cocotb.RANDOM_SEED),
                    memory_bytes=1 << 20, **options)
        await bench.start()
        return bench

    async def start(self):
        await self.harness.start()
        cocotb.start_soon(self._watch_responses())

    async def _watch_responses(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.m_axi__bvalid.value == 1 and dut.m_axi__bready.value == 1:
                self.write_responses.append(self.harness.cycle)

    async def run(self, jobs, *, timeout_cycles):
        first = len(self.done.beats)
        self.desc.send([job.descriptor(self.desc_fields) for job in jobs])
        try:
            await self.harness.collect({self.done: first + len(jobs)}, latency=64,
                                       timeout_cycles=timeout_cycles)
        except AssertionError as err:
            raise AssertionError(f"{err}: {len(self.done.beats) - first} of {len(jobs)} "
                                 f"kernels completed") from None
        self.memory.check()
        records = unpack(self.done_fields, self.done.beats[first:])
        return [{key: int(values[i]) for key, values in records.items()}
                for i in range(len(jobs))]

    def measured_cycles(self, index):
        """Descriptor ``index`` accepted -> its last write response (testbench count)."""
        start, end = self.desc.accepted[index], self.done.cycles[index]
        responses = [c for c in self.write_responses if start < c <= end]
        return (max(responses) if responses else start) - start


def check_job(bench, job, record, *, index):
    label = f"kernel {index} ({job.shape}, causal={job.causal}, blocks {job.block_q}x{job.block_k})"
    assert record["error"] == 0, f"{label}: the core reported error {record['error']}"
    got, guard_ok = job.result(bench.memory)
    want = job.golden(bench.config)
    bad = np.argwhere(got != want)
    if bad.size:
        where = tuple(int(x) for x in bad[0])
        raise AssertionError(f"{label}: {len(bad)} of {got.size} outputs differ, first O{where}:"
                             f" rtl {int(got[where]):#06x} golden {int(want[where]):#06x}")
    assert guard_ok, f"{label}: the core wrote outside O"
    for key, value in expected_counters(bench.config, job).items():
        assert record[key] == value, f"{label}: counter {key} = {record[key]}, expected {value}"
    total = sum(record[key] for key in STALL_CLASSES)
    assert total == record["cycles"], f"{label}: stall classes add up to {total}, " \
                                      f"not cycles {record['cycles']}"
    tb_cycles = bench.measured_cycles(index)
    assert record["cycles"] == tb_cycles, \
        f"{label}: counter cycles = {record['cycles']}, testbench counted {tb_cycles}"


#: (b, sq, sk, hq, hkv, d, causal, block_q, block_k): the shape classes on ursc-tiny.
SHAPES = [
    (1, 5, 11, 2, 2, 64, False, 4, 8),     # MHA, sq < sk, blocks not dividing the lengths
    (1, 6, 6, 4, 1, 64, True, 4, 4),       # GQA 4:1, causal, diagonal blocks
    (1, 1, 9, 2, 2, 96, True, 1, 5),       # d = 96, sq = 1 (decode), causal
    (1, 3, 4, 8, 2, 64, False, 4, 4),      # GQA 8:2
    (2, 7, 3, 1, 1, 64, True, 4, 4),       # sq > sk causal: rows that see no key; b = 2
    (1, 4, 7, 2, 1, 96, False, 3, 5),      # d = 96, GQA 2:1, several q-blocks
    (1, 9, 6, 1, 1, 64, True, 8, 2),       # a row tile that skips every block it visits
    (1, 1, 9, 1, 1, 96, True, 1, 5),       # the short kernel of the Icarus regression
]


@cocotb.test()
async def shapes(dut):
    await run_shapes(dut)


async def run_shapes(dut):
    """The body of ``shapes`` (``$ATTENTION_SHAPES``: indices into :data:`SHAPES`)."""
    latency = int(np.random.default_rng(cocotb.RANDOM_SEED + 1).integers(0, 12))
    bench = await CoreBench.started(dut, stall=0.2, axi_stall=0.2, read_latency=latency)
    rng = bench.rng
    only = os.environ.get("ATTENTION_SHAPES")
    shapes_ = [SHAPES[int(i)] for i in only.split(",")] if only else SHAPES
    jobs, base = [], 0x1F2
    for b, sq, sk, hq, hkv, d, causal, bq, bk in shapes_:
        q, k, v = random_qkv(rng, b, sq, sk, hq, hkv, d)
        job = AttentionJob(q, k, v, causal=causal, block_q=bq, block_k=bk)
        base = job.place(rng, base) + 0x40
        job.load(bench.memory)
        jobs.append(job)
    dut._log.info("seed %d, read latency %d: %d kernels", cocotb.RANDOM_SEED, latency, len(jobs))
    records = await bench.run(jobs, timeout_cycles=400_000 * len(jobs))
    for index, (job, record) in enumerate(zip(jobs, records)):
        check_job(bench, job, record, index=index)


@cocotb.test()
async def errors(dut):
    bench = await CoreBench.started(dut, stall=0.3, axi_stall=0.0, read_latency=0)
    rng = bench.rng
    # the good kernel: two row tiles of one key block, so its S and P V jobs chain (the P V
    # jobs have 1 and 2 chunks: the chain breaks into a new group)
    q, k, v = random_qkv(rng, 1, 4, 5, 1, 1, 32)
    good = AttentionJob(q, k, v, causal=True, block_q=4, block_k=8)
    good.place(rng, 0x100)
    good.load(bench.memory)
    inf = 0x7F800000
    cases = {"shape": ({"sk": 0}, AttentionError.SHAPE),
             "heads": ({"hq": 3, "hkv": 2}, AttentionError.HEADS),
             "head_dim": ({"d": 8}, AttentionError.HEAD_DIM),
             "block": ({"block_k": 0}, AttentionError.BLOCK),
             "memory": ({"block_k": 2048, "sk": 4096}, AttentionError.MEMORY),
             "scale": ({"scale": inf}, AttentionError.SCALE),
             "two": ({"b": 0, "d": 8}, AttentionError.SHAPE | AttentionError.HEAD_DIM)}
    config = resolve(bench.design["preset"])[1]
    jobs = []
    for extra, _ in cases.values():
        job = AttentionJob(q, k, v, causal=True, block_q=4, block_k=8, extra=extra)
        job.q_addr, job.k_addr, job.v_addr, job.o_addr = (good.q_addr, good.k_addr,
                                                          good.v_addr, good.o_addr)
        jobs.append(job)
    records = await bench.run(jobs + [good], timeout_cycles=200_000)
    for (name, (_, code)), record in zip(cases.items(), records):
        assert record["error"] == code.value, f"{name}: error code {record['error']}"
        reference = core_errors(config, **jobs[list(cases).index(name)].fields())
        assert record["error"] == reference.value, f"{name}: reference verdict {reference}"
        assert record["write_bytes"] == 0 and record["read_bytes"] == 0, \
            f"{name}: a rejected descriptor moved data"
    check_job(bench, good, records[-1], index=len(cases))


@cocotb.test()
async def reset(dut):
    """Reset in the middle of a kernel; the next kernel is correct (and counted from 0)."""
    bench = await CoreBench.started(dut, stall=0.1, axi_stall=0.1, read_latency=3)
    rng = bench.rng
    q, k, v = random_qkv(rng, 1, 6, 12, 2, 1, 64)
    first = AttentionJob(q, k, v, causal=False, block_q=4, block_k=8)
    end = first.place(rng, 0x40)
    first.load(bench.memory)
    bench.desc.send([first.descriptor(bench.desc_fields)])
    cut = int(rng.integers(30, 600))
    dut._log.info("seed %d: reset %d cycles into the kernel", cocotb.RANDOM_SEED, cut)
    await bench.harness.reset_during(bench.desc, cut)
    assert not bench.done.beats, "the interrupted kernel completed before the reset"
    q, k, v = random_qkv(rng, 1, 2, 7, 1, 1, 32)
    second = AttentionJob(q, k, v, causal=True, block_q=2, block_k=4)
    second.place(rng, end + 0x100)
    second.load(bench.memory)
    bench.desc.accepted.clear()
    bench.write_responses.clear()
    records = await bench.run([second], timeout_cycles=200_000)
    check_job(bench, second, records[0], index=0)


@cocotb.test()
async def bench(dut):
    """``hybridgen bench attention``: dense tensors, no stalls, fixed read latency."""
    design = load_design()
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    with np.load(os.environ["HYBRIDGEN_BENCH_INPUTS"]) as npz:
        q, k, v = npz["q"], npz["k"], npz["v"]
    params = json.loads(os.environ["ATTENTION_PARAMS"])
    job = AttentionJob(q, k, v, causal=params["causal"], scale=params["scale"],
                       block_q=params["block_q"], block_k=params["block_k"])
    end = job.place(rng, 0x1000, dense=True)
    latency = int(os.environ.get("ATTENTION_READ_LATENCY", "100"))
    size = 1 << max(20, int(end + 4096).bit_length())
    bench_ = CoreBench(dut, design, rng, stall=0.0, axi_stall=0.0, read_latency=latency,
                       memory_bytes=size)
    await bench_.start()
    job.load(bench_.memory)
    record = (await bench_.run([job], timeout_cycles=int(os.environ.get(
        "ATTENTION_TIMEOUT", "50000000"))))[0]
    o, guard_ok = job.result(bench_.memory)
    measured = {**record, "tb_cycles": bench_.measured_cycles(0), "guard_ok": bool(guard_ok),
                "read_latency": latency, "bus_bytes_read": bench_.memory.bytes_read,
                "bus_bytes_written": bench_.memory.bytes_written}
    measured["counter_cycles"], measured["cycles"] = record["cycles"], measured["tb_cycles"]
    np.savez(os.environ["HYBRIDGEN_BENCH_OUTPUTS"], o=o, measured=np.array(json.dumps(measured)))
