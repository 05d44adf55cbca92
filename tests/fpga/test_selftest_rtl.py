"""Amaranth-simulator tests of the self-test pieces (rtl/fpga/selftest.py): the CRC-32 against
``zlib``, and the outcome of the top on a correct block, a wrong signature, a block that emits
one beat too many and one that emits too few (watchdog)."""

import gc
import warnings

import pytest
from amaranth.sim import Simulator

from hybridgen.golden.signature import crc32_beats
from hybridgen.rtl.fpga.selftest import Crc32, SelfTest, StreamCheck
from hybridgen.verif.selftest.designs import ExtraBeat, StreamFifo


@pytest.mark.parametrize("width", [1, 7, 8, 32, 130])
def test_crc32_matches_zlib(width, rng):
    """Random words with random idle cycles; the value after each word equals
    ``zlib.crc32`` of the words so far (little-endian, zero-padded bytes)."""
    beats = [int(rng.integers(0, 1 << min(width, 62))) << max(0, width - 62) for _ in range(24)]
    beats[0], beats[1] = (1 << width) - 1, 0
    dut = Crc32(width)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        assert ctx.get(dut.value) == crc32_beats([], width) == 0
        for k, beat in enumerate(beats):
            while rng.random() < 0.3:
                ctx.set(dut.en, 0)
                ctx.set(dut.data, int(rng.integers(0, 1 << min(width, 62))))
                await ctx.tick()
            ctx.set(dut.en, 1)
            ctx.set(dut.data, beat)
            await ctx.tick()
            assert ctx.get(dut.value) == crc32_beats(beats[:k + 1], width), k

    sim.add_testbench(bench)
    sim.run()


def _outcome(top, limit=20_000):
    """Run ``top`` until ``done``; return (passed, failed, cycles)."""
    sim = Simulator(top)
    sim.add_clock(1e-6)
    result = {}

    async def bench(ctx):
        for cycle in range(limit):
            await ctx.tick()
            if ctx.get(top.done):
                result.update(passed=ctx.get(top.passed), failed=ctx.get(top.failed),
                              cycles=cycle + 1)
                return
            assert not ctx.get(top.passed) and not ctx.get(top.failed)
        raise AssertionError(f"done did not rise in {limit} cycles")

    sim.add_testbench(bench)
    sim.run()
    return result["passed"], result["failed"], result["cycles"]


def _top(dut, beats, check, **kwargs):
    return SelfTest(dut, sources={"i": beats}, checks={"o": check}, timeout_log2=8,
                    heartbeat_log2=4, **kwargs)


def test_outcomes(rng):
    n = 200
    beats = [int(v) for v in rng.integers(0, 1 << 16, n)]
    right = StreamCheck(n, crc32_beats(beats, 16))
    passed, failed, cycles = _outcome(_top(StreamFifo(16), beats, right))
    assert (passed, failed) == (1, 0)
    # the LFSR stalls (valid ~75%, ready ~75%) slow the stream well below one beat per cycle
    assert cycles > 1.25 * n + 64, cycles
    # a wrong expected signature
    assert _outcome(_top(StreamFifo(16), beats, StreamCheck(n, right.signature ^ 0x80)))[:2] \
        == (0, 1)
    # one beat too many, 8 cycles after the last one (inside the drain window)
    assert _outcome(_top(ExtraBeat(16, beats=n, delay=8), beats, right))[:2] == (0, 1)
    # one beat too few: the watchdog ends the test
    short = StreamCheck(n + 1, crc32_beats(beats, 16))
    assert _outcome(_top(StreamFifo(16), beats, short))[:2] == (0, 1)


def test_bad_arguments():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rejected tops are never elaborated
        with pytest.raises(ValueError, match="'x' is not an input stream"):
            SelfTest(StreamFifo(16), sources={"x": [1]}, checks={"o": StreamCheck(1, 0)})
        with pytest.raises(ValueError, match="'i' is not an output stream"):
            SelfTest(StreamFifo(16), sources={}, checks={"i": StreamCheck(1, 0)})
        gc.collect()
    with pytest.raises(ValueError, match="Beat count must be a positive integer, not 0"):
        StreamCheck(0, 0)
