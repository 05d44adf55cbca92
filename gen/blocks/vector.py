"""Configurations of the shared fp32 special-function lane (``sfu``) and the vector unit."""

from dataclasses import dataclass

from amaranth.utils import exact_log2

from ..config import Config, group, param

__all__ = ["SfuConfig", "VectorConfig"]


@dataclass(frozen=True)
class SfuConfig(Config):
    """One vector lane with every fp32 unit (add/sub, mul, max/min, exp/exp2, reciprocal,
    sigmoid/silu, softplus, bf16 rounding), op per beat, stream in/out
    (:class:`hybridgen.rtl.vector.lane.SfuLane`). The fields set the special functions' approximations;
    their error bounds are in docs/arith.md."""

    block = "sfu"
    # ABC's SAT sweep never finishes on the softplus unit (docs/timing.md, "softplus").
    synth_abc = "nofraig"
    derived = ("unit_latencies",)

    exp_table_bits: int = param(3, doc="exp2 polynomial segments = 2^bits", min=0, max=8)
    exp_degree: int = param(3, doc="exp2 polynomial degree per segment", min=1, max=7)
    recip_table_bits: int = param(7, doc="reciprocal seed table entries = 2^bits", min=1,
                                  max=10)
    recip_seed_degree: int = param(0, doc="reciprocal seed polynomial degree (0 = table)",
                                   min=0, max=3)
    recip_newton_steps: int = param(2, doc="Newton-Raphson steps of the reciprocal", min=0,
                                    max=4)
    log_table_bits: int = param(4, doc="log1p(u)/u polynomial segments = 2^bits (softplus)",
                                min=0, max=8)
    log_degree: int = param(3, doc="log1p(u)/u polynomial degree per segment", min=1, max=7)

    def check(self):
        from hybridgen.gen.errors import ConfigError
        from hybridgen.golden.numerics import sfu_coefficients
        for field, function, bits, degree in (
                ("exp_degree", "exp2", self.exp_table_bits, self.exp_degree),
                ("recip_seed_degree", "recip", self.recip_table_bits, self.recip_seed_degree),
                ("log_degree", "log1p_ratio", self.log_table_bits, self.log_degree)):
            try:
                sfu_coefficients(function, bits, degree)
            except AssertionError:
                raise ConfigError(field, f"must be lower: degree {degree} with 2^{bits} "
                                         f"segments overflows the 34-bit Horner accumulator")

    def params(self):
        from hybridgen.golden.numerics import SfuParams
        return SfuParams.of(self)

    @property
    def unit_latencies(self):
        from hybridgen.rtl.vector.lane import lane_unit_latencies
        return lane_unit_latencies(self.params())

    def build(self, library):
        """The top-level component: :class:`hybridgen.rtl.vector.lane.SfuLane`."""
        from hybridgen.rtl.vector.lane import SfuLane
        return SfuLane(self.params())


@dataclass(frozen=True)
class VectorConfig(Config):
    """A ``width``-lane vector unit: one op per vector per cycle (elementwise ops of the sfu
    lane, row sum, row max, inclusive cumsum), op chosen per vector
    (:class:`hybridgen.rtl.vector.unit.VectorUnit`)."""

    block = "vector"
    # ABC's SAT sweep never finishes on the softplus unit (docs/timing.md, "softplus").
    synth_abc = "nofraig"
    derived = ("reduction_adders",)

    width: int = param(16, doc="lanes", min=2, max=1024, power_of_two=True)
    sfu: SfuConfig = group(SfuConfig, doc="special-function approximations of every lane")

    @property
    def reduction_adders(self):
        """fp32 adders of the row sum tree and the Sklansky cumsum."""
        levels = exact_log2(self.width)
        return (self.width - 1) + self.width // 2 * levels

    def build(self, library):
        """The top-level component: :class:`hybridgen.rtl.vector.unit.VectorUnit` (lanes, adders and max
        units converted once each through ``library``)."""
        from hybridgen.rtl.vector.unit import VectorUnit
        return VectorUnit(width=self.width, params=self.sfu.params(), library=library)
