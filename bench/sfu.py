"""``hybridgen bench sfu``: N fp32 inputs through one lane of the special-function units.

``--op exp|exp2|recip|softplus|silu|sigmoid`` (default exp). Saved keys: ``x`` (uint32 fp32
inputs), ``op`` (uint8 op code per input, :data:`hybridgen.golden.numerics.VECTOR_OPS`), ``y`` (uint32
fp32 results from the RTL). Random inputs cover the whole fp32 range (half uniform bit
patterns, half |x| in [2^-27, 2^8) with random mantissas); ``--inputs`` replays a file's ``x``.
The JSON adds ``max_rel_err`` and ``max_ulp_err`` of the RTL results against float64 (where
the exact result is a normal fp32), and ``op``. One result per cycle is the peak:
``ideal_cycles = n``.
"""

import argparse

import numpy as np

from hybridgen.gen.errors import ConfigError, UserError

from .kernel import Kernel

__all__ = ["SfuKernel", "OpKernel", "OpChoice"]

SFU_OPS = ("exp", "exp2", "recip", "softplus", "silu", "sigmoid")


class OpChoice(argparse.Action):
    """Stores ``--op`` on the kernel object (inputs replayed with ``--inputs`` need it too)."""

    def __init__(self, *args, kernel, **kwargs):
        self._kernel = kernel
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        self._kernel.op = values


class OpKernel(Kernel):
    """Base of the kernels run by ``hybridgen.verif.vector.tb_vector``: fp32 bit patterns ``x`` in, ``y``
    out, one op code per input row chosen by ``--op``."""

    testbench = "hybridgen.verif.vector.tb_vector"
    testcase = "bench"
    input_keys = ("x",)
    default_op = None
    ops = ()

    def __init__(self):
        self.op = self.default_op

    def add_op_argument(self, parser):
        self.op = self.default_op
        parser.add_argument("--op", choices=self.ops, default=self.default_op,
                            action=OpChoice, kernel=self,
                            help=f"operation (default {self.default_op})")

    def _code(self):
        from hybridgen.golden.numerics import VECTOR_OPS
        return VECTOR_OPS[self.op]

    def formats(self, config):
        return {"x": "uint32 fp32", "op": "uint8 bytes", "y": "uint32 fp32"}


class SfuKernel(OpKernel):
    """Unary special function on N fp32 inputs, one lane."""

    name = "sfu"
    blocks = ("sfu",)
    default_op = "exp"
    ops = SFU_OPS

    def add_arguments(self, parser):
        self.add_op_argument(parser)
        parser.add_argument("--n", type=int, default=4096, help="inputs (default 4096)")

    def shape(self, args, config):
        self.op = args.op
        if not 1 <= args.n <= 10_000_000:
            raise ConfigError("--n", f"must be an integer in 1..10000000, not {args.n}")
        return {"n": args.n}

    def make_inputs(self, rng, config, shape):
        from hybridgen.verif.vector.operands import fp32_random
        n = shape["n"]
        return {"x": fp32_random(rng, n), "op": np.full(n, self._code(), dtype=np.uint8)}

    def shape_of_inputs(self, inputs, config):
        x = inputs["x"]
        if x.ndim != 1 or x.size < 1:
            raise UserError(f"--inputs: x must be a non-empty 1-D array, not shape {x.shape}")
        inputs["op"] = np.full(x.size, self._code(), dtype=np.uint8)
        return {"n": int(x.size)}

    def golden(self, config, inputs):
        from hybridgen.golden import numerics
        return {"y": numerics.sfu_op(self.op, inputs["x"], None, config.params())}

    def ideal_cycles(self, config, shape):
        return shape["n"]

    def figures(self, config, shape, inputs, outputs, measured):
        from hybridgen.golden import numerics
        rel, ulp = numerics.measure_error(outputs["y"], numerics.sfu_reference(self.op,
                                                                               inputs["x"]))
        return {"op": self.op, "max_rel_err": rel,
                "max_rel_err_log2": round(float(np.log2(rel)), 3) if rel else None,
                "max_ulp_err": round(ulp, 4)}
