"""On-chip self-test of a stream block: stimulus from a ROM, CRC-32 signatures of the outputs.

:class:`SelfTest` wraps a block (any :class:`wiring.Component` whose data ports are
``lib.stream`` interfaces) so that it checks itself after reset, with no host attached:

* every input stream of the block is fed from a :class:`RomSource` (the stimulus beats, computed
  at generation time, are the ROM's initial contents), with pseudo-random bubbles;
* every checked output stream gets pseudo-random back-pressure and a :class:`SignatureMonitor`:
  the CRC-32 of its beats (:func:`hybridgen.golden.signature.crc32_beats`) and their count;
* an output may instead be *linked* to an input of the block (the KV codec's packer output feeds
  its dequantizer); a monitor taps the link.

The expected signatures are constants of the top (computed from the golden models by
:mod:`hybridgen.gen.fpga`). The outcome, on four outputs meant for LEDs:

``done``       every checked stream has delivered its beats and a quiet drain window of
               ``drain_cycles`` has passed, or the watchdog fired (no transfer on any stream for
               ``2 ** timeout_log2`` cycles);
``passed``     done, no timeout, every signature equal to the expected one, no beat beyond the
               expected count (an extra beat during the drain window is a failure);
``failed``     done and not passed;
``heartbeat``  bit ``heartbeat_log2 - 1`` of a free-running counter (the clock is alive).

The bubbles and the back-pressure come from 16-bit LFSRs (one per stream, different seeds), so
the block sees stalls on every stream, on chip as in simulation.
"""

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.golden.signature import beat_bytes

__all__ = ["StreamCheck", "Crc32", "Lfsr16", "RomSource", "SignatureMonitor", "SelfTest"]

#: Reflected CRC-32 polynomial (IEEE 802.3, ``zlib.crc32``).
CRC32_POLY_REFLECTED = 0xEDB88320
#: Feedback taps of the 16-bit Galois LFSR x^16 + x^14 + x^13 + x^11 + 1 (maximal length).
LFSR16_TAPS = 0xB400


@dataclass(frozen=True)
class StreamCheck:
    """What a checked output stream must deliver: ``beats`` beats whose CRC-32 is ``signature``."""

    beats: int
    signature: int

    def __post_init__(self):
        if not isinstance(self.beats, int) or self.beats < 1:
            raise ValueError(f"Beat count must be a positive integer, not {self.beats!r}")
        if not isinstance(self.signature, int) or not 0 <= self.signature < 1 << 32:
            raise ValueError(f"Signature must be a 32-bit unsigned integer, not {self.signature!r}")


def _crc32_matrix(width):
    """For each bit of the next CRC state, the mask of (state bits, data bits) it XORs.

    Bit ``k < 32`` of a mask is state bit ``k``; bit ``32 + j`` is data bit ``j``. The data bits
    enter LSB first, as the reflected CRC of little-endian bytes takes them.
    """
    state = [1 << k for k in range(32)]
    for j in range(width):
        feedback = state[0] ^ (1 << (32 + j))
        state = state[1:] + [0]
        state = [s ^ feedback if (CRC32_POLY_REFLECTED >> k) & 1 else s
                 for k, s in enumerate(state)]
    return state


class Crc32(wiring.Component):
    """CRC-32 of a stream of ``width``-bit words, one word per cycle.

    A word is taken as ``ceil(width / 8)`` little-endian bytes, zero-padded
    (:func:`hybridgen.golden.signature.crc32_beats`); the whole word is absorbed in one cycle
    (an XOR network derived from the serial CRC).

    Parameters
    ----------
    width : int
        Payload bits per word.

    Members
    -------
    en : In(1)
        Absorb ``data`` this cycle.
    data : In(width)
        The word.
    value : Out(32)
        CRC-32 of the words absorbed since reset (final XOR applied): combinational from the
        state register, so it includes a word in the cycle after ``en``.
    """

    def __init__(self, width):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"Width must be a positive integer, not {width!r}")
        self._width = width
        super().__init__({"en": In(1), "data": In(width), "value": Out(32)})

    def elaborate(self, platform):
        m = Module()
        padded = 8 * beat_bytes(self._width)
        state = Signal(32, init=0xFFFFFFFF)
        vector = Cat(state, self.data, Const(0, padded - self._width))
        masks = _crc32_matrix(padded)
        with m.If(self.en):
            m.d.sync += state.eq(Cat(*[(vector & mask).xor() for mask in masks]))
        m.d.comb += self.value.eq(state ^ 0xFFFFFFFF)
        return m


class Lfsr16(wiring.Component):
    """16-bit Galois LFSR (maximal length, period 65535), one step per cycle.

    Parameters
    ----------
    seed : int
        Initial state, 1 to 65535.

    Members
    -------
    value : Out(16)
        The state.
    """

    value: Out(16)

    def __init__(self, seed):
        if not isinstance(seed, int) or not 0 < seed < 1 << 16:
            raise ValueError(f"LFSR seed must be an integer in 1..65535, not {seed!r}")
        self._seed = seed
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        state = Signal(16, init=self._seed)
        shifted = state >> 1
        m.d.sync += state.eq(Mux(state[0], shifted ^ LFSR16_TAPS, shifted))
        m.d.comb += self.value.eq(state)
        return m


class RomSource(wiring.Component):
    """A stream that emits fixed beats from a ROM, once, in order, with pseudo-random bubbles.

    ``o.valid`` rises when the ROM word is read and a bubble pattern bit allows; once raised, it
    holds until the beat is accepted (stream rules). After the last beat, ``o.valid`` stays low.

    Parameters
    ----------
    width : int
        Payload bits.
    beats : sequence of int
        The words, each below ``2 ** width``.
    seed : int
        Seed of the bubble LFSR (1..65535).

    Members
    -------
    o : Out(stream.Signature(width))
        The beats.
    """

    def __init__(self, width, beats, *, seed):
        beats = [int(b) for b in beats]
        if not beats:
            raise ValueError("A ROM source needs at least one beat")
        if any(not 0 <= b < 1 << width for b in beats):
            raise ValueError(f"ROM beats must be {width}-bit unsigned integers")
        self._width, self._beats, self._seed = width, beats, seed
        super().__init__({"o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        count = len(self._beats)
        m.submodules.rom = rom = memory.Memory(shape=self._width, depth=count, init=self._beats)
        m.submodules.bubbles = bubbles = Lfsr16(self._seed)
        read = rom.read_port()
        index = Signal(range(count + 1))
        primed = Signal()   # the ROM word of `index` is on read.data
        offered = Signal()  # o.valid was high last cycle without a transfer: hold it
        transfer = self.o.valid & self.o.ready
        m.d.sync += primed.eq(1)
        m.d.comb += [
            self.o.valid.eq(primed & (index < count) & (offered | bubbles.value[0]
                                                         | bubbles.value[1])),
            self.o.payload.eq(read.data),
            read.addr.eq(Mux(transfer, index + 1, index)),
        ]
        m.d.sync += offered.eq(self.o.valid & ~self.o.ready)
        with m.If(transfer):
            m.d.sync += index.eq(index + 1)
        return m


class SignatureMonitor(wiring.Component):
    """Counts the beats of one stream and computes their CRC-32.

    Parameters
    ----------
    width : int
        Payload bits.
    beats : int
        Expected number of beats.

    Members
    -------
    valid : In(1)
        A beat is transferred this cycle (``valid & ready`` of the observed stream).
    data : In(width)
        Its payload.
    crc : Out(32)
        CRC-32 of the first ``beats`` beats (registered: valid the cycle after a beat).
    complete : Out(1)
        ``beats`` beats have been seen.
    extra : Out(1)
        A beat arrived after ``complete`` (sticky).
    """

    def __init__(self, width, beats):
        self._width, self._beats = width, beats
        super().__init__({"valid": In(1), "data": In(width), "crc": Out(32),
                          "complete": Out(1), "extra": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = Crc32(self._width)
        seen = Signal(range(self._beats + 1))
        m.d.comb += [
            self.complete.eq(seen == self._beats),
            crc.en.eq(self.valid & ~self.complete),
            crc.data.eq(self.data),
            self.crc.eq(crc.value),
        ]
        with m.If(self.valid):
            with m.If(self.complete):
                m.d.sync += self.extra.eq(1)
            with m.Else():
                m.d.sync += seen.eq(seen + 1)
        return m


class SelfTest(wiring.Component):
    """A block with ROM stimulus on its inputs and CRC-32 checks on its outputs (module notes).

    Parameters
    ----------
    dut : wiring.Component
        The block. Its stream ports named in ``sources``, ``checks`` and ``links`` are driven or
        observed; any other input port is tied to 0.
    sources : dict of str to sequence of int
        Input stream port name -> stimulus payloads (flat bit patterns).
    checks : dict of str to StreamCheck
        Output stream port name (a sink, or the output side of a link) -> expected beats.
    links : dict of str to str
        Output stream port name -> input stream port name it feeds directly (no stalls added).
    drain_cycles : int
        Quiet cycles after the last expected beat in which an extra beat is a failure.
    timeout_log2 : int
        The watchdog fires after ``2 ** timeout_log2`` cycles without a transfer.
    heartbeat_log2 : int
        ``heartbeat`` is bit ``heartbeat_log2 - 1`` of a free-running counter (24 at 25 MHz:
        a period of 0.67 s).

    Members
    -------
    passed, failed, done, heartbeat : Out(1)
        The outcome (module notes).
    """

    passed: Out(1)
    failed: Out(1)
    done: Out(1)
    heartbeat: Out(1)

    def __init__(self, dut, *, sources, checks, links=None, drain_cycles=64, timeout_log2=16,
                 heartbeat_log2=24):
        links = dict(links or {})
        members = dut.signature.members
        for name in [*sources, *links.values()]:
            if name not in members or members[name].flow != In:
                raise ValueError(f"{name!r} is not an input stream of the block")
        for name in [*checks, *links]:
            if name not in members or members[name].flow != Out:
                raise ValueError(f"{name!r} is not an output stream of the block")
        if not checks:
            raise ValueError("A self-test needs at least one checked stream")
        self._dut, self._sources, self._checks = dut, dict(sources), dict(checks)
        self._links = links
        self._drain_cycles, self._timeout_log2 = drain_cycles, timeout_log2
        self._heartbeat_log2 = heartbeat_log2
        super().__init__()

    def _width(self, name):
        return Value.cast(getattr(self._dut, name).payload).shape().width

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self._dut
        seeds = iter(range(0xACE1, 0xACE1 + 97 * 64, 97))
        activity = []
        for name, beats in self._sources.items():
            port = getattr(dut, name)
            source = RomSource(self._width(name), beats, seed=next(seeds))
            m.submodules[f"source_{name}"] = source
            m.d.comb += [port.valid.eq(source.o.valid), port.payload.eq(source.o.payload),
                         source.o.ready.eq(port.ready)]
            activity.append(port.valid & port.ready)
        for out_name, in_name in self._links.items():
            out_port, in_port = getattr(dut, out_name), getattr(dut, in_name)
            m.d.comb += [in_port.valid.eq(out_port.valid), in_port.payload.eq(out_port.payload),
                         out_port.ready.eq(in_port.ready)]
        monitors = []
        for name, check in self._checks.items():
            port = getattr(dut, name)
            if name not in self._links:
                m.submodules[f"backpressure_{name}"] = pressure = Lfsr16(next(seeds))
                m.d.comb += port.ready.eq(pressure.value[0] | pressure.value[3])
            monitor = SignatureMonitor(self._width(name), check.beats)
            m.submodules[f"monitor_{name}"] = monitor
            m.d.comb += [monitor.valid.eq(port.valid & port.ready), monitor.data.eq(port.payload)]
            activity.append(monitor.valid)
            monitors.append((monitor, check))

        complete = Cat(*[mon.complete for mon, _ in monitors]).all()
        correct = Cat(*[(mon.crc == check.signature) & ~mon.extra
                        for mon, check in monitors]).all()
        drain = Signal(range(self._drain_cycles + 1))
        idle = Signal(self._timeout_log2 + 1)
        timed_out = Signal()
        with m.If(Cat(*activity).any()):
            m.d.sync += idle.eq(0)
        with m.Elif(~idle[-1]):
            m.d.sync += idle.eq(idle + 1)
        with m.If(idle[-1] & ~complete):
            m.d.sync += timed_out.eq(1)
        with m.If(complete & (drain != self._drain_cycles)):
            m.d.sync += drain.eq(drain + 1)
        finished = (complete & (drain == self._drain_cycles)) | timed_out
        m.d.comb += [
            self.done.eq(finished),
            self.passed.eq(finished & ~timed_out & correct),
            self.failed.eq(finished & ~(~timed_out & correct)),
        ]
        beat = Signal(self._heartbeat_log2)
        m.d.sync += beat.eq(beat + 1)
        m.d.comb += self.heartbeat.eq(beat[-1])
        return m
