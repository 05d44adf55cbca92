"""cocotb tests of the AXI4 kit (verif.axi) on ``axi_loop`` (``s_axi`` wired through to ``m_axi``).

* ``axi_roundtrip``: a cocotbext-axi master on ``s_axi`` writes and reads random byte ranges
  (aligned starts, any length; several operations in flight) through to an :class:`AxiMemory`
  on ``m_axi`` that stalls every channel at random and adds read latency. Every read must
  return what a Python model of the memory holds, the checker must see no violation, and its
  burst/beat/byte counters must equal the ones computed from the operations.
* ``axi_checker_catches_violations``: ``s_axi`` and the slave side of ``m_axi`` are driven by
  hand, cycle by cycle. A legal write and read must pass with exact statistics; each illegal
  scenario (4 KB crossing, WLAST on the wrong beat, dropped valid, ...) must make ``check()``
  raise :class:`AxiProtocolError` with the expected message.
* ``axi_memory_fails_fast``: an illegal request reaching an :class:`AxiMemory` fails the running
  test at once with :class:`AxiProtocolError` (cocotb expects that error).

Environment: ``ROUNDS`` (default 10), ``STALL`` (default 0.3), ``READ_LATENCY`` (default 4).
"""

import os
from collections import deque

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout

from hybridgen.verif.axi import AxiChecker, AxiMemory, AxiProtocolError, axi_bus

DATA_BYTES = 8
MEMORY_SIZE = 1 << 16
MAX_BURST_BEATS = 256


async def _reset(dut, cycles=4):
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)


def _bursts(addr, nbytes):
    """Bursts of an aligned-start transfer split at 4 KB boundaries and every 256 beats."""
    end = addr + nbytes
    count = 0
    while addr < end:
        addr = min(end, addr + MAX_BURST_BEATS * DATA_BYTES, (addr // 4096 + 1) * 4096)
        count += 1
    return count


def _pick_ranges(rng, count, max_len):
    """``count`` disjoint (aligned address, length) ranges inside the memory."""
    ranges = []
    while len(ranges) < count:
        length = int(rng.integers(1, max_len + 1))
        addr = int(rng.integers(0, (MEMORY_SIZE - length) // DATA_BYTES)) * DATA_BYTES
        if all(addr + length <= a or a + n <= addr for a, n in ranges):
            ranges.append((addr, length))
    return ranges


async def _watch_read_latency(dut, latencies):
    """Append, per read burst on ``m_axi``, the cycles from AR handshake to first ``rvalid``."""
    requests = deque()
    cycle = 0
    waiting = True  # the next rvalid is the first beat of a burst
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        cycle += 1
        if str(dut.m_axi__rvalid.value) == "1":
            if waiting:
                latencies.append(cycle - requests[0])
                waiting = False
            if str(dut.m_axi__rready.value) == "1" and str(dut.m_axi__rlast.value) == "1":
                requests.popleft()
                waiting = True
        if str(dut.m_axi__arvalid.value) == "1" and str(dut.m_axi__arready.value) == "1":
            requests.append(cycle)


@cocotb.test()
async def axi_roundtrip(dut):
    """Random writes and reads through the loop: data, checker and counters all agree."""
    from cocotbext.axi import AxiMaster

    seed = cocotb.RANDOM_SEED
    dut._log.info("cocotb.RANDOM_SEED %d (derived from the run's SEED)", seed)
    rng = np.random.default_rng(seed)
    rounds = int(os.environ.get("ROUNDS", "10"))
    stall = float(os.environ.get("STALL", "0.3"))
    latency = int(os.environ.get("READ_LATENCY", "4"))
    assert len(dut.m_axi__wdata) == 8 * DATA_BYTES

    master = AxiMaster(axi_bus(dut, "s_axi"), dut.clk, dut.rst)
    for log in (master.write_if.log, master.read_if.log):
        log.setLevel("WARNING")
    memory = AxiMemory(dut, "m_axi", MEMORY_SIZE, latency_stall=stall, read_latency=latency,
                       rng=rng)
    checker = memory.checker
    assert memory.data_bytes == checker.data_bytes == DATA_BYTES
    model = bytearray(rng.integers(0, 256, MEMORY_SIZE, dtype=np.uint8).tobytes())
    memory.write(0, model)
    await _reset(dut)
    latencies = []
    cocotb.start_soon(_watch_read_latency(dut, latencies))

    expected = dict(bytes_written=0, bytes_read=0, write_bursts=0, read_bursts=0)
    for _ in range(rounds):
        # Several writes in flight at once, to disjoint ranges (so their order does not matter).
        writes = []
        for addr, length in _pick_ranges(rng, int(rng.integers(1, 5)), 2600):
            data = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
            writes.append((addr, data, cocotb.start_soon(master.write(addr, data))))
        for addr, data, task in writes:
            await with_timeout(task, 1, "ms")
            model[addr:addr + len(data)] = data
            expected["bytes_written"] += -(-len(data) // DATA_BYTES) * DATA_BYTES
            expected["write_bursts"] += _bursts(addr, len(data))
        # Several reads in flight at once, anywhere.
        reads = []
        for _ in range(int(rng.integers(1, 5))):
            length = int(rng.integers(1, 2600))
            addr = int(rng.integers(0, (MEMORY_SIZE - length) // DATA_BYTES)) * DATA_BYTES
            reads.append((addr, length, cocotb.start_soon(master.read(addr, length))))
        for addr, length, task in reads:
            response = await with_timeout(task, 1, "ms")
            assert response.data == bytes(model[addr:addr + length]), (
                f"read of {length} bytes at {addr:#x} returned wrong data")
            expected["bytes_read"] += -(-length // DATA_BYTES) * DATA_BYTES
            expected["read_bursts"] += _bursts(addr, length)
        checker.check()

    for _ in range(100):
        if checker.idle:
            break
        await RisingEdge(dut.clk)
    checker.check()
    assert checker.idle, "transactions still in flight after every operation completed"
    stats = checker.stats()
    dut._log.info("checker statistics: %s", stats)
    for name, value in expected.items():
        assert stats[name] == value, f"{name}: checker counted {stats[name]}, expected {value}"
    assert memory.bytes_written == expected["bytes_written"]
    assert memory.bytes_read == expected["bytes_read"]
    assert stats["write_beats"] * DATA_BYTES == stats["bytes_written"]
    assert stats["read_beats"] * DATA_BYTES == stats["bytes_read"]
    assert stats["max_outstanding_reads"] >= 2, "reads never overlapped: latency not pipelined"
    assert stats["max_outstanding_writes"] >= 2, "writes never overlapped"
    assert memory.read(0, MEMORY_SIZE) == bytes(model), "memory contents differ from the model"
    assert len(latencies) == stats["read_bursts"]
    dut._log.info("read latency (AR handshake to first rvalid): min %d, max %d cycles",
                  min(latencies), max(latencies))
    assert min(latencies) > latency, f"a read came back before read_latency={latency} cycles"


# -- hand-driven protocol scenarios ----------------------------------------------------------

_MASTER_OUT = ("awaddr", "awlen", "awsize", "awburst", "awvalid", "wdata", "wstrb", "wlast",
               "wvalid", "bready", "araddr", "arlen", "arsize", "arburst", "arvalid", "rready")
_SLAVE_OUT = ("awready", "wready", "bresp", "bvalid", "arready", "rdata", "rresp", "rlast",
              "rvalid")


def _s(**signals):
    """Master-side drives (inputs of the ``s_axi`` port, seen on ``m_axi``)."""
    return {f"s_axi__{name}": value for name, value in signals.items()}


def _m(**signals):
    """Slave-side drives (inputs of the ``m_axi`` port)."""
    return {f"m_axi__{name}": value for name, value in signals.items()}


def _idle(dut):
    for name in _MASTER_OUT:
        getattr(dut, f"s_axi__{name}").value = 0
    for name in _SLAVE_OUT:
        getattr(dut, f"m_axi__{name}").value = 0


def _ar(addr, length, size=3, burst=1):
    return _s(arvalid=1, araddr=addr, arlen=length, arsize=size, arburst=burst)


def _aw(addr, length, size=3, burst=1):
    return _s(awvalid=1, awaddr=addr, awlen=length, awsize=size, awburst=burst)


def _w(data, last):
    return _s(wvalid=1, wdata=data, wstrb=0xFF, wlast=last)


async def _play(dut, steps, expect):
    """Apply one dict of drives per cycle with a fresh checker; check its verdict.

    ``expect`` is None (no violation allowed) or a text the violation's message must contain.
    Returns the checker.
    """
    _idle(dut)
    await RisingEdge(dut.clk)
    checker = AxiChecker(dut, "m_axi")
    checker.start()
    for step in steps:
        await RisingEdge(dut.clk)
        for name, value in step.items():
            getattr(dut, name).value = value
    await RisingEdge(dut.clk)
    _idle(dut)
    await ClockCycles(dut.clk, 2)
    checker.stop()
    if expect is None:
        checker.check()
        return checker
    try:
        checker.check()
    except AxiProtocolError as err:
        assert expect in str(err), f"expected a violation about {expect!r}, got: {err}"
        dut._log.info("caught as expected: %s", err)
        return checker
    raise AssertionError(f"checker missed a violation ({expect!r})")


@cocotb.test()
async def axi_checker_catches_violations(dut):
    """Hand-driven legal traffic passes with exact statistics; each violation is caught."""
    dut._log.info("cocotb.RANDOM_SEED %d (unused: this test is deterministic)",
                  cocotb.RANDOM_SEED)
    _idle(dut)
    await _reset(dut)

    legal = [
        {**_aw(0x1000, 1), **_m(awready=1), **_w(0x1111, 0), **_m(wready=1)},
        {**_s(awvalid=0), **_w(0x2222, 1)},
        {**_s(wvalid=0, bready=1), **_m(bvalid=1, bresp=0)},
        {**_m(bvalid=0), **_ar(0x2000, 1), **_m(arready=1)},
        {**_s(arvalid=0, rready=1), **_m(rvalid=1, rdata=0x3333, rresp=0, rlast=0)},
        {**_m(rdata=0x4444, rlast=1)},
        {**_m(rvalid=0)},
    ]
    checker = await _play(dut, legal, None)
    stats = checker.stats()
    want = dict(write_bursts=1, write_beats=2, bytes_written=16, read_bursts=1, read_beats=2,
                bytes_read=16, max_outstanding_reads=1, max_outstanding_writes=1)
    assert {k: stats[k] for k in want} == want, f"statistics {stats}"
    assert checker.idle

    # AR burst 0xfc0 + 16 beats x 8 bytes = 0x1040 crosses 0x1000.
    await _play(dut, [{**_ar(0x0FC0, 15), **_m(arready=1)}], "4 KB")
    await _play(dut, [{**_aw(0x1FF8, 1), **_m(awready=0)}], "4 KB")
    # WLAST on beat 1 of a 4-beat burst.
    await _play(dut, [{**_aw(0x100, 3), **_m(awready=1), **_w(1, 0), **_m(wready=1)},
                      {**_s(awvalid=0), **_w(2, 1)}], "WLAST on beat 1, expected on beat 3")
    # No WLAST on beat 1 of a 2-beat burst.
    await _play(dut, [{**_aw(0x100, 1), **_m(awready=1), **_w(1, 0), **_m(wready=1)},
                      {**_s(awvalid=0), **_w(2, 0)}, {**_w(3, 0)}], "no WLAST on beat 1")
    # Write data before its address: a 2-beat W burst for a 4-beat AW.
    await _play(dut, [{**_w(1, 0), **_m(wready=1)}, {**_w(2, 1)},
                      {**_s(wvalid=0), **_aw(0x200, 3), **_m(awready=1)}],
                "WLAST on beat 1, expected on beat 3")
    # Valid withdrawn before ready.
    await _play(dut, [{**_ar(0x100, 0)}, {**_s(arvalid=0)}], "AR: valid dropped")
    await _play(dut, [{**_w(5, 1)}, {**_s(wvalid=0)}], "W: valid dropped")
    # Payload changed while waiting for ready.
    await _play(dut, [{**_aw(0x100, 0)}, {**_s(awaddr=0x108)}], "AW: payload changed")
    # Requests the project rules forbid.
    await _play(dut, [{**_ar(0x104, 0), **_m(arready=1)}], "not aligned")
    await _play(dut, [{**_ar(0x100, 0, size=2), **_m(arready=1)}], "size 2")
    await _play(dut, [{**_aw(0x100, 0, burst=0), **_m(awready=1)}], "only INCR")
    # Slave-side errors: data with nothing requested, response before the write data.
    await _play(dut, [{**_s(rready=1), **_m(rvalid=1, rlast=1)}], "no read outstanding")
    await _play(dut, [{**_aw(0x100, 0), **_m(awready=1)},
                      {**_s(awvalid=0, bready=1), **_m(bvalid=1)}], "B: response before")
    await _play(dut, [{**_ar(0x100, 1), **_m(arready=1)},
                      {**_s(arvalid=0, rready=1), **_m(rvalid=1, rlast=1)}],
                "RLAST on beat 0, expected on beat 1")


@cocotb.test(expect_error=AxiProtocolError)
async def axi_memory_fails_fast(dut):
    """An illegal request to an AxiMemory fails the test at once with AxiProtocolError.

    (Not with the bare AssertionError the RAM model would raise a cycle later.)
    """
    _idle(dut)
    AxiMemory(dut, "m_axi", MEMORY_SIZE)
    await _reset(dut)
    await RisingEdge(dut.clk)
    for name, value in _ar(0x0FF8, 1).items():  # 2 beats from 0xff8: crosses 0x1000
        getattr(dut, name).value = value
    await ClockCycles(dut.clk, 10)
