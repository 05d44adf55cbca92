"""Static Verilog templates shipped with the package (``rtl/systolic/verilog/*.v``).

The regular parts of the engine (array core, OS row feeder, SRAMs, delay lines) are written as
ordinary parameterised Verilog files, not built in Amaranth, so that generation cost does not
grow with the array size (docs/systolic.md, "Generation"). A file's modules are named ``hg_<name>``;
:func:`static_verilog` emits them renamed (``names``: every ``hg_*`` identifier must be mapped,
typically to ``<top>__<key>``, so that two configurations compile together) and with the
parameter defaults (and ``localparam`` values) set to one configuration's values
(``parameters``), so an instance needs no parameter list and a lint of the module as its own
top checks the values it is used with. (A module that must have no parameters at all, such as
a Verilator hierarchy block, declares its figures as ``localparam``.)
"""

import re
from functools import cache
from importlib import resources

__all__ = ["static_verilog", "template_text"]

_NAME_RE = re.compile(r"\bhg_[A-Za-z0-9_]*")
_PARAMETER_RE = re.compile(r"\b(parameter|localparam)\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([^,;)\s]+)")


@cache
def template_text(filename):
    """The text of ``rtl/systolic/verilog/<filename>``."""
    return (resources.files("hybridgen.rtl.systolic") / "verilog" / filename).read_text()


def static_verilog(filename, names, parameters=None):
    """``filename``'s modules with ``hg_*`` identifiers renamed by ``names`` and the defaults of
    the parameters in ``parameters`` (``{name: int}``) replaced.

    Raises ``KeyError`` for an ``hg_*`` identifier without a new name or a parameter the file
    does not declare (a template and its caller out of step).
    """
    text = template_text(filename)
    unknown = set(_NAME_RE.findall(text)) - set(names)
    if unknown:
        raise KeyError(f"{filename}: no new name for {', '.join(sorted(unknown))}")
    text = _NAME_RE.sub(lambda m: names[m.group(0)], text)
    if parameters:
        declared = {name for _, name, _ in _PARAMETER_RE.findall(text)}
        missing = set(parameters) - declared
        if missing:
            raise KeyError(f"{filename}: no parameter {', '.join(sorted(missing))}")
        text = _PARAMETER_RE.sub(
            lambda m: (f"{m.group(1)} {m.group(2)} = {int(parameters[m.group(2)])}"
                       if m.group(2) in parameters else m.group(0)), text)
    return text
