"""Equivalence of the templated-Verilog OS row feeder and its pure-Amaranth twin
(:mod:`hybridgen.rtl.systolic.feeder`).

Both feeders (``_t`` template, ``_r`` reference; built by ``tests/systolic/test_systolic_cocotb.py``)
get the same random inputs for ``$FEEDER_CYCLES`` cycles (default 400): chunks on the bus,
loads of random serializers, ``pick`` counting through the interleave as the engine drives it,
random ``active``/``first``, and a reset in the middle. ``a_out`` and ``first_out`` must agree
every cycle.
"""

import os

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.verif.stream import start_clock_and_reset


@cocotb.test()
async def equivalent(dut):
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    rows = len(dut.first_out_t)
    targets = 1 << len(dut.target)
    interleave = int(os.environ.get("FEEDER_INTERLEAVE", "1"))
    cycles = int(os.environ.get("FEEDER_CYCLES", "400"))
    dut._log.info("seed %d: %d rows, interleave %d, %d cycles", cocotb.RANDOM_SEED, rows,
                  interleave, cycles)
    await start_clock_and_reset(dut, inputs=("bus", "load", "target", "ok_in", "pick", "active", "first"), reset_cycles=3)
    shown = 0
    for cycle in range(cycles):
        dut.rst.value = int(cycle == cycles // 2)
        dut.bus.value = int.from_bytes(rng.bytes(len(dut.bus) // 8), "little")
        dut.load.value = int(rng.random() < 0.6)
        dut.target.value = int(rng.integers(0, min(targets, rows * interleave)))
        dut.ok_in.value = int(rng.random() < 0.8)
        dut.pick.value = (cycle - 2) % interleave
        dut.active.value = int(rng.random() < 0.8)
        dut.first.value = int(rng.random() < 0.3)
        await ReadOnly()
        for name in ("a_out", "first_out"):
            got, want = int(getattr(dut, f"{name}_t").value), int(getattr(dut, f"{name}_r").value)
            assert got == want, f"cycle {cycle}: {name} differs: template {got:#x}, " \
                                f"reference {want:#x}"
        shown += int(dut.a_out_t.value) != 0
        await RisingEdge(dut.clk)
    assert shown > cycles // 4, f"only {shown} cycles with data shown"
