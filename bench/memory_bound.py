"""The shared part of the decode array's memory-bound kernels (``gemv``, ``ssm-step``,
``decode-attn``): the ``--latency`` flag and the bandwidth figures of issue 14.

A subclass defines ``useful_bytes(config, shape)`` (the necessary bytes moved, each counted
once) and ``useful_macs(config, shape)``, and may add its own figures in ``extra_figures``.

Figures: ``bytes``, ``peak_bytes_per_cycle`` (channels x bus bytes), ``ideal_cycles =
ceil(bytes / peak)``, ``bandwidth_utilization = bytes / (peak x cycles)`` (the kernel's
``utilization``, exactly: it replaces the driver's ``ideal_cycles / cycles``, which rounds the
bytes up to whole cycles), ``peak_macs_per_cycle``, ``compute_utilization = macs / (peak MACs x
cycles)``, ``roofline_cap = min(1, peak MACs x bytes / (macs x peak bytes))`` (the bandwidth
utilization the compute allows), the counters, the per-channel bytes and the bus figures of the
testbench (``verif/decode``), and ``guard_ok``, which ``correct`` requires.
"""

from hybridgen.gen.errors import ConfigError

from .kernel import Kernel

__all__ = ["MemoryBoundKernel"]

MAX_LATENCY = 1000


class MemoryBoundKernel(Kernel):
    """A :class:`~hybridgen.bench.kernel.Kernel` whose measure is the memory's bandwidth.

    Class attribute ``latency_env``: the environment variable that passes ``--latency`` to the
    testbench.
    """

    latency_env = ""

    def add_latency_argument(self, parser):
        parser.add_argument("--latency", type=int, default=128,
                            help="memory latency in cycles (default 128)")

    def take_latency(self, args):
        """Check ``--latency`` and keep it for :meth:`environment`."""
        if not 0 <= args.latency <= MAX_LATENCY:
            raise ConfigError("--latency", f"must be in 0..{MAX_LATENCY}, not {args.latency}")
        self._latency = args.latency

    def environment(self):
        return {self.latency_env: str(getattr(self, "_latency", 128))}

    def useful_bytes(self, config, shape):
        raise NotImplementedError

    def useful_macs(self, config, shape):
        raise NotImplementedError

    def ideal_cycles(self, config, shape):
        return -(-self.useful_bytes(config, shape) // config.peak_bytes_per_cycle)

    def measured_ok(self, measured):
        """Nothing written outside the outputs (every guard byte survived)."""
        return bool(measured["guard_ok"])

    def extra_figures(self, config, shape, inputs):
        """Kernel-specific figures placed before the common ones (default none)."""
        return {}

    def figures(self, config, shape, inputs, outputs, measured):
        cycles = measured["cycles"]
        peak_bytes, peak_macs = config.peak_bytes_per_cycle, config.peak_macs_per_cycle
        nbytes = self.useful_bytes(config, shape)
        macs = self.useful_macs(config, shape)
        bandwidth = round(nbytes / (peak_bytes * cycles), 6)
        return {
            "utilization": bandwidth,
            **self.extra_figures(config, shape, inputs),
            "bytes": nbytes, "peak_bytes_per_cycle": peak_bytes,
            "bandwidth_utilization": bandwidth,
            "peak_macs_per_cycle": peak_macs,
            "compute_utilization": round(macs / (peak_macs * cycles), 6),
            "roofline_cap": round(min(1.0, peak_macs * nbytes / (macs * peak_bytes)), 6),
            "memory_latency": measured["latency"],
            "counter_cycles": measured["counter_cycles"],
            "stalls": {key: measured[key] for key in ("busy_cycles", "stall_memory",
                                                       "stall_compute", "stall_drain")},
            "read_bytes": [measured[f"read_bytes{c}"] for c in range(config.channels)],
            "write_bytes": [measured[f"write_bytes{c}"] for c in range(config.channels)],
            "bus_bytes": {"read": measured["bus_bytes_read"],
                          "written": measured["bus_bytes_written"]},
            "duplex_cycles": measured["duplex_cycles"],
            "max_outstanding_reads": measured["max_outstanding_reads"],
            "guard_ok": measured["guard_ok"],
        }
