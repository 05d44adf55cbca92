"""Registry of block kinds: ``block`` name in a preset -> configuration class.

A configuration class (a :class:`hybridgen.gen.config.Config`) has a ``build(library)`` method returning
the top-level Amaranth component of the block; ``library`` is a
:class:`hybridgen.gen.hierarchy.ModuleLibrary` for leaves that must be emitted once and instantiated many
times. To add a block: write its configuration module here and list the class below.
"""

from .mac import MacConfig
from .systolic import SystolicConfig
from .kv import KvConfig
from .vector import SfuConfig, VectorConfig
from .decode import DecodeConfig
from .ursc import UrscConfig

BLOCKS = {cls.block: cls for cls in (MacConfig, SystolicConfig, SfuConfig, VectorConfig,
                                     KvConfig, DecodeConfig, UrscConfig)}

__all__ = ["BLOCKS"]
