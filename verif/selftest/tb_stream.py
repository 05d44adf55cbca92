"""cocotb test of the stream kit: every beat through a FIFO, in order, under random stalls, and
no beat after the last one."""

import os

import numpy as np

import cocotb

from hybridgen.verif.stream import StreamHarness

# Input-to-output latency of every selftest design with ``o.ready`` high (at most a 4-deep FIFO).
LATENCY_BOUND = 4


@cocotb.test()
async def stream_roundtrip(dut):
    """Random payloads through the DUT with random bubbles and back-pressure."""
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    count = int(os.environ.get("BEATS", "500"))
    stall = float(os.environ.get("STALL", "0.3"))
    harness = StreamHarness(dut, rng)
    source = harness.source("i", stall=stall)
    sink = harness.sink("o", stall=stall)
    await harness.start()
    payloads = rng.integers(0, 1 << 16, count).tolist()
    source.send(payloads)
    await harness.collect({sink: count}, latency=LATENCY_BOUND, timeout_cycles=20 * count + 100)
    assert sink.beats == payloads, "payloads lost, duplicated or reordered"
    dut._log.info("cycles %d for %d beats", harness.cycle, count)
