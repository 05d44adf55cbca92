"""``hybridgen bench kvcodec``: T bf16 tiles packed by the RTL packer, then dequantized by the
RTL dequantizer from the bytes the packer emitted (the KV link of HMA-Serve; byte format:
docs/bfp.md).

Inputs: ``x`` (uint16 bf16, shape ``(T, 32, 32)``, tiles in order, each row-major). Outputs:
``packed`` (uint8, the packer's bytes, tiles back to back), ``unpacked`` (uint16 bf16,
``(T, 32, 32)``, the dequantizer's output). ``correct`` compares both with
:func:`hybridgen.golden.kvquant.bfp_pack_tile` / :func:`~hybridgen.golden.kvquant.bfp_unpack_tile_bf16_bits`.

Tile formats: the configured one (``--format bfp8|bfp4``, an alias of ``--set format=...``);
with ``format = "both"`` (run-time choice) tiles alternate BFP8, BFP4, BFP8, ...

The testbench runs both units at once without stalls, the packed beats forwarded to the
dequantizer as they leave the packer. Figures:

* ``cycles``: first input accepted by the packer to last value out of the dequantizer (both
  units and the link, end to end); ``ideal_cycles``: per tile the slower of ``1024 / lanes``
  and ``tile bytes / bus_bytes``, summed (the streaming time at peak, without fill latency);
* ``packer`` / ``dequantizer``: each unit's ``cycles`` from its first accepted input to its
  last output over all tiles, and ``values_per_cycle = 1024 T / cycles``;
* ``values_per_cycle``: the smaller of the two units' figures (the rate both sustain);
  ``end_to_end_values_per_cycle``: ``1024 T / cycles``;
* ``bytes_per_value``, ``compression_vs_bf16``: from the number of bytes the RTL packer emitted.
"""

import numpy as np

from hybridgen.gen.errors import ConfigError, UserError

from .kernel import Kernel

__all__ = ["KvCodecKernel"]

_TILE_BYTES = {"bfp8": 1088, "bfp4": 576}


def _tile_formats(config, tiles):
    if config.format != "both":
        return [config.format] * tiles
    return ["bfp8" if i % 2 == 0 else "bfp4" for i in range(tiles)]


class KvCodecKernel(Kernel):
    name = "kvcodec"
    blocks = ("kv",)
    aliases = ("format",)
    testbench = "hybridgen.verif.kv.tb_kv"
    testcase = "bench"
    input_keys = ("x",)

    def add_arguments(self, parser):
        parser.add_argument("--tiles", type=int, default=64,
                            help="number of 32x32 tiles (default 64)")
        parser.add_argument("--format", choices=("bfp8", "bfp4", "both"),
                            help="alias of --set format=...")

    def _check_config(self, config):
        if config.unit != "codec":
            raise ConfigError("unit", f"must be 'codec' for bench kvcodec, not {config.unit!r}")

    def shape(self, args, config):
        self._check_config(config)
        if not 1 <= args.tiles <= 100_000:
            raise ConfigError("--tiles", f"must be an integer in 1..100000, not {args.tiles}")
        return {"tiles": args.tiles}

    def formats(self, config):
        return {"x": "uint16 bf16", "packed": "uint8 bytes", "unpacked": "uint16 bf16"}

    def make_inputs(self, rng, config, shape):
        from hybridgen.verif.kv.tiles import random_tiles
        return {"x": np.stack(random_tiles(rng, shape["tiles"])).astype(np.uint16)}

    def shape_of_inputs(self, inputs, config):
        self._check_config(config)
        x = inputs["x"]
        if x.ndim != 3 or x.shape[1:] != (32, 32) or x.shape[0] < 1:
            raise UserError(f"--inputs: x must have shape (tiles, 32, 32), not {x.shape}")
        return {"tiles": int(x.shape[0])}

    def golden(self, config, inputs):
        from hybridgen.golden.kvquant import bfp_pack_tile, bfp_unpack_tile_bf16_bits
        packed, unpacked = [], []
        for tile, fmt in zip(inputs["x"], _tile_formats(config, len(inputs["x"]))):
            data = bfp_pack_tile(tile, fmt, bf16_bits=True)
            packed.append(np.frombuffer(data, np.uint8))
            unpacked.append(bfp_unpack_tile_bf16_bits(data, fmt))
        return {"packed": np.concatenate(packed),
                "unpacked": np.stack(unpacked).astype(np.uint16)}

    def ideal_cycles(self, config, shape):
        return sum(max(1024 // config.lanes, _TILE_BYTES[fmt] // config.bus_bytes)
                   for fmt in _tile_formats(config, shape["tiles"]))

    def figures(self, config, shape, inputs, outputs, measured):
        values = 1024 * shape["tiles"]
        packed_bytes = int(outputs["packed"].size)

        def rate(cycles):
            return round(values / cycles, 4) if cycles else 0.0

        packer = {"cycles": measured["packer_cycles"],
                  "values_per_cycle": rate(measured["packer_cycles"])}
        dequantizer = {"cycles": measured["dequantizer_cycles"],
                       "values_per_cycle": rate(measured["dequantizer_cycles"])}
        return {
            "lanes": config.lanes,
            "bus_bytes": config.bus_bytes,
            "format": config.format,
            "values_per_cycle": min(packer["values_per_cycle"],
                                    dequantizer["values_per_cycle"]),
            "values_per_cycle_per_lane": round(min(packer["values_per_cycle"],
                                                   dequantizer["values_per_cycle"])
                                               / config.lanes, 4),
            "end_to_end_values_per_cycle": rate(measured["cycles"]),
            "packer": packer,
            "dequantizer": dequantizer,
            "packed_bytes": packed_bytes,
            "bytes_per_value": round(packed_bytes / values, 6),
            "compression_vs_bf16": round(2 * values / packed_bytes, 4) if packed_bytes else 0.0,
        }
