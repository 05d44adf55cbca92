"""cocotb testbench of the row DMA on its own (:class:`hybridgen.verif.mem.dma.DmaPair`).

The AXI4 port ``m_axi`` is answered by :class:`hybridgen.verif.axi.AxiMemory` (cocotbext-axi's
AxiRam, protocol checker on every channel); the streams ``req``, ``o`` and ``i`` go through
:class:`hybridgen.verif.stream.StreamHarness` (stream protocol checkers on all three).

Tests:

``traffic``  random read rows and random write rows at the same time, on one port: any byte
             address and length, 2D sequences of rows (a base, a stride, a count), rows that
             cross 4 KB boundaries and rows longer than a 256-beat burst, every chunk kind;
             random stalls on all three streams and on every AXI channel, extra read latency.
             Every chunk must equal :func:`~hybridgen.verif.mem.dma.row_chunks` bit for bit
             (its low ``chunk_bytes[kind]`` bytes, ``kind`` and ``last``); after the last
             expected chunk the sink keeps ``ready`` high for ``2 x latency + 16`` cycles and
             any further chunk fails. The whole memory must equal the model after the writes
             (so every byte around a written row, and everything the reads touched, is
             unchanged). Bursts and beats counted by the checker must equal
             :func:`~hybridgen.verif.mem.dma.row_bursts`, bursts in flight must stay within
             ``outstanding``, ``read_bytes``/``written_bytes`` must equal the rows' bytes, and
             ``clear`` must zero them.
``bench``    the throughput measurement of ``python -m hybridgen.bench.dma``: ``$BENCH_KBYTES``
             KiB read as rows of ``$BENCH_ROW_BYTES`` from ``$BENCH_OFFSET``, fixed read latency
             ``$BENCH_LATENCY``, no stalls anywhere; checks every chunk and writes the figures
             as JSON to ``$BENCH_OUT``.

Environment of ``traffic``: ``ROWS`` (read rows, default 160), ``WRITES`` (write rows, default
60), ``STALL`` (stream and AXI stall probability, default 0.3), ``READ_LATENCY`` (default 6).
"""

import json
import os

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.rtl.mem.axi import BOUNDARY_BYTES, MAX_BURST_BEATS
from hybridgen.verif.axi import AxiMemory
from hybridgen.verif.mem.dma import row_bursts, row_chunks
from hybridgen.verif.stream import StreamHarness, load_design

MEMORY_BYTES = 1 << 18
#: Reads come from the low half of the memory, writes go to the high half.
WRITE_BASE = MEMORY_BYTES // 2
COUNTER_MASK = (1 << 32) - 1


def _fields(design, name):
    for port in design["ports"]:
        if port["name"] == name:
            return {f["name"]: (f["offset"], f["width"]) for f in port["fields"]}
    raise KeyError(name)


def _pack(fields, **values):
    word = 0
    for name, value in values.items():
        offset, width = fields[name]
        assert 0 <= value < 1 << width, f"{name}={value} does not fit {width} bits"
        word |= value << offset
    return word


def _get(fields, word, name):
    offset, width = fields[name]
    return (word >> offset) & ((1 << width) - 1)


class DmaBench:
    """Streams, AXI memory (filled with random bytes) and an R-beat monitor of a DmaPair."""

    def __init__(self, dut, rng, *, stall, axi_stall, read_latency):
        self.dut, self.rng = dut, rng
        design = load_design()
        self.params = design["dma"]
        self.bus = self.params["bus_bytes"]
        self.chunk_bytes = self.params["chunk_bytes"]
        self.width = max(self.chunk_bytes)
        self.read_latency = read_latency
        self.req_fields = _fields(design, "req__payload")
        self.o_fields = _fields(design, "o__payload")
        self.i_fields = _fields(design, "i__payload")
        self.harness = StreamHarness(dut, rng)
        self.req = self.harness.source("req", stall=stall)
        self.o = self.harness.sink("o", stall=stall)
        self.i = self.harness.source("i", stall=stall)
        self.memory = AxiMemory(dut, "m_axi", size=MEMORY_BYTES, latency_stall=axi_stall,
                                read_latency=read_latency,
                                read_depth=max(8, self.params["outstanding"]), rng=rng)
        self.model = bytearray(rng.integers(0, 256, MEMORY_BYTES, dtype=np.uint8).tobytes())
        self.memory.write(0, self.model)
        self.r_beats = []  # cycle of every accepted R beat
        self.expected = []  # (row index, chunk index, data, kind, last) per chunk
        self.rows = []

    async def start(self):
        self.dut.clear.value = 0
        await self.harness.start()
        cocotb.start_soon(self._watch_r())

    async def _watch_r(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.m_axi__rvalid.value == 1 and dut.m_axi__rready.value == 1:
                self.r_beats.append(self.harness.cycle)

    def read(self, rows):
        """Queue read rows ``[(addr, nbytes, kind)]`` and their expected chunks."""
        for addr, nbytes, kind in rows:
            index = len(self.rows)
            self.rows.append((addr, nbytes, kind))
            chunks = row_chunks(self.model, addr, nbytes, self.chunk_bytes[kind])
            for number, chunk in enumerate(chunks):
                self.expected.append((index, number, chunk, kind, number == len(chunks) - 1))
            self.req.send([_pack(self.req_fields, addr=addr, nbytes=nbytes, kind=kind)])

    def write(self, rows):
        """Queue write rows ``[(addr, data bytes)]``; the model takes them at once."""
        row_bytes = self.params["row_bytes"]
        for addr, payload in rows:
            assert 1 <= len(payload) <= row_bytes
            padding = self.rng.integers(0, 256, row_bytes - len(payload), dtype=np.uint8)
            word = int.from_bytes(bytes(payload) + padding.tobytes(), "little")
            self.i.send([_pack(self.i_fields, addr=addr, nbytes=len(payload), data=word)])
            self.model[addr:addr + len(payload)] = payload

    async def finish(self, *, timeout_cycles, writes=True):
        """Wait for every expected chunk (and the writes to complete), then keep ``ready``
        high for ``2 x latency + 16`` cycles and fail on any chunk beyond the expected ones."""
        count = len(self.expected)
        dut = self.dut

        def done():
            return (len(self.o.beats) >= count
                    and (not writes or (self.i.idle and dut.idle.value == 1)))
        try:
            await self.harness.wait_until(done, timeout_cycles=timeout_cycles)
        except AssertionError as err:
            raise AssertionError(f"{err}: {len(self.o.beats)} of {count} chunks, write source "
                                 f"idle {self.i.idle}, DMA idle {dut.idle.value}") from None
        # ready high for 2 x latency + 16 cycles; any chunk beyond the expected ones fails
        await self.harness.drain({self.o: count}, latency=self.read_latency + 2)
        self.memory.check()

    def check_chunks(self):
        """Every chunk equals the model (low chunk_bytes[kind] bytes, kind, last)."""
        for beat, (row, number, chunk, kind, last) in zip(self.o.beats, self.expected):
            addr, nbytes, _ = self.rows[row]
            where = f"row {row} (addr {addr:#x}, {nbytes} bytes, kind {kind}) chunk {number}"
            got_kind, got_last = _get(self.o_fields, beat, "kind"), _get(self.o_fields, beat, "last")
            data = _get(self.o_fields, beat, "data").to_bytes(self.width, "little")[:len(chunk)]
            assert (got_kind, got_last) == (kind, int(last)), (
                f"{where}: kind/last {got_kind}/{got_last}, expected {kind}/{int(last)}")
            if data != chunk:
                bad = [j for j in range(len(chunk)) if data[j] != chunk[j]]
                raise AssertionError(f"{where}: {len(bad)} wrong byte(s), first at {bad[0]}: "
                                     f"got {data.hex()}, expected {chunk.hex()}")


def _read_rows(rng, count, bus, chunk_bytes):
    """``count`` random read rows in ``[0, WRITE_BASE)``: single rows of short, medium, 4 KB
    crossing and long lengths, and 2D sequences (base, stride, count)."""
    width = max(chunk_bytes)
    rows = []
    while len(rows) < count:
        kind = int(rng.integers(0, len(chunk_bytes)))
        pick = rng.random()
        if pick < 0.3:
            nbytes = int(rng.integers(1, 2 * bus + 4))
        elif pick < 0.55:
            nbytes = int(rng.integers(1, 4 * width + 2))
        elif pick < 0.65:
            nbytes = int(rng.integers(1, max(5000, 2 * MAX_BURST_BEATS * bus // 3)))
        else:
            nbytes = int(rng.integers(2, 3 * bus + 2 * width))
        if pick >= 0.8:  # a 2D sequence of rows
            repeat = int(rng.integers(2, 6))
            stride = int(rng.integers(1, nbytes + 4 * bus))
        else:
            repeat, stride = 1, 0
        span = stride * (repeat - 1) + nbytes
        if 0.65 <= pick < 0.8:  # starts just below a 4 KB boundary
            boundary = int(rng.integers(1, WRITE_BASE // BOUNDARY_BYTES)) * BOUNDARY_BYTES
            base = boundary - int(rng.integers(1, nbytes))
        else:
            base = int(rng.integers(0, WRITE_BASE - span))
        base = min(max(base, 0), WRITE_BASE - span)
        rows += [(base + j * stride, nbytes, kind) for j in range(repeat)]
    return rows[:count]


def _write_rows(rng, count, bus, row_bytes):
    """``count`` disjoint write rows in ``[WRITE_BASE, MEMORY_BYTES)`` with random guard gaps
    (at least one byte) between them; some start just below a 4 KB boundary."""
    rows = []
    cursor = WRITE_BASE + int(rng.integers(1, 2 * bus))
    for _ in range(count):
        pick = rng.random()
        nbytes = (row_bytes if pick < 0.15 else 1 if pick < 0.25
                  else int(rng.integers(1, row_bytes + 1)))
        if rng.random() < 0.2:
            boundary = (cursor // BOUNDARY_BYTES + 1) * BOUNDARY_BYTES
            cursor = max(cursor, boundary - int(rng.integers(1, nbytes + 1)))
        payload = rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()
        rows.append((cursor, payload))
        cursor += nbytes + int(rng.integers(1, 2 * bus + 2))
    assert cursor < MEMORY_BYTES, "write rows do not fit the memory"
    return rows


@cocotb.test()
async def traffic(dut):
    """Random reads and writes at once under stalls: chunks, memory, bursts, counters exact."""
    seed = cocotb.RANDOM_SEED
    dut._log.info("cocotb.RANDOM_SEED %d (derived from the run's SEED)", seed)
    rng = np.random.default_rng(seed)
    stall = float(os.environ.get("STALL", "0.3"))
    bench = DmaBench(dut, rng, stall=stall, axi_stall=stall,
                     read_latency=int(os.environ.get("READ_LATENCY", "6")))
    bus, params = bench.bus, bench.params
    reads = _read_rows(rng, int(os.environ.get("ROWS", "160")), bus, bench.chunk_bytes)
    writes = _write_rows(rng, int(os.environ.get("WRITES", "60")), bus, params["row_bytes"])
    await bench.start()
    assert dut.read_bytes.value == 0 and dut.written_bytes.value == 0, "counters not reset"
    bench.read(reads)
    bench.write(writes)
    beats = sum(beats for a, n, _ in reads for _, beats in row_bursts(a, n, bus))
    await bench.finish(timeout_cycles=10 * (beats + len(bench.expected) + 4 * len(writes)) + 2000)
    bench.check_chunks()
    assert bench.memory.read(0, MEMORY_BYTES) == bytes(bench.model), (
        "memory differs from the model: " + _first_difference(bench))

    stats = bench.memory.checker.stats()
    dut._log.info("%d read rows (%d chunks), %d write rows in %d cycles; checker %s",
                  len(reads), len(bench.expected), len(writes), bench.harness.cycle, stats)
    read_bursts = [b for a, n, _ in reads for b in row_bursts(a, n, bus)]
    write_bursts = [b for a, d in writes for b in row_bursts(a, len(d), bus)]
    want = dict(read_bursts=len(read_bursts), read_beats=sum(b for _, b in read_bursts),
                write_bursts=len(write_bursts), write_beats=sum(b for _, b in write_bursts))
    assert {key: stats[key] for key in want} == want, f"checker counted {stats}, model {want}"
    assert len(bench.r_beats) == want["read_beats"]
    outstanding = params["outstanding"]
    for key in ("max_outstanding_reads", "max_outstanding_writes"):
        assert stats[key] <= outstanding, f"{key} {stats[key]} > outstanding {outstanding}"
        if outstanding > 1:
            assert stats[key] >= 2, f"{key} {stats[key]}: bursts never overlapped"
    assert int(dut.read_bytes.value) == sum(n for _, n, _ in reads) & COUNTER_MASK
    assert int(dut.written_bytes.value) == sum(len(d) for _, d in writes) & COUNTER_MASK
    dut.clear.value = 1
    await RisingEdge(dut.clk)
    dut.clear.value = 0
    await RisingEdge(dut.clk)
    assert dut.read_bytes.value == 0 and dut.written_bytes.value == 0, "clear did not clear"


def _first_difference(bench):
    got = bench.memory.read(0, MEMORY_BYTES)
    for addr, (a, b) in enumerate(zip(got, bench.model)):
        if a != b:
            return f"first at {addr:#x}: memory {a:#04x}, model {b:#04x}"
    return "none"


@cocotb.test()
async def bench(dut):
    """Throughput of a long read at a fixed latency, no stalls (python -m hybridgen.bench.dma)."""
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    latency = int(os.environ.get("BENCH_LATENCY", "128"))
    total = int(os.environ.get("BENCH_KBYTES", "64")) * 1024
    row_bytes = int(os.environ.get("BENCH_ROW_BYTES", str(total)))
    offset = int(os.environ.get("BENCH_OFFSET", "0"))
    bench = DmaBench(dut, rng, stall=0.0, axi_stall=0.0, read_latency=latency)
    assert offset + total <= WRITE_BASE, "read does not fit the memory"
    # chunks of a bus width if there is such a kind (one chunk per beat), else the widest
    kind = bench.chunk_bytes.index(bench.bus if bench.bus in bench.chunk_bytes else bench.width)
    rows = [(offset + start, min(row_bytes, total - start), kind)
            for start in range(0, total, row_bytes)]
    await bench.start()
    bench.read(rows)
    await bench.finish(timeout_cycles=20 * total // bench.bus + 10 * latency + 1000,
                       writes=False)
    bench.check_chunks()
    first_request = bench.req.accepted[0]
    first_beat, last_beat = bench.r_beats[0], bench.r_beats[-1]
    last_chunk = bench.o.cycles[-1]
    beats = len(bench.r_beats)
    cycles = last_chunk - first_beat + 1
    stats = bench.memory.checker.stats()
    result = {
        "beats": beats, "chunk_bytes": bench.chunk_bytes[kind], "cycles": cycles, "beats_per_cycle": round(beats / cycles, 4),
        "bytes": total, "rows": len(rows), "row_bytes": row_bytes, "offset": offset,
        "bus_bits": 8 * bench.bus, "latency": latency,
        "outstanding": bench.params["outstanding"],
        "max_outstanding_reads": stats["max_outstanding_reads"],
        "read_bursts": stats["read_bursts"], "chunks": len(bench.o.beats),
        "first_beat_after_request": first_beat - first_request,
        "r_beat_span": last_beat - first_beat + 1,
        "total_cycles": last_chunk - first_request + 1,
        "correct": True,
    }
    dut._log.info("bench: %s", result)
    with open(os.environ["BENCH_OUT"], "w") as out:
        json.dump(result, out)
