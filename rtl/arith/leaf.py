"""Placing a leaf unit either as a plain submodule or through a hierarchy library.

Large blocks (vector units, dot-product engines, decode lanes) place the same leaf many times.
With a :class:`hybridgen.gen.hierarchy.ModuleLibrary` the leaf is converted to Verilog once per
``key`` and instantiated (marked Verilator ``no_inline_module``, so it is also compiled once);
without one (Amaranth simulation, small units) it is an ordinary submodule.
"""

__all__ = ["place"]


def place(m, library, name, key, make, *, hierarchy_block=False):
    """Place leaf ``make()`` as submodule ``name`` of ``m``; through ``library`` (converted once
    per ``key``, equal keys meaning identical hardware) when it is given. Returns the leaf or,
    through a library, its instance interface.

    Through a library the leaf is a Verilator ``no_inline_module``, or with ``hierarchy_block``
    a Verilator hierarchy block: verilated and compiled once however many instances (a
    ``no_inline_module``'s code is still emitted per instance), for large leaves placed many
    times (vector and GEMV lanes, a decode channel or attention unit)."""
    if library is None:
        unit = make()
        m.submodules[name] = unit
        return unit
    if hierarchy_block:
        return library.instantiate(m, name, key, make, hierarchy_block=True)
    return library.instantiate(m, name, key, make, no_inline=True)
