"""Placing a leaf unit either as a plain submodule or through a hierarchy library.

Large blocks (vector units, dot-product engines, decode lanes) place the same leaf many times.
With a :class:`hybridgen.gen.hierarchy.ModuleLibrary` the leaf is converted to Verilog once per
``key`` and instantiated (marked Verilator ``no_inline_module``, so it is also compiled once);
without one (Amaranth simulation, small units) it is an ordinary submodule.
"""

__all__ = ["place"]


def place(m, library, name, key, make):
    """Place leaf ``make()`` as submodule ``name`` of ``m``; through ``library`` (converted once
    per ``key``, equal keys meaning identical hardware) when it is given. Returns the leaf or,
    through a library, its instance interface."""
    if library is None:
        unit = make()
        m.submodules[name] = unit
        return unit
    return library.instantiate(m, name, key, make, no_inline=True)
