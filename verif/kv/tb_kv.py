"""cocotb testbench of the KV codec top (:class:`hybridgen.rtl.kv.KvCodec`), shared by tests and bench.

The four streams of the top are driven by one :class:`~hybridgen.verif.stream.StreamHarness` (protocol
checker on every stream). In the loop tests the packed beats accepted from ``packer_o`` are
sent on to ``dequantizer_i`` as they arrive (a link model), so the dequantizer decodes what the
RTL packer emitted. Every result is compared byte for byte with :mod:`hybridgen.golden.kvquant`.

Tests
-----
``loop``          edge-case tiles + ``$KV_TILES`` (default 18) random tiles, random formats (when
                  chosen at run time), random stalls on all four streams, packer -> dequantizer.
                  ``$KV_EDGE=some`` keeps three of the edge-case tiles (for geometries that
                  differ only in buffering from one tested with all of them).
``decode_sweep``  the dequantizer alone on packed tiles holding every (exponent, code) pair of
                  each format (exponent 255 included), random back-pressure.
                  ``$KV_SWEEP_TILES=n`` decodes a random sample of ``n`` of the 64 BFP8 sweep
                  tiles (all 4 BFP4 ones) - for slow simulators.
``throughput``    no stalls: both units stream several tiles per format without a gap (or, where
                  the packed bus is the limit, keep the bus busy every cycle); latencies equal
                  the sidecar's ``packer_latency`` / ``dequantizer_latency``
                  (``$KV_THROUGHPUT_TILES``, default 5, tiles per format).
``bench``         ``hybridgen bench kvcodec``: ``x`` from ``$HYBRIDGEN_BENCH_INPUTS``, the loop
                  without stalls; ``packed``, ``unpacked`` and the cycle counts to
                  ``$HYBRIDGEN_BENCH_OUTPUTS``.
"""

import json
import os

import numpy as np

import cocotb
from cocotb.triggers import RisingEdge

from hybridgen.verif.kv.tiles import (TILE_BYTES, Beats, check_tiles, decode_sweep_tiles, edge_tiles,
                            golden_pack, random_tiles, tile_formats)
from hybridgen.verif.stream import StreamHarness, load_design


class CodecBench:
    """The codec's four streams under one harness, with an optional packer -> dequantizer link.

    Parameters
    ----------
    stall : float
        Probability of a bubble / of back-pressure per cycle, on every stream.
    link : bool
        Forward every beat accepted from ``packer_o`` to ``dequantizer_i``.
    """

    def __init__(self, dut, design, rng, *, stall, link):
        self.dut = dut
        self.beats = Beats(design)
        self.lanes = self.beats.lanes
        self.harness = StreamHarness(dut, rng)
        self.packer_in = self.harness.source("packer_i", stall=stall)
        self.packer_out = self.harness.sink("packer_o", stall=stall)
        self.dequantizer_in = self.harness.source("dequantizer_i", stall=stall)
        self.dequantizer_out = self.harness.sink("dequantizer_o", stall=stall)
        self._link = link
        # through both units (the link adds none): the bound for a beat after the last one
        derived = design["derived"]
        self._latency = derived["packer_latency"] + derived["dequantizer_latency"]

    async def start(self):
        await self.harness.start()
        if self._link:
            cocotb.start_soon(self._forward())

    async def _forward(self):
        sent = 0
        while True:
            await RisingEdge(self.dut.clk)
            beats = self.packer_out.beats
            if len(beats) > sent:
                self.dequantizer_in.send(beats[sent:])
                sent = len(beats)

    async def wait_outputs(self, packed_beats, value_beats, *, timeout_cycles):
        """Wait for ``packed_beats`` on ``packer_o`` and ``value_beats`` on ``dequantizer_o``
        (totals since the start), then check that no further beat follows on either."""
        await self.harness.collect({self.packer_out: packed_beats,
                                    self.dequantizer_out: value_beats},
                                   latency=self._latency, timeout_cycles=timeout_cycles)


def check_packed(beats, payloads, tiles, formats, expected=None):
    """Compare ``packer_o`` beats with the golden packing of ``tiles``; return the bytes."""
    data, flags = beats.packed_out(payloads)
    expected = expected or [golden_pack(t, f) for t, f in zip(tiles, formats)]
    total = sum(len(e) for e in expected)
    assert len(data) == total, f"packer emitted {len(data)} bytes, expected {total}"
    offset, beat = 0, 0
    for index, (want, fmt) in enumerate(zip(expected, formats)):
        got = data[offset:offset + len(want)]
        if got != want:
            diff = np.flatnonzero(np.frombuffer(got, np.uint8) != np.frombuffer(want, np.uint8))
            k = int(diff[0])
            raise AssertionError(
                f"tile {index} ({fmt}): {diff.size} packed bytes differ, first at byte {k}: "
                f"rtl {got[k]:#04x} golden {want[k]:#04x}")
        n = len(want) // beats.bus_bytes
        last = flags["last"][beat:beat + n]
        assert last[-1] == 1 and not last[:-1].any(), f"tile {index}: bad 'last' framing {last}"
        if "bfp4" in flags:
            assert np.all(flags["bfp4"][beat:beat + n] == (fmt == "bfp4")), \
                f"tile {index}: bfp4 flag differs from the tile's format {fmt}"
        offset += len(want)
        beat += n
    return data


def check_values(beats, payloads, packed_tiles, formats):
    """Compare ``dequantizer_o`` beats with the golden unpacking; return (tiles, 32, 32)."""
    values, flags = beats.values_out(payloads)
    return check_tiles(values, flags["last"], beats.lanes, packed_tiles, formats)


def _split_bytes(data, formats):
    tiles, offset = [], 0
    for fmt in formats:
        tiles.append(data[offset:offset + TILE_BYTES[fmt]])
        offset += TILE_BYTES[fmt]
    return tiles


@cocotb.test()
async def loop(dut):
    """Edge-case and random tiles through packer -> dequantizer, random stalls everywhere."""
    design = load_design()
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    count = int(os.environ.get("KV_TILES", "18"))
    edges = edge_tiles()
    if os.environ.get("KV_EDGE", "all") == "some":
        # the tile of special face rows (NaN/inf, subnormals, ties, saturation, rounding to
        # zero), the face-order tile and one tile of the exponent range
        edges = edges[2:4] + [edges[4 + int(rng.integers(0, len(edges) - 4))]]
    tiles = edges + random_tiles(rng, count)
    formats = tile_formats(tuple(design["derived"]["formats"]), len(tiles), rng)
    bench = CodecBench(dut, design, rng, stall=0.3, link=True)
    await bench.start()
    for tile, fmt in zip(tiles, formats):
        bench.packer_in.send(bench.beats.values_in(tile, fmt))
    expected = [golden_pack(t, f) for t, f in zip(tiles, formats)]
    packed_beats = sum(len(e) for e in expected) // bench.beats.bus_bytes
    value_beats = len(tiles) * 1024 // bench.lanes
    dut._log.info("seed %d: %d tiles (%d edge-case), formats %s", cocotb.RANDOM_SEED,
                  len(tiles), len(tiles) - count, "".join(f[-1] for f in formats))
    await bench.wait_outputs(packed_beats, value_beats,
                             timeout_cycles=8 * (value_beats + packed_beats) + 2000)
    data = check_packed(bench.beats, bench.packer_out.beats, tiles, formats, expected)
    check_values(bench.beats, bench.dequantizer_out.beats, _split_bytes(data, formats), formats)
    dut._log.info("%d tiles bit-exact through both units in %d cycles", len(tiles),
                  bench.harness.cycle)


@cocotb.test()
async def decode_sweep(dut):
    """Every (exponent, code) pair of each format through the dequantizer alone."""
    design = load_design()
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    packed, formats = [], []
    sample = os.environ.get("KV_SWEEP_TILES")
    for fmt in design["derived"]["formats"]:
        sweep = decode_sweep_tiles(fmt, rng)
        if sample is not None and int(sample) < len(sweep):
            sweep = [sweep[i] for i in sorted(rng.choice(len(sweep), int(sample), replace=False))]
        packed += sweep
        formats += [fmt] * len(sweep)
    order = rng.permutation(len(packed))
    packed = [packed[i] for i in order]
    formats = [formats[i] for i in order]
    bench = CodecBench(dut, design, rng, stall=0.1, link=False)
    await bench.start()
    for tile, fmt in zip(packed, formats):
        bench.dequantizer_in.send(bench.beats.packed_in(tile, fmt))
    value_beats = len(packed) * 1024 // bench.lanes
    await bench.wait_outputs(0, value_beats, timeout_cycles=4 * value_beats + 2000)
    check_values(bench.beats, bench.dequantizer_out.beats, packed, formats)
    dut._log.info("seed %d: %d sweep tiles (%s%s) bit-exact in %d cycles", cocotb.RANDOM_SEED,
                  len(packed), ", ".join(design["derived"]["formats"]),
                  f"; sampled {sample} per format" if sample else "; every (E, code) pair",
                  bench.harness.cycle)


def _gapless(cycles, what):
    gaps = np.flatnonzero(np.diff(cycles) != 1)
    assert gaps.size == 0, (f"{what}: {gaps.size} gaps, first after beat {gaps[0]} "
                            f"(cycles {cycles[gaps[0]]} -> {cycles[gaps[0] + 1]})")


@cocotb.test()
async def throughput(dut):
    """No stalls: no gap between tiles at the limiting side of each unit; exact latencies."""
    design = load_design()
    derived = design["derived"]
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    bench = CodecBench(dut, design, rng, stall=0.0, link=False)
    beats = bench.beats
    lanes, bus = beats.lanes, beats.bus_bytes
    await bench.start()
    count = int(os.environ.get("KV_THROUGHPUT_TILES", "5"))
    for fmt in derived["formats"]:
        tiles = random_tiles(rng, count)
        packed = [golden_pack(t, fmt) for t in tiles]
        p0, d0 = len(bench.packer_out.beats), len(bench.dequantizer_out.beats)
        a0, i0 = len(bench.packer_in.accepted), len(bench.dequantizer_in.accepted)
        for tile, pk in zip(tiles, packed):
            bench.packer_in.send(beats.values_in(tile, fmt))
            bench.dequantizer_in.send(beats.packed_in(pk, fmt))
        tile_beats = TILE_BYTES[fmt] // bus
        value_beats = 1024 // lanes
        await bench.wait_outputs(p0 + count * tile_beats, d0 + count * value_beats,
                                 timeout_cycles=4 * count * (tile_beats + value_beats) + 500)
        check_packed(beats, bench.packer_out.beats[p0:], tiles, [fmt] * count, packed)
        check_values(beats, bench.dequantizer_out.beats[d0:], packed, [fmt] * count)
        packer_in = np.array(bench.packer_in.accepted[a0:])
        packer_out = np.array(bench.packer_out.cycles[p0:])
        dequant_in = np.array(bench.dequantizer_in.accepted[i0:])
        dequant_out = np.array(bench.dequantizer_out.cycles[d0:])
        bus_limited = bus * 1024 < lanes * TILE_BYTES[fmt]
        if bus_limited:
            _gapless(packer_out, f"{fmt} packer_o (bus-limited)")
            _gapless(dequant_in, f"{fmt} dequantizer_i (bus-limited)")
        else:
            _gapless(packer_in, f"{fmt} packer_i")
            _gapless(dequant_out, f"{fmt} dequantizer_o")
        latency = int(packer_out[0] - packer_in[value_beats - 1])
        assert latency == derived["packer_latency"], \
            f"{fmt} packer latency {latency}, sidecar says {derived['packer_latency']}"
        latency = int(dequant_out[0] - dequant_in[tile_beats - 1])
        assert latency == derived["dequantizer_latency"], \
            f"{fmt} dequantizer latency {latency}, sidecar says {derived['dequantizer_latency']}"
        vpc_packer = count * 1024 / (packer_out[-1] - packer_in[0] + 1)
        vpc_dequant = count * 1024 / (dequant_out[-1] - dequant_in[0] + 1)
        dut._log.info("%s: %d tiles, packer %.3f values/cycle, dequantizer %.3f values/cycle "
                      "(%s-limited)", fmt, count, vpc_packer, vpc_dequant,
                      "bus" if bus_limited else "lane")
        await bench.harness.wait_until(lambda: True, timeout_cycles=10)


@cocotb.test()
async def bench(dut):
    """``hybridgen bench kvcodec``: x from the inputs file, loop without stalls."""
    design = load_design()
    with np.load(os.environ["HYBRIDGEN_BENCH_INPUTS"]) as npz:
        x = npz["x"]
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    formats = tile_formats(tuple(design["derived"]["formats"]), len(x))
    codec = CodecBench(dut, design, rng, stall=0.0, link=True)
    beats = codec.beats
    await codec.start()
    for tile, fmt in zip(x, formats):
        codec.packer_in.send(beats.values_in(tile, fmt))
    packed_beats = sum(TILE_BYTES[f] for f in formats) // beats.bus_bytes
    value_beats = len(x) * 1024 // beats.lanes
    await codec.wait_outputs(packed_beats, value_beats,
                             timeout_cycles=4 * (packed_beats + value_beats) + 1000)
    packed, _ = beats.packed_out(codec.packer_out.beats)
    unpacked, _ = beats.values_out(codec.dequantizer_out.beats)
    packer_first, packer_last = codec.packer_in.accepted[0], codec.packer_out.cycles[-1]
    dequant_first, dequant_last = codec.dequantizer_in.accepted[0], codec.dequantizer_out.cycles[-1]
    measured = {
        "cycles": dequant_last - packer_first + 1,
        "packer_cycles": packer_last - packer_first + 1,
        "dequantizer_cycles": dequant_last - dequant_first + 1,
        "packed_bytes": len(packed),
        "formats": formats,
    }
    np.savez(os.environ["HYBRIDGEN_BENCH_OUTPUTS"],
             packed=np.frombuffer(packed, np.uint8).copy(),
             unpacked=unpacked.reshape(x.shape).astype(np.uint16),
             measured=np.array(json.dumps(measured)))
