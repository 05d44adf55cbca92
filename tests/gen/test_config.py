"""Configuration machinery: validation, TOML presets, --set overrides, JSON."""

from dataclasses import dataclass

import pytest

from hybridgen.gen.blocks import BLOCKS
from hybridgen.gen.config import Config, group, param
from hybridgen.gen.errors import ConfigError
from hybridgen.gen.presets import load_presets, resolve


@dataclass(frozen=True)
class MemoryConfig(Config):
    data_width: int = param(64, doc="bus width in bits", choices=(32, 64, 128, 256, 512))
    latency: int = param(10, doc="cycles", min=0, max=1000)


@dataclass(frozen=True)
class ToyConfig(Config):
    block = "toy"
    derived = ("macs",)
    rows: int = param(4, doc="rows", min=1, max=1024)
    cols: int = param(4, doc="cols", power_of_two=True, min=1, max=1024)
    dtype: str = param("int8", doc="type", choices=("int8", "bf16"))
    clock_ghz: float = param(1.0, doc="clock", min=0.1, max=5.0)
    double_buffer: bool = param(True, doc="double buffering")
    memory: MemoryConfig = group(MemoryConfig, doc="off-package memory")

    def check(self):
        if self.rows * self.cols > 4096:
            raise ConfigError("rows", f"rows x cols must be <= 4096, not {self.rows * self.cols}")

    @property
    def macs(self):
        return self.rows * self.cols


def test_defaults_and_derived():
    config = ToyConfig()
    assert config.to_json() == {
        "config": {"rows": 4, "cols": 4, "dtype": "int8", "clock_ghz": 1.0,
                   "double_buffer": True, "memory": {"data_width": 64, "latency": 10}},
        "derived": {"macs": 16}}


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": 0}, "rows: must be an integer in 1..1024, not 0"),
    ({"rows": "4"}, "rows: must be an integer in 1..1024, not '4'"),
    ({"rows": True}, "rows: must be an integer in 1..1024, not True"),
    ({"cols": 12}, "cols: must be a power of two in 1..1024, not 12"),
    ({"dtype": "fp8"}, "dtype: must be one of 'int8', 'bf16', not 'fp8'"),
    ({"clock_ghz": 9}, "clock_ghz: must be a number in 0.1..5.0, not 9.0"),
    ({"double_buffer": 1}, "double_buffer: must be true or false, not 1"),
    ({"rows": 128, "cols": 64}, "rows: rows x cols must be <= 4096, not 8192"),
])
def test_invalid_values_name_the_field(kwargs, message):
    with pytest.raises(ConfigError) as info:
        ToyConfig(**kwargs)
    assert str(info.value) == message


def test_from_dict_nested_and_errors():
    config = ToyConfig.from_dict({"rows": 8, "memory": {"data_width": 512}})
    assert config.rows == 8 and config.memory.data_width == 512
    with pytest.raises(ConfigError, match=r"^memory.data_width: must be one of 32, 64"):
        ToyConfig.from_dict({"memory": {"data_width": 48}})
    with pytest.raises(ConfigError, match=r"^memory.size: unknown field; allowed fields: "
                                          r"data_width, latency$"):
        ToyConfig.from_dict({"memory": {"size": 1}})
    with pytest.raises(ConfigError, match=r"^colour: unknown field"):
        ToyConfig.from_dict({"colour": 1})


def test_overrides_are_typed_by_field():
    config = ToyConfig().override(["rows=16", "cols=0x10", "clock_ghz=1.5",
                                   "double_buffer=false", "dtype=bf16",
                                   "memory.data_width=512"])
    assert (config.rows, config.cols, config.clock_ghz, config.double_buffer, config.dtype,
            config.memory.data_width) == (16, 16, 1.5, False, "bf16", 512)


@pytest.mark.parametrize("assignment, message", [
    ("rows=abc", "rows: must be an integer in 1..1024, not 'abc'"),
    ("rows", "--set: expected field=value, not 'rows'"),
    ("memory=3", "memory: is a group of fields; set one of them: memory.data_width, "
                 "memory.latency"),
    ("memory.latency=-1", "memory.latency: must be an integer in 0..1000, not -1"),
    ("rows.x=1", "rows: is an integer, it has no field 'x'"),
    ("double_buffer=maybe", "double_buffer: must be true or false, not 'maybe'"),
])
def test_bad_overrides(assignment, message):
    with pytest.raises(ConfigError) as info:
        ToyConfig().override([assignment])
    assert str(info.value) == message


def test_overrides_are_checked_together():
    # 128 x 32 -> 256 x 16: the first assignment alone breaks rows x cols <= 4096, the pair
    # does not; the cross-field rule runs once, on the result, in either order.
    start = ToyConfig(rows=128, cols=32)
    for order in (["rows=256", "cols=16"], ["cols=16", "rows=256"]):
        config = start.override(order)
        assert (config.rows, config.cols) == (256, 16)
    assert start.override(["rows=8", "rows=256", "cols=16"]).rows == 256   # last one wins
    with pytest.raises(ConfigError) as info:
        start.override(["rows=256"])
    assert str(info.value) == "rows: rows x cols must be <= 4096, not 8192"
    with pytest.raises(ConfigError) as info:                  # each value is still checked
        start.override(["rows=256", "cols=12"])
    assert str(info.value) == "cols: must be a power of two in 1..1024, not 12"
    assert start.override([]) is start


def test_configs_are_frozen():
    with pytest.raises(Exception):
        ToyConfig().rows = 3


def test_every_preset_resolves():
    presets = load_presets()
    assert presets, "no presets found"
    for name, preset in presets.items():
        assert preset.block in BLOCKS
        assert "\n" not in preset.description
        _, config = resolve(name)
        assert config.to_json()["config"]


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ConfigError, match=r"^preset: unknown preset 'nope'; choose one of: "):
        resolve("nope")
