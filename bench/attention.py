"""``hybridgen bench attention``: PipeFlash attention run by the URSC core out of AXI memory.

Inputs ``q`` [b, sq, hq, d], ``k`` and ``v`` [b, sk, hkv, d] (uint16 bf16 bit patterns); output
``o`` [b, sq, hq, d] (uint16 bf16), read back from the memory model after the core's completion;
``correct`` compares it with :func:`hybridgen.golden.ursc.ursc_attention` (bit-exact, the
hardware's order) and requires the guard bytes around O to survive. ``--causal`` (bottom-right
aligned), ``--scale`` (default ``1/sqrt(d)``, rounded to fp32), ``--block-q`` / ``--block-k``
(default 128, clipped to sq / sk), ``--read-latency`` (default 100 cycles, no random stalls).

Figures: ``cycles`` (testbench: descriptor accepted -> last write response; the core's counter
must agree), ``useful_macs`` (:func:`hybridgen.golden.ursc.attention_useful_macs`),
``ideal_cycles = ceil(useful / peak)`` with ``peak`` the MACs per cycle of both DPEs,
``utilization``, the busy fraction of each engine, the stall classes (they add up to
``cycles``), bytes moved, and the analytic figure of :func:`~hybridgen.golden.ursc.pipeflash_schedule`
for the same shape (what the overlapped schedule would reach).
"""

import json

import numpy as np

from hybridgen.gen.errors import ConfigError, UserError

from .kernel import Kernel

__all__ = ["AttentionKernel"]

_LIMITS = {"batch": (1, 65535), "sq": (1, 1 << 20), "sk": (1, 1 << 20), "hq": (1, 255),
           "hkv": (1, 255), "d": (16, 256), "block_q": (1, 65535), "block_k": (1, 65535)}


class AttentionKernel(Kernel):
    """Attention (PipeFlash) of Q, K, V on the URSC core; compute utilization."""

    name = "attention"
    blocks = ("ursc",)
    testbench = "hybridgen.verif.ursc.tb_attention"
    testcase = "bench"
    input_keys = ("q", "k", "v")

    def add_arguments(self, parser):
        for flag, default in (("batch", 1), ("sq", 128), ("sk", 128), ("hq", 2), ("hkv", 2),
                              ("d", 64)):
            parser.add_argument(f"--{flag}", type=int, default=default,
                                help=f"{flag} (default {default})")
        parser.add_argument("--causal", action="store_true", help="bottom-right causal mask")
        parser.add_argument("--block-q", type=int, default=128, dest="block_q",
                            help="query rows per block (default 128, clipped to sq)")
        parser.add_argument("--block-k", type=int, default=128, dest="block_k",
                            help="keys per block (default 128, clipped to sk)")
        parser.add_argument("--scale", type=float, default=None,
                            help="softmax scale (default 1/sqrt(d))")
        parser.add_argument("--read-latency", type=int, default=100, dest="read_latency",
                            help="memory read latency in cycles (default 100)")

    def _check(self, config, values):
        from hybridgen.rtl.ursc.core import core_errors
        for name, value in values.items():
            low, high = _LIMITS[name]
            if not low <= value <= high:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(flag, f"must be an integer in {low}..{high}, not {value}")
        if values["hq"] % values["hkv"]:
            raise ConfigError("--hq", f"must be a multiple of --hkv ({values['hkv']}), not "
                                      f"{values['hq']}")
        code = core_errors(config, b=values["batch"], sq=values["sq"], sk=values["sk"],
                           hq=values["hq"], hkv=values["hkv"], d=values["d"],
                           block_q=values["block_q"], block_k=values["block_k"], scale=0)
        if code:
            raise ConfigError("--block-k", f"blocks {values['block_q']} x {values['block_k']} "
                                           f"at d = {values['d']} do not fit the memories of "
                                           f"this configuration ({code!r})")

    def shape(self, args, config):
        block_q, block_k = min(args.block_q, args.sq), min(args.block_k, args.sk)
        self._check(config, {"batch": args.batch, "sq": args.sq, "sk": args.sk, "hq": args.hq,
                             "hkv": args.hkv, "d": args.d, "block_q": block_q,
                             "block_k": block_k})
        if not 0 <= args.read_latency <= 1000:
            raise ConfigError("--read-latency", f"must be in 0..1000, not {args.read_latency}")
        if args.scale is not None and not np.isfinite(np.float32(args.scale)):
            raise ConfigError("--scale", f"must be a finite fp32 value, not {args.scale}")
        self._params = {"causal": bool(args.causal), "block_q": block_q, "block_k": block_k,
                        "scale": self._scale_bits(args.scale, args.d)}
        self._latency = args.read_latency
        return {"b": args.batch, "sq": args.sq, "sk": args.sk, "hq": args.hq, "hkv": args.hkv,
                "d": args.d, "causal": bool(args.causal)}

    @staticmethod
    def _scale_bits(scale, d):
        from hybridgen.golden.ursc import _f32
        return int(_f32(1.0 / np.sqrt(d) if scale is None else np.float32(scale)))

    def formats(self, config):
        return {key: "uint16 bf16" for key in ("q", "k", "v", "o")}

    def make_inputs(self, rng, config, shape):
        from hybridgen.verif.ursc.attention import random_qkv
        q, k, v = random_qkv(rng, shape["b"], shape["sq"], shape["sk"], shape["hq"],
                             shape["hkv"], shape["d"])
        return {"q": q, "k": k, "v": v}

    def shape_of_inputs(self, inputs, config):
        q, k, v = inputs["q"], inputs["k"], inputs["v"]
        if q.ndim != 4 or k.ndim != 4 or k.shape != v.shape or k.shape[0] != q.shape[0] \
                or k.shape[3] != q.shape[3]:
            raise UserError(f"--inputs: need q [b, sq, hq, d], k and v [b, sk, hkv, d]; got "
                            f"{q.shape}, {k.shape}, {v.shape}")
        b, sq, hq, d = (int(x) for x in q.shape)
        sk, hkv = int(k.shape[1]), int(k.shape[2])
        params = getattr(self, "_params", None) or {"causal": False, "block_q": 128,
                                                    "block_k": 128, "scale": None}
        block_q, block_k = min(params["block_q"], sq), min(params["block_k"], sk)
        self._check(config, {"batch": b, "sq": sq, "sk": sk, "hq": hq, "hkv": hkv, "d": d,
                             "block_q": block_q, "block_k": block_k})
        self._params = {**params, "block_q": block_q, "block_k": block_k,
                        "scale": params["scale"] if params["scale"] is not None
                        else self._scale_bits(None, d)}
        self._latency = getattr(self, "_latency", 100)
        return {"b": b, "sq": sq, "sk": sk, "hq": hq, "hkv": hkv, "d": d,
                "causal": params["causal"]}

    def environment(self):
        return {"ATTENTION_READ_LATENCY": str(getattr(self, "_latency", 100)),
                "ATTENTION_PARAMS": json.dumps(self._params)}

    def golden(self, config, inputs):
        from hybridgen.golden.ursc import ursc_attention
        p = self._params
        return {"o": ursc_attention(inputs["q"], inputs["k"], inputs["v"], causal=p["causal"],
                                    scale=np.uint32(p["scale"]), block_q=p["block_q"],
                                    block_k=p["block_k"], config=config)}

    def ideal_cycles(self, config, shape):
        return -(-self._useful(shape) // config.peak_macs_per_cycle)

    @staticmethod
    def _useful(shape):
        from hybridgen.golden.ursc import attention_useful_macs
        return int(attention_useful_macs(shape["b"], shape["sq"], shape["sk"], shape["hq"],
                                         shape["d"], shape["causal"]))

    def measured_ok(self, measured):
        return bool(measured["guard_ok"]) and measured["counter_cycles"] == measured["cycles"]

    def figures(self, config, shape, inputs, outputs, measured):
        from hybridgen.golden.ursc import pipeflash_schedule
        from hybridgen.rtl.ursc.memories import CoreGeometry
        from hybridgen.rtl.ursc.pipeflash import SCHEDULE
        double = bool(CoreGeometry.of(config).kv_double(block_k=self._params["block_k"],
                                                       d=shape["d"]))
        buffering = ("K/V double-buffered (a block fits half the operand memory)" if double else
                     "K/V single-buffered (a block needs more than half the operand memory: "
                     "the next block's K waits for S, its V for P V of the block before)")
        cycles = measured["cycles"]
        useful = self._useful(shape)
        peak = config.peak_macs_per_cycle
        stalls = ("dpe_cycles", "stall_load", "stall_dpe", "stall_softmax", "stall_update",
                  "stall_store", "stall_control")
        analytic = pipeflash_schedule(config, b=shape["b"], sq=shape["sq"], sk=shape["sk"],
                                      hq=shape["hq"], hkv=shape["hkv"], d=shape["d"],
                                      causal=shape["causal"], block_q=self._params["block_q"],
                                      block_k=self._params["block_k"])
        return {
            "schedule": f"{SCHEDULE}; {buffering}", "kv_double": double,
            "block_q": self._params["block_q"], "block_k": self._params["block_k"],
            "read_latency": measured["read_latency"], "useful_macs": useful,
            "peak_macs_per_cycle": peak,
            "utilization_exact": round(useful / (peak * cycles), 6) if cycles else 0.0,
            "counter_cycles": measured["counter_cycles"],
            "busy": {name: round(measured[f"{name}_busy"] / cycles, 6) if cycles else 0.0
                     for name in ("dpe0", "dpe1", "rvpe", "upe")},
            "busy_cycles": {name: measured[f"{name}_busy"] for name in
                            ("dpe0", "dpe1", "rvpe", "upe")},
            "stalls": {name: measured[name] for name in stalls},
            "useful_bytes": {"read": measured["read_bytes"], "written": measured["write_bytes"]},
            "dram_bytes": measured["bus_bytes_read"] + measured["bus_bytes_written"],
            "analytic_utilization": round(float(analytic["utilization"]), 6),
            "guard_ok": measured["guard_ok"],
        }
