"""``hybridgen bench gemm``: ``C = A @ B`` run by the systolic GEMM engine out of AXI memory.

Inputs ``a`` (M x K) and ``b`` (K x N): int8, or uint16 bf16 bit patterns. Output ``c``
(M x N): int32, or uint32 fp32 bit patterns, read back from the memory model after the engine's
completion; ``correct`` compares it with :func:`hybridgen.golden.gemm.gemm` (bit-exact, the hardware's
accumulation order) and requires every guard byte around C to survive (``guard_ok``).

``--dataflow ws|os`` builds the engine for that dataflow (an alias of ``--set dataflow=``); an
engine configured for both (``--set dataflow=both``) runs the GEMM weight-stationary.

The memory is the AXI4 port of the preset (512 bits wide in the presets) answered by
cocotbext-axi's AxiRam with a fixed read latency (``--read-latency``, default 32 cycles) and no
random stalls; operands are dense (row stride = row bytes) from address 0.

Figures: ``cycles`` (testbench: descriptor accepted -> last write response; the engine's own
counter must agree, ``counter_cycles``), ``ideal_cycles = ceil(M K N / (rows cols))``,
``utilization``, ``dram_bytes`` (bytes on the AXI data channels, read + write),
``roofline_cycles`` (the larger of the ideal cycles and ``dram_bytes`` / bus bytes per cycle),
``roofline_utilization``, and the engine's counters: busy cycles and the stall breakdown.
"""

from hybridgen.gen.errors import ConfigError, UserError

from .kernel import Kernel

__all__ = ["GemmKernel"]

_MAX_DIM = 65535


class GemmKernel(Kernel):
    """C = A @ B on the systolic GEMM engine (WS or OS, int8 or bf16), DMA from AXI memory."""

    name = "gemm"
    blocks = ("systolic",)
    aliases = ("dtype", "dataflow")
    testbench = "hybridgen.verif.systolic.tb_engine"
    testcase = "bench"
    input_keys = ("a", "b")

    def add_arguments(self, parser):
        for dim in ("m", "k", "n"):
            parser.add_argument(f"--{dim}", type=int, default=64,
                                help=f"{dim.upper()} (default 64)")
        parser.add_argument("--dtype", choices=("int8", "bf16"), help="alias of --set dtype=...")
        parser.add_argument("--dataflow", choices=("ws", "os"),
                            help="alias of --set dataflow=...")
        parser.add_argument("--read-latency", type=int, default=32, dest="read_latency",
                            help="memory read latency in cycles (default 32)")

    @staticmethod
    def run_dataflow(config):
        """The dataflow the bench's GEMM runs in."""
        return config.dataflows[0]

    def _check_shape(self, config, m, k, n):
        for name, value in (("--m", m), ("--k", k), ("--n", n)):
            if not 1 <= value <= _MAX_DIM:
                raise ConfigError(name, f"must be an integer in 1..{_MAX_DIM}, not {value}")
        if k > config.max_k:
            raise ConfigError("--k", f"must be <= {config.max_k} (spad_rows x rows) for this "
                                     f"configuration, not {k}")
        if self.run_dataflow(config) == "os" and k > config.os_max_k:
            raise ConfigError("--k", f"must be <= os_max_k = {config.os_max_k} for an "
                                     f"output-stationary GEMM, not {k}")

    def shape(self, args, config):
        self._check_shape(config, args.m, args.k, args.n)
        if not 0 <= args.read_latency <= 1000:
            raise ConfigError("--read-latency", f"must be in 0..1000, not {args.read_latency}")
        self._latency = args.read_latency
        return {"m": args.m, "k": args.k, "n": args.n}

    def formats(self, config):
        operand = "int8" if config.dtype == "int8" else "uint16 bf16"
        return {"a": operand, "b": operand,
                "c": "int32" if config.dtype == "int8" else "uint32 fp32"}

    def make_inputs(self, rng, config, shape):
        from hybridgen.verif.systolic.gemm import random_operands
        a, b = random_operands(rng, shape["m"], shape["k"], shape["n"], config.dtype)
        return {"a": a, "b": b}

    def shape_of_inputs(self, inputs, config):
        a, b = inputs["a"], inputs["b"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise UserError(f"--inputs: a (M x K) and b (K x N) do not chain: {a.shape}, "
                            f"{b.shape}")
        m, k = a.shape
        self._check_shape(config, m, k, b.shape[1])
        self._latency = getattr(self, "_latency", 32)
        return {"m": int(m), "k": int(k), "n": int(b.shape[1])}

    def environment(self):
        return {"GEMM_READ_LATENCY": str(getattr(self, "_latency", 32))}

    def golden(self, config, inputs):
        from hybridgen.golden.gemm import gemm
        return {"c": gemm(inputs["a"], inputs["b"], config.dtype, config.rows,
                          self.run_dataflow(config))}

    def ideal_cycles(self, config, shape):
        work = shape["m"] * shape["k"] * shape["n"]
        return -(-work // (config.rows * config.cols))

    def measured_ok(self, measured):
        """The engine wrote nothing outside C (the guard bytes around every row survived)."""
        return bool(measured["guard_ok"])

    def figures(self, config, shape, inputs, outputs, measured):
        bus_bytes = config.engine_geometry.bus_bytes
        dram = measured["bus_bytes_read"] + measured["bus_bytes_written"]
        ideal = self.ideal_cycles(config, shape)
        roofline = max(ideal, -(-dram // bus_bytes))
        stalls = {key: measured[key] for key in (
            "stall_setup", "stall_weights", "stall_a", "stall_acc", "stall_slot", "stall_drain")}
        return {
            "dtype": config.dtype, "dataflow": self.run_dataflow(config),
            "array": f"{config.rows}x{config.cols}",
            "counter_cycles": measured["counter_cycles"],
            "busy_cycles": measured["busy_cycles"],
            "dram_bytes": dram, "bus_bytes": bus_bytes,
            "roofline_cycles": roofline,
            "roofline_utilization": round(roofline / measured["cycles"], 6),
            "read_latency": measured["read_latency"],
            "useful_bytes": {"read": measured["read_bytes"], "written": measured["write_bytes"]},
            "stalls": stalls,
            "guard_ok": measured["guard_ok"],
        }
