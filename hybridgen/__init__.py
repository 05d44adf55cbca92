"""hybridgen: a hardware generator (Amaranth 0.5) for hybrid Mamba-Transformer inference
accelerators.

Everything imports under this one root; the subpackages live in the repository's top-level
folders, mapped by ``pyproject.toml``:

=====================  ===========  ==================================================
module                 folder       what
=====================  ===========  ==================================================
``hybridgen.rtl``      ``rtl/``     Amaranth components
``hybridgen.gen``      ``gen/``     configurations, presets, elaboration, the CLI
``hybridgen.golden``   ``golden/``  numpy models: math references and bit-exact models
``hybridgen.verif``    ``verif/``   cocotb testbenches and their shared parts
``hybridgen.synth``    ``synth/``   the Yosys flow and the area model
``hybridgen.bench``    ``bench/``   the kernels of ``hybridgen bench``
=====================  ===========  ==================================================
"""

__all__ = ["__version__"]

try:
    from importlib.metadata import version as _version
    __version__ = _version("hybridgen")
except Exception:  # pragma: no cover - running from a tree that is not installed
    __version__ = "unknown"
