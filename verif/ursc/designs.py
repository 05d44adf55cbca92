"""Designs of the URSC engines for their testbenches: engines of a preset as the top.

Two tops, so each simulator builds two designs: ``dpe_upe`` (DPE0 and the UpE, ports named as
on :class:`~hybridgen.rtl.ursc.datapath.UrscDatapath`: ``dpe_i__0``, ``upe_i__<u>``, ...) and
``rvpe`` (one :class:`~hybridgen.rtl.ursc.rvpe.RvpeUnit`, ports ``i``, ``o``, ``busy``; its
lanes' special functions make it the slow build). The testbenches of the DPE and the UpE
also run on the full datapath top. The sidecar has the preset's configuration and derived
figures plus ``component``. Field packing helpers for the flat payload integers are here too.
"""

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring

from hybridgen.gen.elaborate import default_top_name, design_from_component
from hybridgen.gen.hierarchy import ModuleLibrary
from hybridgen.gen.presets import resolve

__all__ = ["COMPONENTS", "DpeUpe", "component_design", "pack_lanes", "unpack_lanes", "fields_of"]

COMPONENTS = ("dpe_upe", "rvpe")


class DpeUpe(wiring.Component):
    """Test top: one :class:`~hybridgen.rtl.ursc.dpe.Dpe` (as DPE0) and the
    :class:`~hybridgen.rtl.ursc.upe.Upe`, ports as on the datapath top (a "both" build's
    ``mode`` input drives the UpE's; the top calls it ``mode``)."""

    def __init__(self, *, dpe, upe):
        self._dpe, self._upe = dpe, upe
        members = {**{f"dpe_{name}": member.array(1)
                      for name, member in dpe.signature.members.items()},
                   **{f"upe_{name}": member for name, member in upe.signature.members.items()
                      if name != "mode"}}
        if "mode" in upe.signature.members:
            members["mode"] = upe.signature.members["mode"]
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dpe0 = dpe = self._dpe
        m.submodules.upe = upe = self._upe
        wiring.connect(m, wiring.flipped(self.dpe_i[0]), dpe.i)
        wiring.connect(m, dpe.o, wiring.flipped(self.dpe_o[0]))
        m.d.comb += self.dpe_busy[0].eq(dpe.busy)
        for u in range(len(self.upe_i)):
            wiring.connect(m, wiring.flipped(self.upe_i[u]), upe.i[u])
            wiring.connect(m, upe.o[u], wiring.flipped(self.upe_o[u]))
            m.d.comb += self.upe_busy[u].eq(upe.busy[u])
        if "mode" in self.signature.members:
            m.d.comb += upe.mode.eq(self.mode)
        return m


def component_design(preset, component, overrides=()):
    """The :class:`~hybridgen.gen.elaborate.Design` of one engine of ``preset`` with ``--set``
    ``overrides`` (e.g. ``("modes=ssd",)``: the engine as that mode builds it)."""
    from hybridgen.rtl.ursc.dpe import Dpe
    from hybridgen.rtl.ursc.rvpe import RvpeUnit
    from hybridgen.rtl.ursc.upe import Upe
    if component not in COMPONENTS:
        raise ValueError(f"component must be one of {', '.join(COMPONENTS)}, not {component!r}")
    found, config = resolve(preset, tuple(overrides))
    top = f"{default_top_name(preset, tuple(overrides))}_{component}"
    library = ModuleLibrary(top)
    p = config.datapath_params()
    if component == "rvpe":
        engine = RvpeUnit(width=p["vector_width"], params=p["params"], library=library,
                          modes=p["modes"])
    else:
        engine = DpeUpe(dpe=Dpe(lanes=p["lanes"], dpus=p["dpus"], mults=p["mults"],
                                library=library),
                        upe=Upe(units=p["update_units"], width=p["update_width"],
                                library=library, modes=p["modes"]))
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
