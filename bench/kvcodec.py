"""``hybridgen bench kvcodec``: T bf16 tiles packed by the RTL packer, then dequantized by the
RTL dequantizer from the bytes the packer emitted (the KV link of HMA-Serve; byte format:
docs/bfp.md).

Inputs: ``x`` (uint16 bf16, shape ``(T, 32, 32)``, tiles in order, each row-major). Outputs:
``packed`` (uint8, the packer's bytes, tiles back to back), ``unpacked`` (uint16 bf16,
``(T, 32, 32)``, the dequantizer's output). ``correct`` compares both with
:func:`hybridgen.golden.kvquant.bfp_pack_tile` / :func:`~hybridgen.golden.kvquant.bfp_unpack_tile_bf16_bits`.

Tile formats: the configured one (``--format bfp8|bfp4``, an alias of ``--set format=...``);
with ``format = "both"`` (run-time choice) tiles alternate BFP8, BFP4, BFP8, ...

On a dequantizer preset (``unit = "dequantizer"``, e.g. ``kv-decode``: the decode read path,
up to 128 lanes, bf16 pass-through) the golden model packs ``x`` and the testbench
(``hybridgen.verif.kv.tb_dequantizer``) streams the bytes into the dequantizer; tiles cycle
through the configured formats (BFP8, BFP4, bf16) or are all ``--tile-format F``; the outputs
are ``unpacked`` only, ``shape`` adds ``tile_format``, and the figures add
``bytes_per_cycle`` / ``bus_utilization`` (packed bytes accepted per cycle, over
``bus_bytes``): 1.0 means the dequantizer keeps the packed bus busy every cycle.

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

_TILE_BYTES = {"bfp8": 1088, "bfp4": 576, "bf16": 2048}


def _tile_formats(config, tiles, tile_format="cycle"):
    if config.unit == "dequantizer":
        if tile_format != "cycle":
            return [tile_format] * tiles
        return [config.formats[i % len(config.formats)] for i in range(tiles)]
    if config.format != "both":
        return [config.format] * tiles
    return ["bfp8" if i % 2 == 0 else "bfp4" for i in range(tiles)]


class KvCodecKernel(Kernel):
    """BF16 -> BFP8/BFP4 packing and the BFP -> BF16 dequantizer on T tiles."""

    name = "kvcodec"
    blocks = ("kv",)
    aliases = ("format",)
    testbench = "hybridgen.verif.kv.tb_kv"
    testcase = "bench"
    input_keys = ("x",)
    _env = {}

    def add_arguments(self, parser):
        parser.add_argument("--tiles", type=int, default=64,
                            help="number of 32x32 tiles (default 64)")
        parser.add_argument("--format", choices=("bfp8", "bfp4", "both"),
                            help="alias of --set format=...")
        parser.add_argument("--tile-format", choices=("bfp8", "bfp4", "bf16"),
                            help="dequantizer presets: every tile in this format (default: "
                                 "cycle through the configured formats)")

    def _check_config(self, config, tile_format="cycle"):
        if config.unit not in ("codec", "dequantizer"):
            raise ConfigError("unit", f"must be 'codec' or 'dequantizer' for bench kvcodec, "
                                      f"not {config.unit!r}")
        if tile_format != "cycle" and config.unit != "dequantizer":
            raise ConfigError("--tile-format", "needs a dequantizer preset (unit = "
                                               "'dequantizer')")
        if tile_format != "cycle" and tile_format not in config.formats:
            raise ConfigError("--tile-format", f"must be one of the configured formats "
                                               f"{', '.join(config.formats)}, not {tile_format}")
        # the testbench of the top: both units, or the dequantizer alone
        self.testbench = ("hybridgen.verif.kv.tb_dequantizer" if config.unit == "dequantizer"
                          else "hybridgen.verif.kv.tb_kv")
        self._env = {}

    def _shape(self, config, tiles, tile_format):
        self._check_config(config, tile_format)
        if config.unit != "dequantizer":
            return {"tiles": tiles}
        self._env = {"KV_BENCH_FORMATS": ",".join(_tile_formats(config, tiles, tile_format))}
        return {"tiles": tiles, "tile_format": tile_format}

    def environment(self):
        return dict(self._env)

    def shape(self, args, config):
        self._check_config(config, args.tile_format or "cycle")
        if not 1 <= args.tiles <= 100_000:
            raise ConfigError("--tiles", f"must be an integer in 1..100000, not {args.tiles}")
        return self._shape(config, args.tiles, args.tile_format or "cycle")

    def formats(self, config):
        if config.unit == "dequantizer":
            return {"x": "uint16 bf16", "unpacked": "uint16 bf16"}
        return {"x": "uint16 bf16", "packed": "uint8 bytes", "unpacked": "uint16 bf16"}

    def make_inputs(self, rng, config, shape):
        from hybridgen.verif.kv.tiles import random_tiles
        return {"x": np.stack(random_tiles(rng, shape["tiles"])).astype(np.uint16)}

    def shape_of_inputs(self, inputs, config):
        self._check_config(config)
        x = inputs["x"]
        if x.ndim != 3 or x.shape[1:] != (32, 32) or x.shape[0] < 1:
            raise UserError(f"--inputs: x must have shape (tiles, 32, 32), not {x.shape}")
        return self._shape(config, int(x.shape[0]), "cycle")

    def golden(self, config, inputs):
        from hybridgen.golden.kvquant import bfp_pack_tile, bfp_unpack_tile_bf16_bits
        if config.unit == "dequantizer":
            from hybridgen.golden.kvquant import kv_pack_tile, kv_unpack_tile_bf16_bits
            formats = self._env["KV_BENCH_FORMATS"].split(",")
            return {"unpacked": np.stack([kv_unpack_tile_bf16_bits(kv_pack_tile(t, f), f)
                                          for t, f in zip(inputs["x"], formats)])}
        packed, unpacked = [], []
        for tile, fmt in zip(inputs["x"], _tile_formats(config, len(inputs["x"]))):
            data = bfp_pack_tile(tile, fmt, bf16_bits=True)
            packed.append(np.frombuffer(data, np.uint8))
            unpacked.append(bfp_unpack_tile_bf16_bits(data, fmt))
        return {"packed": np.concatenate(packed),
                "unpacked": np.stack(unpacked).astype(np.uint16)}

    def ideal_cycles(self, config, shape):
        return sum(max(1024 // config.lanes, _TILE_BYTES[fmt] // config.bus_bytes)
                   for fmt in _tile_formats(config, shape["tiles"],
                                            shape.get("tile_format", "cycle")))

    def figures(self, config, shape, inputs, outputs, measured):
        values = 1024 * shape["tiles"]
        if config.unit == "dequantizer":
            return self._dequantizer_figures(config, values, measured)
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

    def _dequantizer_figures(self, config, values, measured):
        cycles = measured["dequantizer_cycles"]
        packed_bytes = measured["packed_bytes"]
        rate = round(values / cycles, 4) if cycles else 0.0
        per_cycle = packed_bytes / cycles if cycles else 0.0
        return {
            "lanes": config.lanes,
            "bus_bytes": config.bus_bytes,
            "formats": list(config.formats),
            "values_per_cycle": rate,
            "values_per_cycle_per_lane": round(rate / config.lanes, 4),
            "dequantizer": {"cycles": cycles, "values_per_cycle": rate},
            "packed_bytes": packed_bytes,
            "bytes_per_cycle": round(per_cycle, 4),
            "bus_utilization": round(per_cycle / config.bus_bytes, 4),
            "bytes_per_value": round(packed_bytes / values, 6),
            "compression_vs_bf16": round(2 * values / packed_bytes, 4) if packed_bytes else 0.0,
        }
