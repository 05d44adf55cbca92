"""cocotb testbench of :class:`hybridgen.rtl.kv.feeder.KvScoreFeeder` (packed K tiles in, per-lane
K chunks out), driven from ``tests/kv/test_feeder_cocotb.py`` on a design built from the
component (parameters in the sidecar's ``feeder`` entry: ``lanes``, ``bus_bytes``, ``formats``,
``dot``, ``heads``, ``dim_tiles``).

``stream``: ``$KV_GROUPS`` (default 4) position tile groups of random tiles in random formats,
random stalls (p = 0.3) on ``i`` and ``o``; every output beat compared with the golden
dequantization (:func:`hybridgen.golden.kvquant.kv_unpack_tile_bf16_bits`): lane ``p`` of beat
(chunk c of dim tile j, head h) holds ``K_j[p, c dot .. + dot - 1]``; ``head``, ``chunk`` and
``last`` fields checked; a missing or extra beat fails. Then the same without stalls: the
input is accepted every cycle in the formats where the bus is the limit.
"""

import os

import numpy as np

import cocotb

from hybridgen.golden.kvquant import KV_TILE_BYTES, kv_pack_tile, kv_unpack_tile_bf16_bits
from hybridgen.verif.kv.tb_dequantizer import tile_formats
from hybridgen.verif.kv.tiles import random_tiles
from hybridgen.verif.stream import StreamHarness, load_design


def _fields(design, port):
    return {f["name"]: f for f in {p["name"]: p for p in design["ports"]}[port]["fields"]}


def _packed_beats(params, fields, packed, fmt):
    B = params["bus_bytes"]
    beats = len(packed) // B
    flags = 0
    for name, on in (("bfp4", fmt == "bfp4"), ("bf16", fmt == "bf16")):
        if name in fields:
            flags |= int(on) << fields[name]["offset"]
    return [int.from_bytes(packed[k * B:(k + 1) * B], "little") | flags
            | (int(k == beats - 1) << fields["last"]["offset"]) for k in range(beats)]


def _expected(params, tiles):
    """(k [beats, 32, dot], head, chunk, last) of the groups' tiles (dequantized)."""
    dot, heads, D = params["dot"], params["heads"], params["dim_tiles"]
    chunks = 32 // dot
    ks, head, chunk, last = [], [], [], []
    for n, tile in enumerate(tiles):
        j = n % D
        for c in range(chunks):
            for h in range(heads):
                ks.append(tile[:, c * dot:(c + 1) * dot])
                head.append(h)
                chunk.append(j * chunks + c)
                last.append(int(j == D - 1 and c == chunks - 1 and h == heads - 1))
    return np.array(ks), np.array(head), np.array(chunk), np.array(last)


def _check(params, fields, payloads, tiles):
    k_want, head, chunk, last = _expected(params, tiles)
    assert len(payloads) == len(k_want), f"{len(payloads)} beats, expected {len(k_want)}"
    dot = params["dot"]
    kf = fields["k"]
    for n, word in enumerate(payloads):
        k = (word >> kf["offset"]) & ((1 << kf["width"]) - 1)
        got = np.frombuffer(k.to_bytes(kf["width"] // 8, "little"), "<u2").reshape(32, dot)
        if not np.array_equal(got, k_want[n]):
            p, e = np.argwhere(got != k_want[n])[0]
            raise AssertionError(f"beat {n}: lane {p} value {e}: rtl {int(got[p, e]):#06x} "
                                 f"golden {int(k_want[n][p, e]):#06x}")
        for name, want in (("head", head), ("chunk", chunk), ("last", last)):
            f = fields[name]
            value = (word >> f["offset"]) & ((1 << f["width"]) - 1)
            if params["heads"] == 1 and name == "head":
                continue
            assert value == want[n], f"beat {n}: {name} {value}, expected {want[n]}"


async def _run(dut, rng, stall, groups, formats=None):
    design = load_design()
    params = design["feeder"]
    fields_in, fields_out = _fields(design, "i__payload"), _fields(design, "o__payload")
    harness = StreamHarness(dut, rng)
    source = harness.source("i", stall=stall)
    sink = harness.sink("o", stall=stall)
    count = groups * params["dim_tiles"]
    formats = tile_formats(tuple(formats or params["formats"]), count, rng)
    bits = random_tiles(rng, count)
    packed = [kv_pack_tile(t, f) for t, f in zip(bits, formats)]
    tiles = [kv_unpack_tile_bf16_bits(p, f) for p, f in zip(packed, formats)]
    await harness.start()
    for p, f in zip(packed, formats):
        source.send(_packed_beats(params, fields_in, p, f))
    beats = count * 32 // params["dot"] * params["heads"]
    in_beats = sum(KV_TILE_BYTES[f] for f in formats) // params["bus_bytes"]
    await harness.collect({sink: beats}, latency=8, timeout_cycles=4 * (beats + in_beats) + 500)
    _check(params, fields_out, sink.beats, tiles)
    dut._log.info("seed %d: %d groups (formats %s), %d beats bit-exact in %d cycles, stall %.1f",
                  cocotb.RANDOM_SEED, groups, "".join(f[-1] for f in formats), beats,
                  harness.cycle, stall)
    return source, formats


@cocotb.test()
async def stream(dut):
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    await _run(dut, rng, 0.3, int(os.environ.get("KV_GROUPS", "4")))


@cocotb.test()
async def throughput(dut):
    """No stalls, tiles in the formats the packed bus limits (bus beats >= the dequantizer's
    value beats and the feeder's output beats per tile): the input is accepted every cycle."""
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    params = load_design()["feeder"]
    limit = max(32 // params["dot"] * params["heads"], 1024 // params["lanes"])
    bus_limited = [f for f in params["formats"]
                   if KV_TILE_BYTES[f] // params["bus_bytes"] >= limit]
    assert bus_limited, "no format is bus-limited in this geometry"
    source, formats = await _run(dut, rng, 0.0, 2, formats=bus_limited)
    accepted = np.array(source.accepted)
    gaps = np.flatnonzero(np.diff(accepted) != 1)
    assert gaps.size == 0, f"input gaps after beats {gaps[:5]} (formats {formats})"
