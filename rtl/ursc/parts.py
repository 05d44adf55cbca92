"""Small helpers shared by the URSC engines: placing a leaf, reading a unit's latency."""

__all__ = ["place", "latency_of"]


def place(m, library, name, key, make):
    """Place leaf ``make()`` as submodule ``name`` of ``m``, through ``library`` (converted once
    per ``key``, Verilator ``no_inline``) when given; returns the leaf or its interface."""
    if library is None:
        unit = make()
        m.submodules[name] = unit
        return unit
    return library.instantiate(m, name, key, make, no_inline=True)


def latency_of(component):
    """``component.latency`` of a unit built only to ask (silences Amaranth's unused warning)."""
    component._MustUse__silence = True
    return component.latency
