"""Small helpers shared by the URSC engines: placing a leaf (the project's one
:func:`hybridgen.rtl.arith.leaf.place`, re-exported), reading a unit's latency."""

from hybridgen.rtl.arith.leaf import place

__all__ = ["place", "latency_of"]


def latency_of(component):
    """``component.latency`` of a unit built only to ask (silences Amaranth's unused warning)."""
    component._MustUse__silence = True
    return component.latency
