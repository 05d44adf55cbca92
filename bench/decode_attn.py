"""``hybridgen bench decode-attn``: decode attention over a packed KV cache (BFP8, BFP4 or bf16
tiles, dequantized in the read path) by the decode array, bit-exact
:func:`hybridgen.golden.decode_attn.decode_attention_bits` at the array's units and dot 32.

Inputs (the npz keys of issue 14): ``q`` [b, hq, d]; ``k``, ``v`` [b, sk, hkv, d] (bf16 bits
before quantization; NaN / inf / the largest bf16 past each length); ``k_packed``, ``v_packed``
[b, hkv, T, d / 32, tile bytes] (uint8, the bytes in memory, :func:`hybridgen.golden.kvquant.
pack_kv_cache`); ``cache_lens`` int32 [b]. Output ``o`` [b, hq, d] (bf16 bits, read back from
channel 0). ``correct`` compares o bit-exactly and requires every guard byte around o (and over
the o region of every other channel) to survive.

Memory as ``bench gemv``: one AXI4 port per channel, fixed latency (``--latency``, default 128),
no random stalls, half duplex, ideal otherwise (no refresh, no banks).

Figures: ``bytes`` = the packed K and V tiles read (tiles past a length are not read) + q + o
(:func:`hybridgen.golden.decode_attn.decode_attention_bytes`), ``bandwidth_utilization =
utilization = bytes / (peak x cycles)``; ``kv_bytes`` (the K and V tiles), ``kv_bytes_bf16``
(the same tiles as bf16) and ``kv_bytes_saved`` (their ratio: 1.88 for BFP8); MACs ``2 b hq
sum(len) d`` (QK and PV), ``compute_utilization``, ``roofline_cap``.
"""


from hybridgen.gen.errors import ConfigError, UserError

from .memory_bound import MemoryBoundKernel

__all__ = ["DecodeAttnKernel"]

FORMATS = ("bfp8", "bfp4", "bf16")


class DecodeAttnKernel(MemoryBoundKernel):
    """Decode attention over a BFP8/BFP4/bf16 KV cache on the decode array."""

    name = "decode-attn"
    blocks = ("decode",)
    testbench = "hybridgen.verif.decode.tb_attn"
    testcase = "bench"
    input_keys = ("q", "k", "v", "k_packed", "v_packed", "cache_lens")
    latency_env = "ATTN_LATENCY"

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=1, help="batch b (default 1)")
        parser.add_argument("--sk", type=int, default=256, help="cache positions (default 256)")
        parser.add_argument("--hq", type=int, default=2, help="q heads (default 2)")
        parser.add_argument("--hkv", type=int, default=1, help="kv heads (default 1)")
        parser.add_argument("--d", type=int, default=64, help="head dimension (default 64)")
        parser.add_argument("--kv-format", dest="kv_format", default="bfp8", choices=FORMATS,
                            help="KV cache format in memory (default bfp8)")
        parser.add_argument("--cache-lens", dest="cache_lens", default=None,
                            help="comma-separated lengths, one per batch element (default sk)")
        self.add_latency_argument(parser)

    def _check(self, config, b, sk, hq, hkv, d, fmt, lens):
        if not config.attn_heads:
            raise ConfigError("--preset", "this preset has no decode-attention hardware "
                                          "(attn_heads = 0)")
        if not 1 <= b <= config.max_batch:
            raise ConfigError("--batch", f"must be in 1..{config.max_batch} (max_batch), not {b}")
        if not 1 <= sk < 1 << 20:
            raise ConfigError("--sk", f"must be in 1..{(1 << 20) - 1}, not {sk}")
        if not 1 <= hkv <= 65535:
            raise ConfigError("--hkv", f"must be in 1..65535, not {hkv}")
        if hq < 1 or hq % hkv or hq // hkv > config.attn_heads:
            raise ConfigError("--hq", f"must be hkv x g with g in 1..{config.attn_heads} "
                                      f"(attn_heads), not {hq}")
        max_d = config.geometry.attn_max_d
        if d < 32 or d % 32 or d > max_d:
            raise ConfigError("--d", f"must be a multiple of 32 in 32..{max_d}, not {d}")
        if fmt not in config.geometry.kv_formats:
            raise ConfigError("--kv-format", f"must be one of "
                                             f"{', '.join(config.geometry.kv_formats)} "
                                             f"(kv_formats), not {fmt}")
        if len(lens) != b or any(not 0 <= n <= sk for n in lens):
            raise ConfigError("--cache-lens", f"must be {b} lengths in 0..{sk}, not "
                                              f"{','.join(str(n) for n in lens)}")

    def shape(self, args, config):
        try:
            lens = ([args.sk] * args.batch if args.cache_lens is None
                    else [int(v) for v in args.cache_lens.split(",")])
        except ValueError:
            raise ConfigError("--cache-lens", f"must be comma-separated integers, not "
                                              f"{args.cache_lens!r}") from None
        self._check(config, args.batch, args.sk, args.hq, args.hkv, args.d, args.kv_format,
                    lens)
        self.take_latency(args)
        self._fmt = args.kv_format
        return {"batch": args.batch, "sk": args.sk, "hq": args.hq, "hkv": args.hkv,
                "d": args.d, "kv_format": args.kv_format, "cache_lens": lens}

    def formats(self, config):
        bf = "uint16 bf16"
        return {"q": bf, "k": bf, "v": bf, "k_packed": "uint8 bytes",
                "v_packed": "uint8 bytes", "cache_lens": "int32", "o": bf}

    def make_inputs(self, rng, config, shape):
        from hybridgen.golden.decode_attn import decode_attention_case
        case = decode_attention_case(rng, b=shape["batch"], sk=shape["sk"], hq=shape["hq"],
                                     hkv=shape["hkv"], d=shape["d"], fmt=shape["kv_format"],
                                     cache_lens=shape["cache_lens"], units=config.units, dot=32)
        case.pop("o")
        return case

    def shape_of_inputs(self, inputs, config):
        from hybridgen.golden.kvquant import KV_TILE_BYTES
        q, k, kp = inputs["q"], inputs["k"], inputs["k_packed"]
        if q.ndim != 3 or k.ndim != 4 or kp.ndim != 5:
            raise UserError(f"--inputs: q must be [b, hq, d], k [b, sk, hkv, d] and k_packed "
                            f"[b, hkv, T, d/32, tile bytes], not {q.shape}, {k.shape}, "
                            f"{kp.shape}")
        fmts = [f for f in FORMATS if KV_TILE_BYTES[f] == kp.shape[-1]]
        if not fmts:
            raise UserError(f"--inputs: k_packed tiles of {kp.shape[-1]} bytes are no KV format")
        b, hq, d = (int(v) for v in q.shape)
        sk, hkv = int(k.shape[1]), int(k.shape[2])
        lens = [int(n) for n in inputs["cache_lens"]]
        self._check(config, b, sk, hq, hkv, d, fmts[0], lens)
        self._fmt = fmts[0]
        return {"batch": b, "sk": sk, "hq": hq, "hkv": hkv, "d": d, "kv_format": fmts[0],
                "cache_lens": lens}

    def environment(self):
        return {**super().environment(), "ATTN_KV_FORMAT": getattr(self, "_fmt", "bfp8")}

    def golden(self, config, inputs):
        from hybridgen.golden.decode_attn import decode_attention_bits
        return {"o": decode_attention_bits(inputs["q"], inputs["k_packed"], inputs["v_packed"],
                                           inputs["cache_lens"], self._fmt, units=config.units,
                                           dot=32)}

    def useful_bytes(self, config, shape):
        from hybridgen.golden.decode_attn import decode_attention_bytes
        return decode_attention_bytes(shape["batch"], shape["hq"], shape["hkv"], shape["d"],
                                      shape["cache_lens"], shape["kv_format"])

    def useful_macs(self, config, shape):
        """QK and PV: ``2 hq d`` per valid position of every batch element."""
        return 2 * shape["hq"] * shape["d"] * sum(shape["cache_lens"])

    def extra_figures(self, config, shape, inputs):
        from hybridgen.golden.decode_attn import decode_attention_bytes
        args = (shape["batch"], shape["hq"], shape["hkv"], shape["d"], shape["cache_lens"])
        vectors = 4 * shape["batch"] * shape["hq"] * shape["d"]
        kv = decode_attention_bytes(*args, shape["kv_format"]) - vectors
        kv16 = decode_attention_bytes(*args, "bf16") - vectors
        return {"kv_format": shape["kv_format"], "kv_bytes": kv, "kv_bytes_bf16": kv16,
                "kv_bytes_saved": round(kv16 / kv, 4) if kv else 1.0}
