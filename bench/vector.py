"""``hybridgen bench vector``: R vectors (rows of ``width`` fp32) through the vector unit.

``--op rowsum|rowmax|cumsum`` (default rowsum; the elementwise ops work too). Saved keys:
``x`` (uint32 fp32 [R, width] inputs), ``op`` (uint8 op code per row), ``y`` (uint32 fp32
[R, width] results; row reductions are broadcast to every lane). ``--inputs`` replays a file's
``x``. One vector per cycle is the peak: ``ideal_cycles = R``; the JSON adds ``op`` and
``elements_per_cycle``.
"""

import numpy as np

from hybridgen.gen.errors import ConfigError, UserError

from .sfu import OpKernel, SfuKernel

__all__ = ["VectorKernel", "SfuKernel"]


class VectorKernel(OpKernel):
    """Row reductions (or elementwise ops) on R vectors."""

    name = "vector"
    blocks = ("vector",)
    default_op = "rowsum"
    ops = ("rowsum", "rowmax", "cumsum", "exp", "exp2", "recip", "softplus", "silu", "sigmoid",
           "bf16")

    def add_arguments(self, parser):
        self.add_op_argument(parser)
        parser.add_argument("--rows", type=int, default=1024, help="vectors (default 1024)")

    def shape(self, args, config):
        self.op = args.op
        if not 1 <= args.rows <= 1_000_000:
            raise ConfigError("--rows", f"must be an integer in 1..1000000, not {args.rows}")
        return {"rows": args.rows, "width": config.width}

    def make_inputs(self, rng, config, shape):
        rows, width = shape["rows"], shape["width"]
        # Activations-like values: normal, mixed signs, magnitudes 2^-4 .. 2^4.
        sign = rng.integers(0, 2, (rows, width), dtype=np.uint32) << np.uint32(31)
        exponent = rng.integers(123, 131, (rows, width), dtype=np.uint32) << np.uint32(23)
        fraction = rng.integers(0, 1 << 23, (rows, width), dtype=np.uint32)
        return {"x": sign | exponent | fraction,
                "op": np.full(rows, self._code(), dtype=np.uint8)}

    def shape_of_inputs(self, inputs, config):
        x = inputs["x"]
        if x.ndim != 2 or x.shape[1] != config.width or x.shape[0] < 1:
            raise UserError(f"--inputs: x must be [rows, {config.width}], not {x.shape}")
        inputs["op"] = np.full(x.shape[0], self._code(), dtype=np.uint8)
        return {"rows": int(x.shape[0]), "width": config.width}

    def golden(self, config, inputs):
        from hybridgen.golden import numerics
        return {"y": numerics.vector_op(self.op, inputs["x"], np.zeros_like(inputs["x"]),
                                        config.sfu.params())}

    def ideal_cycles(self, config, shape):
        return shape["rows"]

    def figures(self, config, shape, inputs, outputs, measured):
        cycles = measured["cycles"]
        return {"op": self.op, "elements_per_cycle":
                round(shape["rows"] * shape["width"] / cycles, 4) if cycles else 0.0}
