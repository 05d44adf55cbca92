"""Stream (valid/ready/payload) testbench parts shared by every cocotb testbench.

One :class:`StreamHarness` per test owns the clock loop. Every cycle it

1. waits for the rising edge and applies the drives chosen for this cycle
   (source ``valid``/``payload``, sink ``ready``),
2. waits for ``ReadOnly`` (everything settled) and samples every stream: a beat transfers at the
   next edge iff ``valid & ready`` now; it runs the protocol checker of every stream and lets
   the sources and sinks choose their next drives.

Sampling in the settled read-only phase makes the result independent of the simulator's
ordering of events at the clock edge (Icarus and Verilator agree).

* :class:`StreamSource` drives a DUT input stream from a queue of integer payloads, inserting
  random bubbles (``valid`` low) with probability ``stall``.
* :class:`StreamSink` accepts a DUT output stream, dropping ``ready`` at random with probability
  ``stall``, and records every beat with its cycle number.
* No extra beat goes unnoticed: :meth:`StreamHarness.collect` waits for the expected number of
  beats on every sink and then :meth:`StreamHarness.drain` keeps ``ready`` high on every sink
  for ``2 * latency + 16`` cycles (``latency``: the design's documented latency, or the
  testbench's known bound) and fails on any beat beyond the expected count.
* A protocol checker is attached to every stream the harness knows: once ``valid`` is high it
  must stay high until the beat is accepted, and the payload must not change while
  ``valid & ~ready``; ``valid`` must never be X/Z after reset. Violations fail the test.

Payloads are Python integers (the flat bit vector of the Verilog port); :func:`pack` and
:func:`unpack` convert between numpy arrays per field and those integers using the field layout
from the design's JSON sidecar.
"""

import json
import os
from collections import deque
from pathlib import Path

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

__all__ = ["StreamHarness", "StreamSource", "StreamSink", "ProtocolError", "ExtraBeat", "pack",
           "unpack", "load_design", "to_signed", "start_clock_and_reset", "drain_cycles"]


class ProtocolError(AssertionError):
    """A stream broke the valid/ready rules."""


class ExtraBeat(AssertionError):
    """A sink received more beats than the test expected."""


def drain_cycles(latency):
    """Cycles a sink stays ready after its last expected beat: ``2 * latency + 16``."""
    return 2 * int(latency) + 16


def load_design():
    """The JSON sidecar of the design under test (path in ``$HYBRIDGEN_DESIGN``)."""
    return json.loads(Path(os.environ["HYBRIDGEN_DESIGN"]).read_text())


def _port(design, name):
    for port in design["ports"]:
        if port["name"] == name:
            return port
    raise KeyError(f"design has no port {name!r}")


def pack(fields, **arrays):
    """Pack per-field integer arrays into flat payload integers.

    Parameters
    ----------
    fields : list of dict
        ``{"name", "offset", "width", "signed"}`` entries (a struct port in the sidecar).
    **arrays : array_like
        One array per field name, all the same length; signed values are taken modulo 2^width.
    """
    count = len(next(iter(arrays.values())))
    words = [0] * count
    for f in fields:
        mask = (1 << f["width"]) - 1
        values = np.asarray(arrays[f["name"]]).astype(np.int64) & mask
        shift = f["offset"]
        words = [w | (int(v) << shift) for w, v in zip(words, values.tolist())]
    return words


def to_signed(values, width):
    """Reinterpret unsigned ``width``-bit integers as two's-complement signed (int64 array)."""
    values = np.asarray(values, dtype=np.int64)
    return np.where(values >= (1 << (width - 1)), values - (1 << width), values)


def unpack(fields, words):
    """Inverse of :func:`pack`: ``{field name: int64 array}`` (signed fields sign-extended)."""
    words = list(words)
    result = {}
    for f in fields:
        mask = (1 << f["width"]) - 1
        values = np.array([(w >> f["offset"]) & mask for w in words], dtype=np.int64)
        result[f["name"]] = to_signed(values, f["width"]) if f["signed"] else values
    return result


def _settled_int(handle):
    """The value of ``handle`` as an unsigned integer, or None if any bit is X/Z/U/W/-.

    Parses the simulator's bit string at once: cocotb's per-bit ``is_resolvable`` builds one
    object per bit, which dominated the per-cycle cost of the 1,000-bit vector-unit payloads.
    """
    value = handle.value
    try:
        return int(str(value), 2)
    except ValueError:  # a bit that is not 0/1: L/H resolve, the others do not
        return value.to_unsigned() if value.is_resolvable else None


class _Driven:
    """A port the testbench drives: writes only when the value changes (a write costs more
    than the comparison, and the testbench is the port's only driver)."""

    __slots__ = ("_handle", "_value")

    def __init__(self, handle, value):
        self._handle = handle
        self._value = value
        handle.value = value

    def set(self, value):
        if value != self._value:
            self._handle.value = value
            self._value = value


class _Stream:
    """Handles of one stream port (``<name>__valid``, ``__ready``, ``__payload``)."""

    def __init__(self, dut, name):
        self.name = name
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        # Checker state: what was sampled in the previous cycle.
        self._pending = None  # payload of a beat offered but not accepted last cycle

    def sample(self, cycle):
        """Read valid/ready/payload in the settled phase; check the protocol; return them."""
        valid = _settled_int(self.valid)
        if valid is None:
            raise ProtocolError(f"{self.name}: valid is {self.valid.value} at cycle {cycle}")
        valid = bool(valid)
        ready = bool(_settled_int(self.ready))  # X/Z counts as not ready
        payload = _settled_int(self.payload) if valid else None
        if self._pending is not None:
            if not valid:
                raise ProtocolError(f"{self.name}: valid dropped before the beat was accepted "
                                    f"(cycle {cycle})")
            if payload != self._pending:
                raise ProtocolError(f"{self.name}: payload changed while valid and not ready "
                                    f"(cycle {cycle}: {self._pending:#x} -> {payload})")
        self._pending = payload if valid and not ready else None
        if valid and payload is None:
            raise ProtocolError(f"{self.name}: payload is X/Z while valid (cycle {cycle})")
        return valid, ready, payload


class StreamSource:
    """Drives DUT input stream ``name`` with queued payloads and random bubbles.

    Attributes
    ----------
    accepted : list of int
        Cycle number of every accepted beat, in order.
    """

    def __init__(self, stream, rng, stall):
        self._stream = stream
        self._rng = rng
        self._stall = stall
        self._queue = deque()
        self._current = None
        self.accepted = []
        self._valid = _Driven(stream.valid, 0)
        self._payload = None

    def send(self, payloads):
        """Queue payload integers to be sent in order."""
        self._queue.extend(payloads)

    @property
    def idle(self):
        return self._current is None and not self._queue

    def _drive(self):
        if self._current is None and self._queue and self._rng.random() >= self._stall:
            self._current = self._queue.popleft()
        if self._current is None:
            self._valid.set(0)
        else:
            self._valid.set(1)
            if self._payload is None:
                self._payload = _Driven(self._stream.payload, self._current)
            self._payload.set(self._current)

    def _observe(self, cycle, valid, ready, payload):
        if valid and ready:
            self.accepted.append(cycle)
            self._current = None


class StreamSink:
    """Accepts DUT output stream ``name`` with random back-pressure, recording every beat.

    Attributes
    ----------
    beats : list of int
        Payload of every accepted beat, in order.
    cycles : list of int
        Cycle number at which each beat was accepted.
    """

    def __init__(self, stream, rng, stall):
        self._stream = stream
        self._rng = rng
        self._stall = stall
        self._always_ready = False  # set while the harness drains
        self.beats = []
        self.cycles = []
        self._ready = _Driven(stream.ready, 0)

    @property
    def name(self):
        return self._stream.name

    def _drive(self):
        ready = self._rng.random() >= self._stall
        self._ready.set(int(ready or self._always_ready))

    def _extra(self, expected):
        """An :class:`ExtraBeat` if more than ``expected`` beats arrived, else None."""
        if len(self.beats) <= expected:
            return None
        return ExtraBeat(f"{self.name}: {len(self.beats) - expected} beat(s) after the "
                         f"{expected} expected; the first extra one at cycle "
                         f"{self.cycles[expected]}, payload {self.beats[expected]:#x}")

    def _observe(self, cycle, valid, ready, payload):
        if valid and ready:
            self.beats.append(payload)
            self.cycles.append(cycle)


async def start_clock_and_reset(dut, *, inputs=(), reset_cycles=4, period=10):
    """Start ``dut.clk`` (``period`` ns), drive the ports named in ``inputs`` to 0 and hold
    ``dut.rst`` for ``reset_cycles`` rising edges; returns with reset released."""
    cocotb.start_soon(Clock(dut.clk, period, unit="ns").start())
    dut.rst.value = 1
    for name in inputs:
        getattr(dut, name).value = 0
    for _ in range(reset_cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


class StreamHarness:
    """Clock, reset and the per-cycle loop that drives, samples and checks all streams.

    Parameters
    ----------
    dut :
        The cocotb handle of the top module (ports ``clk`` and ``rst``).
    rng : numpy.random.Generator
        Source of the random stalls (seed it from ``cocotb.RANDOM_SEED``).
    period_ns : int
        Clock period.

    ``cycle`` counts rising edges since :meth:`start` released reset.
    """

    def __init__(self, dut, rng, *, period_ns=10):
        self.dut = dut
        self.rng = rng
        self.cycle = 0
        self._period = period_ns
        self._streams = []
        self._agents = []
        self._task = None
        self._error = None

    def source(self, name, *, stall=0.0):
        """Attach a :class:`StreamSource` (with a protocol checker) to input stream ``name``."""
        stream = _Stream(self.dut, name)
        agent = StreamSource(stream, self.rng, stall)
        self._streams.append((stream, agent))
        return agent

    def sink(self, name, *, stall=0.0):
        """Attach a :class:`StreamSink` (with a protocol checker) to output stream ``name``."""
        stream = _Stream(self.dut, name)
        agent = StreamSink(stream, self.rng, stall)
        self._streams.append((stream, agent))
        return agent

    def monitor(self, name):
        """Attach only a protocol checker to stream ``name`` (driven by something else)."""
        self._streams.append((_Stream(self.dut, name), None))

    async def start(self, reset_cycles=4):
        """Start the clock, hold reset for ``reset_cycles`` and start the per-cycle loop."""
        await start_clock_and_reset(self.dut, reset_cycles=reset_cycles, period=self._period)
        self._task = cocotb.start_soon(self._loop())

    async def _loop(self):
        clk = self.dut.clk
        pairs = self._streams
        try:
            while True:
                await RisingEdge(clk)
                self.cycle += 1
                for _, agent in pairs:
                    if agent is not None:
                        agent._drive()
                await ReadOnly()
                for stream, agent in pairs:
                    valid, ready, payload = stream.sample(self.cycle)
                    if agent is not None:
                        agent._observe(self.cycle, valid, ready, payload)
        except ProtocolError as err:
            self._error = err
            raise

    def check(self):
        """Raise the first protocol violation seen, if any."""
        if self._error is not None:
            raise self._error

    def _sinks(self):
        return [agent for _, agent in self._streams if isinstance(agent, StreamSink)]

    async def collect(self, expected, *, latency, timeout_cycles):
        """Wait until every sink has its expected number of beats, then :meth:`drain`.

        Parameters
        ----------
        expected : dict
            ``{sink: total beats}`` for every sink of the harness (counts since the start).
        latency : int
            The design's documented latency (or the testbench's known bound) in cycles.
        timeout_cycles : int
            Fail if the beats have not all arrived after this many cycles.
        """
        await self.wait_until(lambda: all(len(sink.beats) >= count
                                          for sink, count in expected.items()),
                              timeout_cycles=timeout_cycles)
        await self.drain(expected, latency=latency)

    async def drain(self, expected, *, latency):
        """Keep ``ready`` high on every sink for :func:`drain_cycles` ``(latency)`` cycles;
        fail (:class:`ExtraBeat`) as soon as a sink holds more beats than ``expected[sink]``.

        ``expected`` must name every sink of the harness (a sink that should stay silent
        expects 0), so no output stream is left unchecked.
        """
        sinks = self._sinks()
        missing = [sink.name for sink in sinks if sink not in expected]
        if missing:
            raise ValueError(f"no expected beat count for sink(s) {', '.join(missing)}")
        for sink in sinks:
            sink._always_ready = True
        try:
            for step in range(drain_cycles(latency) + 1):
                self.check()
                for sink in sinks:
                    error = sink._extra(expected[sink])
                    if error is not None:
                        raise error
                if step < drain_cycles(latency):
                    await RisingEdge(self.dut.clk)
        finally:
            for sink in sinks:
                sink._always_ready = False

    async def reset_during(self, source, cycles, *, hold=3, timeout_cycles=1000):
        """Reset the DUT in the middle of a job: wait until ``source`` had a beat accepted (the
        job's descriptor), then ``cycles`` rising edges, then hold ``rst`` high for ``hold``
        edges and release it. The testbench then checks that the job did not complete and
        that the next one is correct."""
        await self.wait_until(lambda: bool(source.accepted), timeout_cycles=timeout_cycles)
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 1
        for _ in range(hold):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def wait_until(self, condition, *, timeout_cycles):
        """Wait (checking the protocol) until ``condition()`` holds; fail after the timeout."""
        deadline = self.cycle + timeout_cycles
        while not condition():
            self.check()
            if self.cycle >= deadline:
                raise AssertionError(f"timeout after {timeout_cycles} cycles")
            await RisingEdge(self.dut.clk)
        await RisingEdge(self.dut.clk)
        self.check()
