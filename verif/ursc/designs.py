"""Designs of the URSC engines for their testbenches: one engine of a preset as the top.

The sidecar has the preset's configuration and derived figures plus ``component`` (``dpe``,
``rvpe`` - one :class:`~hybridgen.rtl.ursc.rvpe.RvpeUnit` - or ``upe``), and the engine's own
``latency``. Field packing helpers for the flat payload integers are here too.
"""

import numpy as np

from hybridgen.gen.elaborate import default_top_name, design_from_component
from hybridgen.gen.hierarchy import ModuleLibrary
from hybridgen.gen.presets import resolve

__all__ = ["COMPONENTS", "component_design", "pack_lanes", "unpack_lanes", "fields_of"]

COMPONENTS = ("dpe", "rvpe", "upe")


def component_design(preset, component):
    """The :class:`~hybridgen.gen.elaborate.Design` of one engine of ``preset``."""
    from hybridgen.rtl.ursc.dpe import Dpe
    from hybridgen.rtl.ursc.rvpe import RvpeUnit
    from hybridgen.rtl.ursc.upe import Upe
    if component not in COMPONENTS:
        raise ValueError(f"component must be one of {', '.join(COMPONENTS)}, not {component!r}")
    found, config = resolve(preset)
    top = f"{default_top_name(preset)}_{component}"
    library = ModuleLibrary(top)
    p = config.datapath_params()
    engine = {"dpe": lambda: Dpe(lanes=p["lanes"], dpus=p["dpus"], mults=p["mults"],
                                 library=library),
              "rvpe": lambda: RvpeUnit(width=p["vector_width"], params=p["params"],
                                       library=library),
              "upe": lambda: Upe(units=p["update_units"], width=p["update_width"],
                                 library=library)}[component]()
    return design_from_component(engine, top, library=library, config=config,
                                 info={"preset": found.name, "block": found.block,
                                       "component": component})


def fields_of(design, port):
    """``{field name: field}`` of struct port ``port`` of the sidecar."""
    entry = next(p for p in design["ports"] if p["name"] == port)
    return {f["name"]: f for f in entry["fields"]}


def pack_lanes(values, bits):
    """Integers, one per row of ``values`` [R, N] (unsigned ``bits``-bit lanes, lane 0 at the
    LSBs: an ``ArrayLayout`` flattened row-major)."""
    dtype = {16: "<u2", 32: "<u4"}[bits]
    rows = np.ascontiguousarray(np.asarray(values).astype(dtype))
    rows = rows.reshape(len(rows), -1)
    return [int.from_bytes(row.tobytes(), "little") for row in rows]


def unpack_lanes(words, lanes, bits, shift=0):
    """uint array [len(words), lanes] of ``bits``-bit lanes from bit ``shift`` of each word."""
    size = lanes * bits // 8
    mask = (1 << (lanes * bits)) - 1
    data = b"".join(((w >> shift) & mask).to_bytes(size, "little") for w in words)
    dtype = {16: "<u2", 32: "<u4"}[bits]
    return np.frombuffer(data, dtype=dtype).reshape(len(words), lanes).astype(
        np.uint16 if bits == 16 else np.uint32)
