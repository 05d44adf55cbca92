"""Presets: named configurations stored in TOML files under ``gen/presets/``.

Each TOML table is one preset::

    [mac-bf16]
    block = "mac"                       # block kind (gen.blocks.BLOCKS)
    description = "one line for `hybridgen list`"
    dtype = "bf16"                      # fields of the block's configuration

Tiny presets are for tests, paper-scale ones for benchmarks and area reports.
"""

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .blocks import BLOCKS
from .errors import ConfigError, UserError

__all__ = ["Preset", "load_presets", "resolve"]

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class Preset:
    """A named configuration: block kind, one-line description and field values."""

    name: str
    block: str
    description: str
    values: dict
    source: str

    @property
    def config_class(self):
        return BLOCKS[self.block]

    def config(self, overrides=()):
        """The validated configuration of this preset with ``--set`` overrides applied."""
        return self.config_class.from_dict(self.values).override(overrides)


@cache
def load_presets(directory=PRESET_DIR):
    """All presets, ``{name: Preset}``, in file then table order."""
    presets = {}
    for path in sorted(Path(directory).glob("*.toml")):
        try:
            tables = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise UserError(f"{path.name}: malformed TOML: {err}") from None
        for name, table in tables.items():
            table = dict(table)
            where = f"{path.name}: preset {name!r}"
            if name in presets:
                raise UserError(f"{where}: defined twice (also in {presets[name].source})")
            block = table.pop("block", None)
            description = table.pop("description", None)
            if block not in BLOCKS:
                raise UserError(f"{where}: block must be one of {', '.join(BLOCKS)}, "
                                f"not {block!r}")
            if not isinstance(description, str) or not description:
                raise UserError(f"{where}: needs a one-line description")
            presets[name] = Preset(name, block, description, table, path.name)
    return presets


def resolve(name, overrides=()):
    """Look up preset ``name`` and return ``(preset, config)`` with overrides applied.

    Raises
    ------
    UserError
        Unknown preset (the message lists the known ones) or an invalid override.
    """
    presets = load_presets()
    if name not in presets:
        raise ConfigError("preset", f"unknown preset {name!r}; choose one of: "
                                    + ", ".join(presets) + " (see 'hybridgen list')")
    preset = presets[name]
    return preset, preset.config(overrides)
