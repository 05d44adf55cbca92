"""cocotb testbench of the FPGA self-test top: run it from reset until ``done``, read its LEDs.

The design is the :class:`hybridgen.rtl.fpga.selftest.SelfTest` top that ``hybridgen fpga``
puts on the board (:func:`hybridgen.gen.fpga.selftest_top`), with its stimulus ROM, stalls and
expected signatures; nothing is driven but the clock and reset. ``$SELFTEST_EXPECT`` is
``pass`` (the LEDs must show passed, not failed) or ``fail`` (the wrong-signature variant: failed,
not passed). ``$SELFTEST_TIMEOUT`` bounds the cycles to ``done`` (default 200,000).

Tests
-----
``outcome``  run to ``done``; check the LEDs against ``$SELFTEST_EXPECT``; ``done``,
             ``passed`` and ``failed`` must then hold for 100 more cycles.
"""

import os

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.verif.stream import start_clock_and_reset


def _leds(dut):
    return {name: int(getattr(dut, name).value) for name in ("passed", "failed", "done")}


@cocotb.test()
async def outcome(dut):
    expect = os.environ["SELFTEST_EXPECT"]
    assert expect in ("pass", "fail"), f"SELFTEST_EXPECT must be pass or fail, not {expect!r}"
    timeout = int(os.environ.get("SELFTEST_TIMEOUT", "200000"))
    await start_clock_and_reset(dut)
    cycles = 0
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        cycles += 1
        if int(dut.done.value):
            break
        assert not int(dut.passed.value) and not int(dut.failed.value), \
            f"passed/failed before done at cycle {cycles}: {_leds(dut)}"
        assert cycles < timeout, f"done did not rise within {timeout} cycles"
    leds = _leds(dut)
    dut._log.info(f"done after {cycles} cycles: {leds}")
    want = {"passed": int(expect == "pass"), "failed": int(expect == "fail"), "done": 1}
    assert leds == want, f"self-test LEDs {leds}, expected {want} ({expect})"
    for _ in range(100):
        await RisingEdge(dut.clk)
        await ReadOnly()
        assert _leds(dut) == want, f"LEDs changed after done: {_leds(dut)}"
