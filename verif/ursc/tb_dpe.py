"""cocotb testbench of the URSC dot-product engine (:class:`hybridgen.rtl.ursc.dpe.Dpe`).

``random``: three independent streams of tiles, one per accumulator slot, each tile a
``lanes x dpus`` block of outputs with its own reduction length K (1 to ``$DPE_MAX_CHUNKS``
chunks of ``mults``, the tail padded with +0), merged round-robin as the DPE's interleaving
contract says; slots at a tile boundary sometimes get filler beats (``first = 1, last = 0``).
Operands: bf16 of normal fp32 values mixed with random bit patterns (infinities, NaNs,
subnormals). ``$DPE_TILES`` tiles per slot, 30 % random bubbles on ``i`` and back-pressure on
``o``. Every result is compared bit-exactly with
:func:`hybridgen.golden.numerics.dot_bf16_accumulate`; the harness fails on a missing or extra
``o`` beat; the ``busy`` cycles must equal the accepted ``i`` beats. Ports: ``dpe_i__<n>``,
``dpe_o__<n>``, ``dpe_busy__<n>`` with n = ``$URSC_DPE`` (default 0), as on the datapath top.
"""

import os

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hybridgen.golden import numerics
from hybridgen.verif.stream import StreamHarness, load_design
from hybridgen.verif.ursc.designs import fields_of, pack_lanes, unpack_lanes

SLOTS = 3


def bf16_operands(rng, shape):
    """bf16 bit patterns: mostly bf16(N(0, 1) * 2^e) with e in [-8, 8], 5 % random patterns."""
    values = rng.standard_normal(shape) * np.exp2(rng.integers(-8, 9, shape))
    bits = numerics.fp32_to_bf16(numerics.fp32_to_bits(values.astype(np.float32)))
    wild = rng.random(shape) < 0.05
    bits[wild] = rng.integers(0, 1 << 16, int(wild.sum()), dtype=np.uint32).astype(np.uint16)
    return bits.astype(np.uint16)


class Tile:
    def __init__(self, rng, lanes, dpus, mults, max_chunks):
        self.k = int(rng.integers(1, max_chunks * mults + 1))
        self.chunks = -(-self.k // mults)
        self.a = bf16_operands(rng, (lanes, self.k))
        self.b = bf16_operands(rng, (dpus, self.k))
        pad = self.chunks * mults - self.k
        self.a_pad = np.pad(self.a, ((0, 0), (0, pad)))
        self.b_pad = np.pad(self.b, ((0, 0), (0, pad)))
        self.mults = mults

    def beat(self, j):
        m = self.mults
        return (self.a_pad[:, j * m:(j + 1) * m], self.b_pad[:, j * m:(j + 1) * m],
                j == 0, j == self.chunks - 1)

    def expected(self):
        return numerics.dot_bf16_accumulate(self.a[:, None, :], self.b[None, :, :], self.mults)


def schedule(rng, lanes, dpus, mults, *, tiles, max_chunks):
    """Beats ``(a, b, first, last)`` and the expected result tiles in output order."""
    queues = [[Tile(rng, lanes, dpus, mults, max_chunks) for _ in range(tiles)]
              for _ in range(SLOTS)]
    position = [0] * SLOTS  # chunk index in the slot's current tile
    beats, expected, fillers = [], [], 0
    while any(queues):
        for s in range(SLOTS):
            if queues[s] and (position[s] > 0 or rng.random() >= 0.15):
                tile = queues[s][0]
                beat = tile.beat(position[s])
                position[s] += 1
                if beat[3]:
                    expected.append(tile.expected())
                    queues[s].pop(0)
                    position[s] = 0
            else:
                beat = (bf16_operands(rng, (lanes, mults)), bf16_operands(rng, (dpus, mults)),
                        True, False)
                fillers += 1
            beats.append(beat)
    return beats, expected, fillers


def words(design, beats, n):
    fields = fields_of(design, f"dpe_i__{n}__payload")
    a = pack_lanes(np.stack([b[0] for b in beats]), 16)
    b = pack_lanes(np.stack([b[1] for b in beats]), 16)
    return [x | (y << fields["b"]["offset"]) | (int(f) << fields["first"]["offset"])
            | (int(last) << fields["last"]["offset"])
            for x, y, (_, _, f, last) in zip(a, b, beats)]


async def count_busy(dut, name, counter):
    handle = getattr(dut, name)
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        if handle.value.is_resolvable and int(handle.value):
            counter[0] += 1


@cocotb.test()
async def random(dut):
    """Interleaved random tiles with fillers, 30 % stalls, bit-exact, busy = accepted beats."""
    design = load_design()
    config = design["config"]
    lanes, dpus, mults = config["dpe_lanes"], config["dpe_dpus"], config["dpe_mults"]
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    beats, expected, fillers = schedule(rng, lanes, dpus, mults,
                                        tiles=int(os.environ.get("DPE_TILES", "12")),
                                        max_chunks=int(os.environ.get("DPE_MAX_CHUNKS", "5")))
    n = int(os.environ.get("URSC_DPE", "0"))
    harness = StreamHarness(dut, rng)
    source = harness.source(f"dpe_i__{n}", stall=0.3)
    sink = harness.sink(f"dpe_o__{n}", stall=0.3)
    busy = [0]
    await harness.start()
    cocotb.start_soon(count_busy(dut, f"dpe_busy__{n}", busy))
    source.send(words(design, beats, n))
    latency = design["derived"]["dpe_latency"]
    await harness.collect({sink: len(expected)}, latency=latency,
                          timeout_cycles=5 * len(beats) + 4 * latency + 100)
    got = unpack_lanes(sink.beats, lanes * dpus, 32).reshape(-1, lanes, dpus)
    for t, (tile, want) in enumerate(zip(got, expected)):
        bad = np.argwhere(tile != want)
        if bad.size:
            lane, dpu = bad[0]
            raise AssertionError(f"tile {t}: {len(bad)} results differ; first [{lane}][{dpu}]: "
                                 f"rtl {int(tile[lane, dpu]):#010x} golden "
                                 f"{int(want[lane, dpu]):#010x}")
    assert busy[0] == len(source.accepted) == len(beats), (busy[0], len(source.accepted))
    dut._log.info("%d tiles (%d beats, %d fillers) bit-exact in %d cycles; busy %d", len(expected),
                  len(beats), fillers, harness.cycle, busy[0])
