"""cocotb testbench of the dequantizer alone (``unit = "dequantizer"``, ports ``i`` / ``o``):
the decode read path's geometries (up to 128 lanes, bf16 pass-through), shared by tests and
``hybridgen bench kvcodec`` on a dequantizer preset (``kv-decode``).

Packed tiles come from :func:`hybridgen.golden.kvquant.kv_pack_tile` (the bytes of the KV cache
in memory); every output value is compared with
:func:`hybridgen.golden.kvquant.kv_unpack_tile_bf16_bits` (bf16 tiles: the input bits). One
:class:`~hybridgen.verif.stream.StreamHarness` drives ``i`` and ``o`` with the protocol checker
and fails on a missing or an extra beat.

Tests
-----
``stream``      edge-case tiles, ``$KV_TILES`` (default 12) random tiles and a sample of
                ``$KV_SWEEP_TILES`` (default 8) decode-sweep tiles per BFP format (every
                (E, code) pair lives in one of them), formats random per tile (when chosen at
                run time), random stalls (p = 0.3) on both streams.
``throughput``  no stalls: per format ``$KV_THROUGHPUT_TILES`` (default 4) tiles back to back;
                where the packed bus is the limit ``i`` accepts a beat every cycle (no bubble
                at the exponent beats or between tiles), else ``o`` has no gap; latency 3 from
                a BFP tile's last beat to its first value beat, 1 from the bf16 beat completing
                a value beat to it. Then every format change back to back, no stalls.
``bench``       ``hybridgen bench kvcodec``: ``x`` from ``$HYBRIDGEN_BENCH_INPUTS`` packed by
                the golden model in the formats of ``$KV_BENCH_FORMATS`` (comma-separated,
                one per tile), no stalls; ``unpacked`` and cycle counts to
                ``$HYBRIDGEN_BENCH_OUTPUTS``.
"""

import json
import os

import numpy as np

import cocotb

from hybridgen.golden.kvquant import KV_TILE_BYTES, kv_pack_tile, kv_unpack_tile_bf16_bits
from hybridgen.verif.kv.tiles import check_tiles, decode_sweep_tiles, edge_tiles, random_tiles
from hybridgen.verif.stream import StreamHarness, load_design

#: cycles from a tile's last packed beat (bf16: the beat completing a value beat) to the output
LATENCY = {"bfp8": 3, "bfp4": 3, "bf16": 1}


class DequantizerBench:
    """``i`` / ``o`` of a dequantizer top under one harness; payload integers from the sidecar."""

    def __init__(self, dut, design, rng, *, stall):
        config = design["config"]
        self.dut = dut
        self.lanes, self.bus_bytes = config["lanes"], config["bus_bytes"]
        self.formats = tuple(design["derived"]["formats"])
        ports = {p["name"]: p for p in design["ports"]}
        self.fields_in = {f["name"]: f for f in ports["i__payload"]["fields"]}
        self.fields_out = {f["name"]: f for f in ports["o__payload"]["fields"]}
        self.harness = StreamHarness(dut, rng)
        self.source = self.harness.source("i", stall=stall)
        self.sink = self.harness.sink("o", stall=stall)
        self.latency = design["derived"]["dequantizer_latency"]

    def packed_in(self, packed, fmt):
        """Payloads of ``i`` for one packed tile of ``fmt``."""
        B = self.bus_bytes
        beats = len(packed) // B
        flags = 0
        for name, on in (("bfp4", fmt == "bfp4"), ("bf16", fmt == "bf16")):
            if name in self.fields_in:
                flags |= int(on) << self.fields_in[name]["offset"]
        last_at = self.fields_in["last"]["offset"]
        return [int.from_bytes(packed[k * B:(k + 1) * B], "little") | flags
                | (int(k == beats - 1) << last_at) for k in range(beats)]

    def values_out(self, payloads):
        """(uint16 values, uint8 last flags) of ``o`` beats."""
        n = 2 * self.lanes
        mask = (1 << (8 * n)) - 1
        data = b"".join((w & mask).to_bytes(n, "little") for w in payloads)
        last_at = self.fields_out["last"]["offset"]
        last = np.array([(w >> last_at) & 1 for w in payloads], np.uint8)
        return np.frombuffer(data, "<u2").astype(np.uint16), last


def tile_formats(formats, count, rng=None):
    """Per tile: the only format, else random (``rng``) or cycling through ``formats``."""
    if rng is None:
        return [formats[i % len(formats)] for i in range(count)]
    return [formats[int(i)] for i in rng.integers(0, len(formats), count)]


def check_values(bench, payloads, packed, formats):
    """Compare ``o`` beats with the golden unpacking of every tile; return (tiles, 32, 32)."""
    values, last = bench.values_out(payloads)
    return check_tiles(values, last, bench.lanes, packed, formats, kv_unpack_tile_bf16_bits)


@cocotb.test()
async def stream(dut):
    """Edge-case, random and decode-sweep tiles in random formats, random stalls."""
    design = load_design()
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    bench = DequantizerBench(dut, design, rng, stall=0.3)
    tiles = edge_tiles() + random_tiles(rng, int(os.environ.get("KV_TILES", "12")))
    formats = tile_formats(bench.formats, len(tiles), rng)
    packed = [kv_pack_tile(t, f) for t, f in zip(tiles, formats)]
    sample = int(os.environ.get("KV_SWEEP_TILES", "8"))
    for fmt in (f for f in bench.formats if f != "bf16"):
        sweep = decode_sweep_tiles(fmt, rng)
        for i in sorted(rng.choice(len(sweep), min(sample, len(sweep)), replace=False)):
            packed.append(sweep[i])
            formats.append(fmt)
    order = rng.permutation(len(packed))
    packed, formats = [packed[i] for i in order], [formats[i] for i in order]
    await bench.harness.start()
    for tile, fmt in zip(packed, formats):
        bench.source.send(bench.packed_in(tile, fmt))
    value_beats = len(packed) * 1024 // bench.lanes
    in_beats = sum(KV_TILE_BYTES[f] for f in formats) // bench.bus_bytes
    dut._log.info("seed %d: %d tiles, formats %s", cocotb.RANDOM_SEED, len(packed),
                  "".join({"bfp8": "8", "bfp4": "4", "bf16": "h"}[f] for f in formats))
    await bench.harness.collect({bench.sink: value_beats}, latency=bench.latency,
                                timeout_cycles=4 * (in_beats + value_beats) + 2000)
    check_values(bench, bench.sink.beats, packed, formats)
    dut._log.info("%d tiles bit-exact in %d cycles", len(packed), bench.harness.cycle)


def _gapless(cycles, what):
    gaps = np.flatnonzero(np.diff(cycles) != 1)
    assert gaps.size == 0, (f"{what}: {gaps.size} gaps, first after beat {gaps[0]} "
                            f"(cycles {cycles[gaps[0]]} -> {cycles[gaps[0] + 1]})")


@cocotb.test()
async def throughput(dut):
    """No stalls: the limiting side never idles; exact latencies per format."""
    design = load_design()
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    bench = DequantizerBench(dut, design, rng, stall=0.0)
    lanes, bus = bench.lanes, bench.bus_bytes
    count = int(os.environ.get("KV_THROUGHPUT_TILES", "4"))
    await bench.harness.start()
    for fmt in bench.formats:
        packed = [kv_pack_tile(t, fmt) for t in random_tiles(rng, count)]
        d0, i0 = len(bench.sink.beats), len(bench.source.accepted)
        for tile in packed:
            bench.source.send(bench.packed_in(tile, fmt))
        tile_beats, value_beats = KV_TILE_BYTES[fmt] // bus, 1024 // lanes
        await bench.harness.collect({bench.sink: d0 + count * value_beats},
                                    latency=bench.latency,
                                    timeout_cycles=4 * count * (tile_beats + value_beats) + 500)
        check_values(bench, bench.sink.beats[d0:], packed, [fmt] * count)
        accepted = np.array(bench.source.accepted[i0:])
        out = np.array(bench.sink.cycles[d0:])
        bus_limited = bus * 1024 < lanes * KV_TILE_BYTES[fmt]
        _gapless(accepted if bus_limited else out,
                 f"{fmt} {'i (bus-limited)' if bus_limited else 'o'}")
        first = tile_beats - 1 if fmt != "bf16" else 2 * lanes // bus - 1
        latency = int(out[0] - accepted[first])
        assert latency == LATENCY[fmt], f"{fmt} latency {latency}, expected {LATENCY[fmt]}"
        rate = count * 1024 / (out[-1] - accepted[0] + 1)
        dut._log.info("%s: %d tiles, %.3f values/cycle (%s-limited), latency %d", fmt, count,
                      rate, "bus" if bus_limited else "lane", latency)
    if len(bench.formats) > 1:
        # format changes back to back, each tile arriving the cycle after the previous one's
        # last beat (a bf16 tile behind a BFP tile waits for the tile store to drain)
        formats = [bench.formats[0]] + [f for _ in range(2) for f in bench.formats[::-1]] \
            + list(bench.formats)
        packed = [kv_pack_tile(t, f) for t, f in zip(random_tiles(rng, len(formats)), formats)]
        d0 = len(bench.sink.beats)
        for tile, fmt in zip(packed, formats):
            bench.source.send(bench.packed_in(tile, fmt))
        value_beats = len(packed) * 1024 // lanes
        await bench.harness.collect({bench.sink: d0 + value_beats}, latency=bench.latency,
                                    timeout_cycles=8 * value_beats + 4000)
        check_values(bench, bench.sink.beats[d0:], packed, formats)
        dut._log.info("format changes %s bit-exact", "".join(f[-1] for f in formats))


@cocotb.test()
async def bench(dut):
    """``hybridgen bench kvcodec`` on a dequantizer: golden-packed x, no stalls."""
    design = load_design()
    with np.load(os.environ["HYBRIDGEN_BENCH_INPUTS"]) as npz:
        x = npz["x"]
    formats = os.environ["KV_BENCH_FORMATS"].split(",")
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    dq = DequantizerBench(dut, design, rng, stall=0.0)
    packed = [kv_pack_tile(t, f) for t, f in zip(x, formats)]
    await dq.harness.start()
    for tile, fmt in zip(packed, formats):
        dq.source.send(dq.packed_in(tile, fmt))
    in_beats = sum(len(p) for p in packed) // dq.bus_bytes
    value_beats = len(x) * 1024 // dq.lanes
    await dq.harness.collect({dq.sink: value_beats}, latency=dq.latency,
                             timeout_cycles=4 * (in_beats + value_beats) + 1000)
    unpacked, _ = dq.values_out(dq.sink.beats)
    first, last = dq.source.accepted[0], dq.sink.cycles[-1]
    measured = {"cycles": last - first + 1, "packer_cycles": 0,
                "dequantizer_cycles": last - first + 1, "in_beats": in_beats,
                "packed_bytes": sum(len(p) for p in packed), "formats": formats}
    np.savez(os.environ["HYBRIDGEN_BENCH_OUTPUTS"],
             unpacked=unpacked.reshape(x.shape).astype(np.uint16),
             measured=np.array(json.dumps(measured)))
