"""``hybridgen bench gemv``: ``y = x @ W`` (GEMV / skinny GEMM) by the decode array.

Inputs ``x`` [b, k] and ``w`` [k, n] (uint16 bf16 bit patterns); output ``y`` [b, n] (bf16),
read back from the channel memories after the completion; ``correct`` compares it with
:func:`hybridgen.golden.decode.gemv` bit-exactly and requires every guard byte around and
between the outputs to survive (``guard_ok``).

Memory: one AXI4 port per channel, each answered by cocotbext-axi's AxiRam with a fixed latency
(``--latency``, default 128: the first R beat ``L`` cycles after AR, B ``L`` cycles after
WLAST), no random stalls, half duplex (a port moves one beat per cycle, reads and writes
together); ideal otherwise (no refresh, no banks). W in the channel layout, x and y dense.

Figures: ``bytes = 2kn + 2bk + 2bn`` (W, x and y once), ``peak_bytes_per_cycle`` (channels x
bus bytes), ``ideal_cycles = ceil(bytes / peak)``, ``bandwidth_utilization = utilization =
bytes / (peak x cycles)``, ``peak_macs_per_cycle``, ``compute_utilization = b k n / (peak MACs
x cycles)``, ``roofline_cap`` (the bandwidth utilization the compute allows:
``min(1, peak MACs x bytes / (b k n x peak bytes))``), the counters and the bus figures.
"""

from hybridgen.gen.errors import ConfigError, UserError

from .memory_bound import MemoryBoundKernel

__all__ = ["GemvKernel"]

_MAX_N = (1 << 20) - 1


class GemvKernel(MemoryBoundKernel):
    """y = x @ W (batch B, bf16) on the decode array; bandwidth utilization."""

    name = "gemv"
    blocks = ("decode",)
    aliases = ()
    testbench = "hybridgen.verif.decode.tb_gemv"
    testcase = "bench"
    input_keys = ("x", "w")
    latency_env = "GEMV_LATENCY"

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=1, help="rows of x (default 1)")
        parser.add_argument("--k", type=int, default=256, help="k (default 256)")
        parser.add_argument("--n", type=int, default=256, help="n (default 256)")
        self.add_latency_argument(parser)

    def _check_shape(self, config, b, k, n):
        if not 1 <= b <= config.max_batch:
            raise ConfigError("--batch", f"must be in 1..{config.max_batch} (max_batch), not {b}")
        if not 1 <= k <= config.max_k:
            raise ConfigError("--k", f"must be in 1..{config.max_k} (max_k), not {k}")
        if not 1 <= n <= _MAX_N:
            raise ConfigError("--n", f"must be in 1..{_MAX_N}, not {n}")

    def shape(self, args, config):
        self._check_shape(config, args.batch, args.k, args.n)
        self.take_latency(args)
        return {"batch": args.batch, "k": args.k, "n": args.n}

    def formats(self, config):
        return {"x": "uint16 bf16", "w": "uint16 bf16", "y": "uint16 bf16"}

    def make_inputs(self, rng, config, shape):
        from hybridgen.verif.decode.gemv import random_operands
        x, w = random_operands(rng, shape["batch"], shape["k"], shape["n"])
        return {"x": x, "w": w}

    def shape_of_inputs(self, inputs, config):
        x, w = inputs["x"], inputs["w"]
        if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
            raise UserError(f"--inputs: x (b x k) and w (k x n) do not chain: {x.shape}, "
                            f"{w.shape}")
        b, k = x.shape
        self._check_shape(config, b, k, w.shape[1])
        return {"batch": int(b), "k": int(k), "n": int(w.shape[1])}

    def golden(self, config, inputs):
        from hybridgen.golden.decode import gemv
        return {"y": gemv(inputs["x"], inputs["w"], config.dot)}

    def useful_bytes(self, config, shape):
        b, k, n = shape["batch"], shape["k"], shape["n"]
        return 2 * k * n + 2 * b * k + 2 * b * n

    def useful_macs(self, config, shape):
        return shape["batch"] * shape["k"] * shape["n"]
