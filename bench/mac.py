"""``hybridgen bench mac``: N independent multiply-accumulates streamed through the MAC unit.

Saved keys: ``a``, ``b`` (uint16 bf16 or int8), ``acc_in`` (uint32 fp32 or int32), ``out``
(uint32 fp32 or int32, from the RTL). One result per cycle is the peak, so
``ideal_cycles = n``; ``cycles`` runs from the first accepted input to the last accepted output
and so includes the pipeline latency once.
"""

import numpy as np

from hybridgen.gen.errors import ConfigError, UserError

from .kernel import Kernel

__all__ = ["MacKernel"]


class MacKernel(Kernel):
    """One MAC (int8 or bf16) on N operand triples, one per cycle."""

    name = "mac"
    blocks = ("mac",)
    aliases = ("dtype",)
    testbench = "hybridgen.verif.arith.tb_mac"
    testcase = "bench"
    input_keys = ("a", "b", "acc_in")

    def add_arguments(self, parser):
        parser.add_argument("--n", type=int, default=4096, help="number of MACs (default 4096)")
        parser.add_argument("--dtype", choices=("int8", "bf16"),
                            help="alias of --set dtype=...")

    def shape(self, args, config):
        if not 1 <= args.n <= 10_000_000:
            raise ConfigError("--n", f"must be an integer in 1..10000000, not {args.n}")
        return {"n": args.n}

    def formats(self, config):
        if config.dtype == "int8":
            return {"a": "int8", "b": "int8", "acc_in": "int32", "out": "int32"}
        return {"a": "uint16 bf16", "b": "uint16 bf16", "acc_in": "uint32 fp32",
                "out": "uint32 fp32"}

    def make_inputs(self, rng, config, shape):
        from hybridgen.verif import operands
        n = shape["n"]
        if config.dtype == "int8":
            a, b, acc, _ = operands.int8_mac_operands(rng, n)
            return {"a": a.astype(np.int8), "b": b.astype(np.int8),
                    "acc_in": acc.astype(np.int32)}
        a, b, acc, _ = operands.bf16_mac_operands(rng, n)
        return {"a": a.astype(np.uint16), "b": b.astype(np.uint16),
                "acc_in": acc.astype(np.uint32)}

    def shape_of_inputs(self, inputs, config):
        lengths = {key: inputs[key].shape for key in self.input_keys}
        if any(len(s) != 1 for s in lengths.values()) or len(set(lengths.values())) != 1:
            raise UserError("--inputs: a, b and acc_in must be 1-D arrays of one length, not "
                            + ", ".join(f"{k} {s}" for k, s in lengths.items()))
        n = lengths["a"][0]
        if n < 1:
            raise UserError("--inputs: the arrays are empty")
        return {"n": int(n)}

    def golden(self, config, inputs):
        from hybridgen.golden import numerics
        if config.dtype == "int8":
            return {"out": numerics.mac_int8(inputs["a"], inputs["b"],
                                             inputs["acc_in"]).astype(np.int32)}
        return {"out": numerics.mac_bf16(inputs["a"], inputs["b"],
                                         inputs["acc_in"]).astype(np.uint32)}

    def ideal_cycles(self, config, shape):
        return shape["n"]

    def figures(self, config, shape, inputs, outputs, measured):
        return {"macs_per_cycle": round(
            shape["n"] / measured["cycles"], 6) if measured["cycles"] else 0.0}
