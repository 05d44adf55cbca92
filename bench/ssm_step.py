"""``hybridgen bench ssm-step``: the Mamba-2 decode step (selective state update) by the decode
array, the semantics of ``golden/ssd.py`` ``ssd_step``.

Inputs (the npz keys of issue 14): ``x`` [b, h, p], ``dt`` [b, h] (raw, before ``dt_bias`` and
softplus), ``B``, ``C`` [b, g, n], ``z`` [b, h, p] (only with ``--z``) as bf16 bits; ``A``, ``D``,
``dt_bias`` [h] as fp32 bits; ``state_in`` [b, h, p, n] in the state dtype (``--state-dtype``,
an alias of the configuration's ``state_dtype``). Outputs: ``state_out`` [b, h, p, n] (the state
updated in place, read back from the channel memories) and ``y`` [b, h, p] (bf16). ``correct``
compares both with :func:`hybridgen.golden.decode.ssm_step` bit-exactly and requires every
guard byte around the state regions and over y to survive.

The same kernel is meant to serve the URSC core (``golden/ursc.py`` ``ursc_ssd_step``, the same
order at its vector width): its testbench is not written yet, so only ``decode`` presets run it
and another block's preset gets the one-line ``--preset`` error of every kernel.

Memory as ``bench gemv``: one AXI4 port per channel with a fixed latency (``--latency``, default
128), no random stalls, half duplex, ideal otherwise.

Figures: ``bytes`` = the state read and written (``2 b h p n`` elements of the state dtype) plus
the vectors once (x, y, z, dt, B, C bf16; A, D, dt_bias fp32), ``ideal_cycles = ceil(bytes /
peak)``, ``bandwidth_utilization = utilization = bytes / (peak x cycles)``; the MACs of a step
are ``3 b h p n`` (decay, input, output products), ``compute_utilization`` against the array's
peak MACs, ``roofline_cap`` as for gemv.
"""

from hybridgen.gen.errors import ConfigError, UserError

from .memory_bound import MemoryBoundKernel

__all__ = ["SsmStepKernel"]


class SsmStepKernel(MemoryBoundKernel):
    """The Mamba-2 decode step (selective state update) on the decode array."""

    name = "ssm-step"
    blocks = ("decode",)
    aliases = ("state_dtype",)
    testbench = "hybridgen.verif.decode.tb_ssm"
    testcase = "bench"
    input_keys = ("x", "dt", "A", "D", "dt_bias", "B", "C", "state_in")
    latency_env = "SSM_LATENCY"

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=1, help="batch (default 1)")
        parser.add_argument("--heads", type=int, default=8, help="heads h (default 8)")
        parser.add_argument("--headdim", type=int, default=16, help="head dimension p (16)")
        parser.add_argument("--dstate", type=int, default=16, help="state size n (default 16)")
        parser.add_argument("--groups", type=int, default=1, help="ngroups g (default 1)")
        parser.add_argument("--state-dtype", dest="state_dtype", choices=("fp32", "bf16"),
                            help="alias of --set state_dtype=...")
        parser.add_argument("--z", action="store_true", help="gate y by silu(z)")
        parser.add_argument("--no-softplus", dest="softplus", action="store_false",
                            help="dt = dt_raw + dt_bias without softplus")
        self.add_latency_argument(parser)

    def _check(self, config, b, h, p, n, g):
        if not 1 <= b <= 255:
            raise ConfigError("--batch", f"must be in 1..255, not {b}")
        if not 1 <= h <= 65535:
            raise ConfigError("--heads", f"must be in 1..65535, not {h}")
        if not 1 <= p <= config.ssm_headdim:
            raise ConfigError("--headdim", f"must be in 1..{config.ssm_headdim} "
                                           f"(ssm_headdim), not {p}")
        if not 1 <= n <= config.ssm_dstate:
            raise ConfigError("--dstate", f"must be in 1..{config.ssm_dstate} (ssm_dstate), "
                                          f"not {n}")
        if g < 1 or h % g:
            raise ConfigError("--groups", f"must divide --heads = {h}, not {g}")
        if config.bus_bits < 128:
            raise ConfigError("bus_bits", f"the decode step needs >= 128, not {config.bus_bits}")

    def shape(self, args, config):
        self._check(config, args.batch, args.heads, args.headdim, args.dstate, args.groups)
        self.take_latency(args)
        self._softplus, self._z = args.softplus, args.z
        return {"batch": args.batch, "heads": args.heads, "headdim": args.headdim,
                "dstate": args.dstate, "groups": args.groups}

    def formats(self, config):
        state = "uint32 fp32" if config.state_dtype == "fp32" else "uint16 bf16"
        bf, fp = "uint16 bf16", "uint32 fp32"
        return {"x": bf, "dt": bf, "A": fp, "D": fp, "dt_bias": fp, "B": bf, "C": bf, "z": bf,
                "state_in": state, "state_out": state, "y": bf}

    def make_inputs(self, rng, config, shape):
        from hybridgen.golden.decode import ssm_step_case
        return ssm_step_case(rng, shape["batch"], shape["heads"], shape["headdim"],
                             shape["dstate"], shape["groups"], state_dtype=config.state_dtype,
                             with_z=getattr(self, "_z", False),
                             softplus=getattr(self, "_softplus", True))

    def shape_of_inputs(self, inputs, config):
        x, B = inputs["x"], inputs["B"]
        if x.ndim != 3 or B.ndim != 3:
            raise UserError(f"--inputs: x must be [b, h, p] and B [b, g, n], not {x.shape}, "
                            f"{B.shape}")
        b, h, p = (int(v) for v in x.shape)
        g, n = (int(v) for v in B.shape[1:])
        self._check(config, b, h, p, n, g)
        if inputs["state_in"].shape != (b, h, p, n):
            raise UserError(f"--inputs: state_in must be {(b, h, p, n)}, not "
                            f"{inputs['state_in'].shape}")
        self._z = "z" in inputs
        return {"batch": b, "heads": h, "headdim": p, "dstate": n, "groups": g}

    def environment(self):
        return {**super().environment(),
                "SSM_SOFTPLUS": "1" if getattr(self, "_softplus", True) else "0"}

    def golden(self, config, inputs):
        from hybridgen.golden.decode import ssm_step
        keys = ("x", "dt", "A", "B", "C", "D", "dt_bias", "z")
        y, state = ssm_step(inputs["state_in"], **{k: inputs.get(k) for k in keys},
                            width=config.bus_bits // 32,
                            softplus=getattr(self, "_softplus", True),
                            state_dtype=config.state_dtype)
        return {"y": y, "state_out": state}

    def useful_bytes(self, config, shape):
        from hybridgen.golden.decode import ssm_step_bytes
        return ssm_step_bytes(shape["batch"], shape["heads"], shape["headdim"],
                              shape["dstate"], shape["groups"], config.state_dtype,
                              getattr(self, "_z", False))

    def useful_macs(self, config, shape):
        """Decay, input and output products: ``3 b h p n``."""
        return 3 * shape["batch"] * shape["heads"] * shape["headdim"] * shape["dstate"]

    def extra_figures(self, config, shape, inputs):
        return {"state_dtype": config.state_dtype, "z": "z" in inputs,
                "softplus": getattr(self, "_softplus", True)}
