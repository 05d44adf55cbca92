"""Equivalence of the templated-Verilog array core and its pure-Amaranth twin.

The design under test (built by ``tests/systolic/test_systolic_cocotb.py``) instantiates both cores on
the same inputs: ``t`` (:func:`hybridgen.rtl.systolic.core.core_verilog`) and ``r``
(:class:`hybridgen.rtl.systolic.core.SystolicCoreReference`). Random A rows, valid bits, tags and weight
shifts drive both for ``$CORE_CYCLES`` cycles (default 400), with a reset in the middle (and
``2 (rows + cols) + 4`` idle cycles after it that shift zeros into both weight banks: the
template's skew lines are not reset); the valid
outputs must agree every cycle, and results and tags wherever valid. A core built for both
dataflows switches ``os`` every 64 cycles.
"""

import os

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.verif.stream import start_clock_and_reset


def _random_elements(rng, count, width):
    if width == 8:
        return [int(x) for x in rng.integers(0, 256, count)]
    sign = rng.integers(0, 2, count) << 15
    exponent = rng.integers(100, 150, count) << 7
    fraction = rng.integers(0, 128, count)
    bits = sign | exponent | fraction
    bits[rng.random(count) < 0.1] = 0
    return [int(x) for x in bits]


def _join(values, width):
    word = 0
    for i, value in enumerate(values):
        word |= value << (i * width)
    return word


@cocotb.test()
async def equivalent(dut):
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    rows, cols = len(dut.sel_in), len(dut.w_in) // (len(dut.a_in) // len(dut.sel_in))
    width = len(dut.a_in) // rows
    cycles = int(os.environ.get("CORE_CYCLES", "400"))
    dut._log.info("seed %d: %dx%d core, %d-bit elements, %d cycles", cocotb.RANDOM_SEED, rows,
                  cols, width, cycles)
    await start_clock_and_reset(dut, inputs=("a_in", "sel_in", "v_in", "tag_in", "w_in", "w_shift", "w_bank"), reset_cycles=3)
    valid_seen = 0
    has_os = hasattr(dut, "os")
    if has_os:
        dut.os.value = 0
    reset_at = int(os.environ.get("CORE_RESET_AT", cycles // 2))
    for cycle in range(cycles):
        dut.rst.value = int(cycle == reset_at)
        idle = reset_at <= cycle <= reset_at + 2 * (rows + cols) + 4
        if has_os and cycle % 64 == 0:
            dut.os.value = int(rng.integers(0, 2))
        dut.a_in.value = 0 if idle else _join(_random_elements(rng, rows, width), width)
        dut.sel_in.value = 0 if idle else int(rng.integers(0, 1 << rows))
        dut.v_in.value = int(not idle and rng.random() < 0.7)
        dut.tag_in.value = int(rng.integers(0, 1 << len(dut.tag_in)))
        dut.w_in.value = 0 if idle else _join(_random_elements(rng, cols, width), width)
        dut.w_shift.value = int(idle or rng.random() < 0.3)
        dut.w_bank.value = cycle & 1 if idle else int(rng.integers(0, 2))
        await ReadOnly()
        v_t, v_r = int(dut.v_t.value), int(dut.v_r.value)
        assert v_t == v_r, f"cycle {cycle}: valid differs (template {v_t}, reference {v_r})"
        if v_t:
            valid_seen += 1
            for name in ("psum", "tag"):
                got, want = int(getattr(dut, f"{name}_t").value), \
                    int(getattr(dut, f"{name}_r").value)
                assert got == want, f"cycle {cycle}: {name} differs: template {got:#x}, " \
                                    f"reference {want:#x}"
        await RisingEdge(dut.clk)
    assert valid_seen > cycles // 4, f"only {valid_seen} valid result rows compared"
