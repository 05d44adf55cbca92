"""AXI4 testbench parts: a memory model for a DUT's AXI4 master port and a protocol checker.

Port convention
---------------
The DUT's AXI4 port ``<prefix>`` has one Verilog port per signal, named ``<prefix>__<signal>``
(e.g. ``m_axi__awaddr``), with exactly these signals::

    aw: awaddr awlen[8] awsize[3] awburst[2] awvalid awready
    w:  wdata wstrb wlast wvalid wready
    b:  bresp[2] bvalid bready
    ar: araddr arlen[8] arsize[3] arburst[2] arvalid arready
    r:  rdata rresp[2] rlast rvalid rready

There are no ID, lock, cache, prot, QoS, region or user signals, so all transactions of a port
share one (implicit) ID and complete in order. The data width is taken from ``len(wdata)``, the
address width from ``len(awaddr)``. The clock is ``clk`` and the reset ``rst`` (synchronous,
active high) unless other handles are given.

Project rules (stricter than AXI4)
----------------------------------
Every burst must be INCR, full width (``size == log2(data bytes)``), start on a data-width
aligned address, have at most 256 beats and not cross a 4 KB boundary. :class:`AxiChecker`
rejects anything else.

* :func:`axi_bus` builds a cocotbext-axi :class:`~cocotbext.axi.AxiBus` for such a port (it
  stands in zero-width IDs for the missing ID signals, which cocotbext-axi requires).
* :class:`AxiMemory` answers the DUT's bursts from a byte array (cocotbext-axi
  :class:`~cocotbext.axi.AxiRam`), with random per-channel stalls and an optional extra read
  latency; the testbench fills and inspects it without consuming simulation time.
* :class:`AxiChecker` samples every channel once per clock cycle and records the first protocol
  violation as an :class:`AxiProtocolError`; it also counts bursts, beats, bytes and the
  outstanding transactions.
"""

import itertools
import logging
from collections import deque

import numpy as np

import cocotb
from cocotb.queue import Queue
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb.types import LogicArray

__all__ = ["AxiProtocolError", "AxiChecker", "AxiMemory", "axi_bus"]

_BURST_INCR = 1
_ID_SIGNALS = (("write", "aw", "awid"), ("write", "b", "bid"),
               ("read", "ar", "arid"), ("read", "r", "rid"))


class AxiProtocolError(AssertionError):
    """An AXI4 port broke the handshake rules or the project's burst rules."""


class _AbsentId:
    """A zero-width, constant-zero stand-in for an ID signal the port does not have.

    cocotbext-axi needs ``awid``/``bid``/``arid``/``rid`` handles; with zero width its master
    uses a single ID (in-order completion) and its slave answers with ID 0.
    """

    _name = "absent_id"

    def __len__(self):
        return 0

    @property
    def value(self):
        return LogicArray("")

    @value.setter
    def value(self, _):
        pass

    def setimmediatevalue(self, _):
        pass


def axi_bus(dut, prefix="m_axi"):
    """A cocotbext-axi ``AxiBus`` on the port whose signals are ``<prefix>__<signal>``.

    Works for either side of a port: pass it to ``AxiRam``/``AxiSlave`` for a DUT master port or
    to ``AxiMaster`` for a DUT slave port. Missing ID signals are replaced by zero-width stubs.
    """
    from cocotbext.axi import AxiBus

    # cocotbext-axi joins bus name and signal with one "_": "m_axi_" + "_" + "awaddr".
    bus = AxiBus.from_prefix(dut, prefix + "_")
    for side, channel_name, signal in _ID_SIGNALS:
        channel = getattr(getattr(bus, side), channel_name)
        if getattr(channel, signal, None) is None:
            channel._signals.pop(signal, None)
            setattr(channel, signal, _AbsentId())
    return bus


def _bit(handle):
    """1, 0, or None when the single-bit signal is X/Z."""
    text = str(handle.value)
    return 1 if text == "1" else 0 if text == "0" else None


def _uint(handle):
    """Unsigned integer value of the signal, or None when any bit is X/Z."""
    try:
        return int(str(handle.value), 2)
    except ValueError:
        return None


def _raw(handle):
    """The signal's value as a bit string (X/Z kept): compares data that may hold X bytes."""
    return str(handle.value)


class _Channel:
    """One channel's handles and the checker's state for it."""

    def __init__(self, dut, prefix, name, valid, ready, payload, readers):
        self.name = name
        self.valid = getattr(dut, f"{prefix}__{valid}")
        self.ready = getattr(dut, f"{prefix}__{ready}")
        self.payload = [getattr(dut, f"{prefix}__{p}") for p in payload]
        self.payload_names = payload
        self.readers = readers
        self.pending = None  # payload offered but not accepted in the previous cycle

    def read_payload(self):
        return tuple(read(h) for read, h in zip(self.readers, self.payload))


class AxiChecker:
    """Cycle-by-cycle AXI4 protocol checker and statistics for the port ``<prefix>__*``.

    Call :meth:`start` once the clock runs; then every rising edge of ``clock`` the checker
    waits for the ``ReadOnly`` phase (all signals settled) and samples every channel; a beat
    transfers at that edge iff ``valid & ready``. Cycles with ``reset`` high (or X/Z) are not
    checked and clear the in-flight state (the statistics are kept).

    Violations (the first one is recorded in :attr:`error` and the monitor stops; with
    ``fail_fast`` it is also raised inside the monitor task, which fails the cocotb test):

    * ``valid`` or, while ``valid`` is high, ``ready`` is X/Z outside reset (every channel);
    * ``valid`` dropped before its beat was accepted, or the payload changed while
      ``valid & ~ready`` (every channel, so also R and B from the slave);
    * an AW/AR request that is not INCR, not full width (``size != log2(data bytes)``), has more
      than 256 beats, is not aligned to the data width, crosses a 4 KB boundary, or has X/Z in
      its payload (checked when the request is first offered, before it is accepted);
    * a W burst whose ``wlast`` is not exactly on beat ``awlen`` of the matching AW burst
      (W bursts match AW bursts in order; W data may precede its AW);
    * an R burst whose ``rlast`` is not exactly on beat ``arlen`` of the matching AR burst, or an
      R beat with no read outstanding; a B response before its write burst (AW and every W
      beat) was accepted.

    Statistics (attributes, all counted at accepted handshakes): ``read_bursts``,
    ``write_bursts`` (AR/AW accepted), ``read_beats``, ``write_beats`` (R/W beats),
    ``bytes_read``, ``bytes_written`` (sum over beats of ``2**size`` of their burst; the bytes of
    W beats that precede their AW are added when the AW is accepted), ``outstanding_reads``
    (AR accepted minus R bursts finished by ``rlast``), ``outstanding_writes`` (AW accepted minus
    B accepted), ``max_outstanding_reads``, ``max_outstanding_writes``, ``duplex_cycles`` (an R
    and a W beat moved in the same cycle); ``cycle`` counts the sampled clock edges.

    Parameters
    ----------
    dut :
        cocotb handle of the module that has the port.
    prefix : str
        Port name prefix (``"m_axi"`` for ports ``m_axi__awaddr`` ...).
    clock, reset :
        Handles; default ``dut.clk`` and ``dut.rst``.
    fail_fast : bool
        Also raise the violation in the monitor task (fails the running cocotb test at once).
    """

    def __init__(self, dut, prefix="m_axi", *, clock=None, reset=None, fail_fast=False):
        self.dut = dut
        self.prefix = prefix
        self.clock = dut.clk if clock is None else clock
        self.reset = dut.rst if reset is None else reset
        self.fail_fast = fail_fast
        self.log = logging.getLogger(f"cocotb.axi_checker.{prefix}")
        self.data_bytes = len(getattr(dut, f"{prefix}__wdata")) // 8
        self.addr_width = len(getattr(dut, f"{prefix}__awaddr"))
        self.size_log2 = self.data_bytes.bit_length() - 1
        if self.data_bytes < 1 or 1 << self.size_log2 != self.data_bytes:
            raise ValueError(f"{prefix}: data width must be 8 * a power of two bits")
        request = ("addr", "len", "size", "burst")
        self._aw = _Channel(dut, prefix, "AW", "awvalid", "awready",
                            ["aw" + p for p in request], [_uint] * 4)
        self._w = _Channel(dut, prefix, "W", "wvalid", "wready", ["wdata", "wstrb", "wlast"],
                           [_raw, _raw, _bit])
        self._b = _Channel(dut, prefix, "B", "bvalid", "bready", ["bresp"], [_uint])
        self._ar = _Channel(dut, prefix, "AR", "arvalid", "arready",
                            ["ar" + p for p in request], [_uint] * 4)
        self._r = _Channel(dut, prefix, "R", "rvalid", "rready", ["rdata", "rresp", "rlast"],
                           [_raw, _uint, _bit])
        # Responses first: a response must not be accepted in the same cycle as what it
        # answers, so it is judged against the state of earlier cycles.
        self._channels = (self._b, self._r, self._aw, self._w, self._ar)
        self._handlers = {self._aw: self._on_aw, self._w: self._on_w, self._b: self._on_b,
                          self._ar: self._on_ar, self._r: self._on_r}
        self.cycle = 0
        self.error = None
        self._task = None
        self.read_bursts = self.write_bursts = 0
        self.read_beats = self.write_beats = 0
        self.bytes_read = self.bytes_written = 0
        self.max_outstanding_reads = self.max_outstanding_writes = 0
        self.duplex_cycles = 0
        self._clear_flight()

    def _clear_flight(self):
        """Forget everything in flight (at reset)."""
        for channel in (self._aw, self._w, self._b, self._ar, self._r):
            channel.pending = None
        self._aw_open = deque()     # (beats, bytes per beat) of AW bursts awaiting W data
        self._w_done = deque()      # beat counts of W bursts finished (wlast) before their AW
        self._w_beats = 0           # beats so far of the open W burst
        self._writes_done = 0       # bursts with AW and all W beats accepted (B may follow)
        self._b_accepted = 0
        self._aw_accepted = 0
        self._ar_open = deque()     # (beats, bytes per beat) of AR bursts awaiting R data
        self._r_beats = 0

    # -- public interface ----------------------------------------------------------------

    def start(self):
        """Start the monitor task (returns it)."""
        if self._task is None:
            self._task = cocotb.start_soon(self._run())
        return self._task

    def stop(self):
        """Stop the monitor (statistics and any recorded error stay)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    def check(self):
        """Raise the first :class:`AxiProtocolError` seen, if any."""
        if self.error is not None:
            raise self.error

    @property
    def outstanding_reads(self):
        """AR bursts accepted whose last R beat has not been accepted."""
        return len(self._ar_open)

    @property
    def outstanding_writes(self):
        """AW bursts accepted whose B response has not been accepted."""
        return self._aw_accepted - self._b_accepted

    @property
    def idle(self):
        """Nothing in flight: no outstanding burst, no open W burst, no beat on offer."""
        return (not self._ar_open and self.outstanding_writes == 0 and not self._w_done
                and self._w_beats == 0
                and all(c.pending is None for c in self._channels))

    def stats(self):
        """The statistics as a dict."""
        names = ("cycle", "read_bursts", "write_bursts", "read_beats", "write_beats",
                 "bytes_read", "bytes_written", "max_outstanding_reads",
                 "max_outstanding_writes", "duplex_cycles")
        return {name: getattr(self, name) for name in names}

    # -- monitor -----------------------------------------------------------------------------

    async def _run(self):
        edge = RisingEdge(self.clock)
        settled = ReadOnly()
        while True:
            await edge
            await settled
            self.cycle += 1
            try:
                self._sample()
            except AxiProtocolError as err:
                self.error = err
                self.log.error("%s", err)
                if self.fail_fast:
                    raise
                return

    def _fail(self, message):
        raise AxiProtocolError(f"{self.prefix} {message} (cycle {self.cycle})")

    def _sample(self):
        if _bit(self.reset) != 0:
            self._clear_flight()
            return
        if all(_bit(h) == 1 for h in (self._r.valid, self._r.ready, self._w.valid,
                                          self._w.ready)):
            self.duplex_cycles += 1
        for channel in self._channels:
            valid = _bit(channel.valid)
            if valid is None:
                self._fail(f"{channel.name}: valid is X/Z after reset")
            pending = channel.pending
            if not valid:
                if pending is not None:
                    self._fail(f"{channel.name}: valid dropped before the beat was accepted")
                continue
            ready = _bit(channel.ready)
            if ready is None:
                self._fail(f"{channel.name}: ready is X/Z while valid")
            payload = channel.read_payload()
            if pending is None:
                if channel is self._aw or channel is self._ar:
                    self._check_request(channel.name, payload)
            elif payload != pending:
                changed = [n for n, a, b in zip(channel.payload_names, pending, payload)
                           if a != b]
                self._fail(f"{channel.name}: payload changed while valid and not ready "
                           f"({', '.join(changed)})")
            if ready:
                channel.pending = None
                self._handlers[channel](payload)
            else:
                channel.pending = payload

    def _check_request(self, name, payload):
        addr, length, size, burst = payload
        if None in payload:
            self._fail(f"{name}: X/Z in the request while valid")
        beats = length + 1
        if burst != _BURST_INCR:
            self._fail(f"{name}: burst type {burst}, only INCR (1) is allowed")
        if size != self.size_log2:
            self._fail(f"{name}: size {size} ({1 << size} bytes), must be the full data width "
                       f"({self.size_log2}: {self.data_bytes} bytes)")
        if beats > 256:
            self._fail(f"{name}: burst of {beats} beats, at most 256 allowed")
        if addr % self.data_bytes:
            self._fail(f"{name}: address {addr:#x} not aligned to {self.data_bytes} bytes")
        if addr % 4096 + beats * self.data_bytes > 4096:
            self._fail(f"{name}: burst crosses a 4 KB boundary (address {addr:#x}, {beats} "
                       f"beats of {self.data_bytes} bytes)")

    def _on_aw(self, payload):
        addr, length, size, _ = payload
        beats, beat_bytes = length + 1, 1 << size
        self.write_bursts += 1
        self._aw_accepted += 1
        self.max_outstanding_writes = max(self.max_outstanding_writes, self.outstanding_writes)
        if self._w_done:  # its data already arrived, ended by wlast
            got = self._w_done.popleft()
            if got != beats:
                self._fail(f"W: WLAST on beat {got - 1}, expected on beat {length} (awlen) "
                           f"of the burst at {addr:#x}")
            self.bytes_written += got * beat_bytes
            self._writes_done += 1
            return
        self._aw_open.append((beats, beat_bytes))
        if len(self._aw_open) == 1 and self._w_beats:  # the open W burst is this one
            self.bytes_written += self._w_beats * beat_bytes
            if self._w_beats >= beats:
                self._fail(f"W: no WLAST on beat {length} (awlen) of the burst at {addr:#x}")

    def _on_w(self, payload):
        last = payload[2]
        if last is None:
            self._fail("W: wlast is X/Z while valid")
        self.write_beats += 1
        self._w_beats += 1
        if self._w_done or not self._aw_open:  # AW not seen yet: match when it comes
            if last:
                self._w_done.append(self._w_beats)
                self._w_beats = 0
            return
        beats, beat_bytes = self._aw_open[0]
        self.bytes_written += beat_bytes
        if last:
            if self._w_beats != beats:
                self._fail(f"W: WLAST on beat {self._w_beats - 1}, expected on beat "
                           f"{beats - 1} (awlen)")
            self._aw_open.popleft()
            self._w_beats = 0
            self._writes_done += 1
        elif self._w_beats >= beats:
            self._fail(f"W: no WLAST on beat {beats - 1} (awlen) of the burst")

    def _on_b(self, payload):
        if self._b_accepted >= self._writes_done:
            self._fail("B: response before its write burst (AW and all W beats) was accepted")
        self._b_accepted += 1

    def _on_ar(self, payload):
        _, length, size, _ = payload
        self.read_bursts += 1
        self._ar_open.append((length + 1, 1 << size))
        self.max_outstanding_reads = max(self.max_outstanding_reads, len(self._ar_open))

    def _on_r(self, payload):
        last = payload[2]
        if last is None:
            self._fail("R: rlast is X/Z while valid")
        if not self._ar_open:
            self._fail("R: data beat with no read outstanding")
        beats, beat_bytes = self._ar_open[0]
        self.read_beats += 1
        self.bytes_read += beat_bytes
        self._r_beats += 1
        if last:
            if self._r_beats != beats:
                self._fail(f"R: RLAST on beat {self._r_beats - 1}, expected on beat "
                           f"{beats - 1} (arlen)")
            self._ar_open.popleft()
            self._r_beats = 0
        elif self._r_beats >= beats:
            self._fail(f"R: no RLAST on beat {beats - 1} (arlen) of the burst")


class _DelayedRequests:
    """Stands between the RAM's AR sink and its read engine to add a fixed read latency.

    A pump task takes every accepted AR request at once and stamps it with the clock cycle; the
    read engine's ``recv()`` hands a request over only ``latency`` cycles after its stamp. Up to
    ``depth`` requests wait here (then the sink fills and ``arready`` drops), so later bursts'
    latency overlaps earlier bursts' data, like a pipelined memory.
    """

    def __init__(self, sink, clock, latency, depth):
        self.sink = sink
        self._clock = clock
        self._latency = latency
        self._queue = Queue(maxsize=depth)
        self._cycle = 0
        self._tasks = [cocotb.start_soon(self._count()), cocotb.start_soon(self._pump())]

    async def _count(self):
        edge = RisingEdge(self._clock)
        while True:
            await edge
            self._cycle += 1

    async def _pump(self):
        while True:
            request = await self.sink.recv()
            await self._queue.put((self._cycle, request))

    async def recv(self):
        stamp, request = await self._queue.get()
        edge = RisingEdge(self._clock)
        while self._cycle < stamp + self._latency:
            await edge
        return request

    def clear(self):
        while not self._queue.empty():
            self._queue.get_nowait()
        self.sink.clear()


class _DelayedResponses:
    """Stands between the RAM's write engine and its B source to add a fixed write latency:
    every B response is offered ``latency`` cycles after the write engine produced it (after
    the burst's last W beat); responses are pipelined (any number wait at once)."""

    def __init__(self, source, clock, latency):
        self.source = source
        self._clock = clock
        self._latency = latency
        self._waiting = deque()
        self._cycle = 0
        self._tasks = [cocotb.start_soon(self._count())]

    def __getattr__(self, name):  # everything else (bus, clear, _transaction_obj) as before
        return getattr(self.source, name)

    async def _count(self):
        edge = RisingEdge(self._clock)
        while True:
            await edge
            self._cycle += 1
            while (self._waiting and self._waiting[0][0] <= self._cycle
                   and not self.source.full()):
                self.source.send_nowait(self._waiting.popleft()[1])

    async def send(self, response):
        self._waiting.append((self._cycle + self._latency, response))

    def clear(self):
        self._waiting.clear()
        self.source.clear()


def _half_duplex_pattern(read_channel, stalls):
    """Per-cycle pause flags of the W channel: paused when the random ``stalls`` say so, or
    while the R channel has data to send (a beat offered or queued: reads first), unless the
    R beat offered in the previous cycle was not taken (so a DUT that must write before it
    takes more read data never deadlocks)."""
    bus = read_channel.bus
    for stall in stalls:
        valid = _bit(bus.rvalid) == 1
        blocked = valid and _bit(bus.rready) != 1
        pending = valid or not read_channel.queue.empty()
        yield stall or (pending and not blocked)


def _never():
    while True:
        yield False


def _stall_pattern(rng, probability):
    """Infinite per-cycle pause flags: True with ``probability`` (drawn in blocks of 1024)."""
    for _ in itertools.count():
        yield from (rng.random(1024) < probability).tolist()


class AxiMemory:
    """A byte-addressed memory answering the AXI4 master port ``<prefix>__*`` of the DUT.

    Wraps cocotbext-axi's ``AxiRam`` (``size`` bytes; bus addresses wrap modulo ``size``). Write
    bursts honour ``wstrb``; every burst gets an OKAY response. The memory stays in reset while
    ``reset`` is high.

    Parameters
    ----------
    dut :
        cocotb handle of the module that has the port.
    prefix : str
        Port name prefix (``"m_axi"`` for ports ``m_axi__awaddr`` ...).
    size : int
        Memory size in bytes.
    clock, reset :
        Handles; default ``dut.clk`` and ``dut.rst`` (active high).
    latency_stall : float
        Probability, drawn independently per cycle and per channel, that the memory pauses
        that channel: ``awready``, ``wready``, ``arready`` low, or no new ``bvalid``/``rvalid``
        beat offered (a beat already offered stays valid, as AXI requires).
    read_latency : int
        Extra cycles of read latency: the first data beat of every read burst is offered
        ``read_latency`` cycles later than without it (without, and with no stall, ``rvalid``
        rises right after the second clock edge following the AR handshake). The latency is
        pipelined over up to ``read_depth`` waiting requests, so it costs no throughput.
        cocotbext-axi has no such option: this class adds it by delaying the requests handed
        to the RAM's read engine. 0 (the default) adds nothing.
    read_depth : int
        How many accepted read requests may wait out their latency at once.
    write_latency : int
        Extra cycles between a write burst's last W beat and its B response (pipelined).
    half_duplex : bool
        The port moves at most one data beat per cycle, R and W together (an HBM
        pseudo-channel): the W channel pauses while R data is offered or queued (reads first)
        unless the DUT did not take the R beat offered in the previous cycle;
        ``AxiChecker.duplex_cycles`` counts cycles in which a beat moved on both, which this
        rule keeps rare but does not forbid.
    rng : numpy.random.Generator, optional
        Source of the stalls; default seeded from ``cocotb.RANDOM_SEED``.
    checker : AxiChecker, optional
        The checker of this port whose counters :attr:`bytes_read`/:attr:`bytes_written`
        report; by default one is created and started (with ``fail_fast``, so a protocol
        violation by the DUT fails the test at once, before the RAM model trips over it).

    Attributes
    ----------
    ram : cocotbext.axi.AxiRam
    checker : AxiChecker
    size, data_bytes : int
    """

    def __init__(self, dut, prefix="m_axi", size=1 << 20, *, clock=None, reset=None,
                 latency_stall=0.0, read_latency=0, read_depth=8, write_latency=0,
                 half_duplex=False, rng=None, checker=None):
        from cocotbext.axi import AxiRam

        if not 0.0 <= latency_stall < 1.0:
            raise ValueError(f"latency_stall must be in [0, 1), not {latency_stall}")
        if read_latency < 0 or read_depth < 1:
            raise ValueError("read_latency must be >= 0 and read_depth >= 1")
        clock = dut.clk if clock is None else clock
        reset = dut.rst if reset is None else reset
        self.size = size
        self.latency_stall = latency_stall
        self.read_latency = read_latency
        self.data_bytes = len(getattr(dut, f"{prefix}__wdata")) // 8
        self.ram = AxiRam(axi_bus(dut, prefix), clock, reset, reset_active_level=True, size=size)
        for logger in (self.ram.write_if.log, self.ram.read_if.log):
            logger.setLevel(logging.WARNING)  # one INFO line per burst is too much
        channels = {"aw": self.ram.write_if.aw_channel, "w": self.ram.write_if.w_channel,
                    "b": self.ram.write_if.b_channel, "ar": self.ram.read_if.ar_channel,
                    "r": self.ram.read_if.r_channel}
        if latency_stall > 0:
            if rng is None:
                rng = np.random.default_rng(cocotb.RANDOM_SEED)
            for name, channel in channels.items():
                if not (half_duplex and name == "w"):
                    channel.set_pause_generator(_stall_pattern(rng, latency_stall))
        if half_duplex:
            stalls = _stall_pattern(rng, latency_stall) if latency_stall > 0 else _never()
            channels["w"].set_pause_generator(_half_duplex_pattern(channels["r"], stalls))
        if write_latency > 0:
            self.ram.write_if.b_channel = _DelayedResponses(channels["b"], clock, write_latency)
        if read_latency > 0:
            self.ram.read_if.ar_channel = _DelayedRequests(channels["ar"], clock, read_latency,
                                                           read_depth)
        if checker is None:
            checker = AxiChecker(dut, prefix, clock=clock, reset=reset, fail_fast=True)
            checker.start()
        self.checker = checker

    def write(self, addr, data):
        """Store ``data`` (bytes-like) at byte address ``addr`` now (no simulation time)."""
        self.ram.write(addr, bytes(data))

    def read(self, addr, n):
        """The ``n`` bytes at byte address ``addr`` now (no simulation time)."""
        return bytes(self.ram.read(addr, n))

    @property
    def bytes_read(self):
        """Bytes the DUT read over AXI (accepted R beats x bytes per beat)."""
        return self.checker.bytes_read

    @property
    def bytes_written(self):
        """Bytes the DUT wrote over AXI (accepted W beats x bytes per beat)."""
        return self.checker.bytes_written

    def check(self):
        """Raise the first protocol violation the checker saw, if any."""
        self.checker.check()
