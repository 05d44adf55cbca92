"""Emit each distinct module once and instantiate it many times.

Amaranth's Verilog back end writes one module per *instance* of an elaboratable, so a 128x128
array of identical PEs becomes 16,384 modules and takes minutes to convert (docs/systolic.md,
"Generation").
:class:`ModuleLibrary` converts a leaf component once, under a unique name, and hands the parent
an interface object with the leaf's own signature whose signals are wired to an ``Instance`` of
that module. Generation cost then grows with the number of distinct modules, not instances.

Instances are opaque to Amaranth's simulator, so designs built this way are verified through
cocotb on the emitted Verilog.
"""

import re

from amaranth.back import verilog
from amaranth.hdl import ClockSignal, Instance, ResetSignal
from amaranth.lib import wiring

__all__ = ["ModuleLibrary", "convert", "module_names"]

# `module name [#(parameters)] (ports)`; a parameter list has no nested parentheses.
_MODULE_RE = re.compile(
    r"^module\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s*(?:#\s*\([^()]*\)\s*)?\(([^)]*)\)", re.M)


def convert(component, name):
    """Convert ``component`` to Verilog text with top module ``name`` (no source attributes)."""
    return verilog.convert(component, name=name, emit_src=False)


def module_names(verilog_text):
    """Names of the modules defined in ``verilog_text`` (escaped names keep their backslash)."""
    return [match.group(1) for match in _MODULE_RE.finditer(verilog_text)]


def _module_ports(verilog_text, name):
    for match in _MODULE_RE.finditer(verilog_text):
        if match.group(1) == name:
            return {port.strip() for port in match.group(2).split(",")}
    raise ValueError(f"module {name} not found in converted Verilog")


def _mark_no_inline(verilog_text, name):
    header = verilog_text.index(f"module {name}(")
    header_end = verilog_text.index(");", header) + 2
    return (verilog_text[:header_end] + "\n  /* verilator no_inline_module */" +
            verilog_text[header_end:])


class ModuleLibrary:
    """Leaf modules converted once each, named ``<prefix>__<leaf>``.

    Parameters
    ----------
    prefix : str
        The top module's name; every leaf module name starts with it so that designs of several
        configurations can be compiled together.
    """

    def __init__(self, prefix):
        self._prefix = prefix
        self._leaves = {}  # key -> (module name, signature, clocked, verilog text)
        self.instance_counts = {}
        self._hierarchy_blocks = []

    @property
    def prefix(self):
        return self._prefix

    def instantiate(self, m, instance_name, key, make, *, no_inline=False,
                    hierarchy_block=False):
        """Place an instance of the leaf identified by ``key`` into module ``m``.

        Parameters
        ----------
        m : Module
            The parent module.
        instance_name : str
            Name of the instance (and prefix of the interface signals) in the parent.
        key : str
            Identifies the distinct leaf: equal keys must mean identical hardware. It becomes
            part of the module name, so use identifier characters.
        make : callable
            Builds the leaf component; called only the first time ``key`` is seen.
        no_inline : bool
            Mark the leaf ``/* verilator no_inline_module */`` so Verilator compiles it once as
            a C++ class instead of flattening every instance into the parent (large leaves
            placed many times: a 16-lane vector unit inlined became a 380 MB C++ model).
            Applies from the first placement of ``key``.
        hierarchy_block : bool
            Make the leaf a Verilator hierarchy block (:meth:`hierarchy_blocks`): verilated
            and compiled once, its instances call that model (``no_inline`` still emits code
            per instance). Its module is then named ``<prefix>__<key>`` with every run of
            ``_`` collapsed to one: Verilator 5.048 inlines a hierarchy block whose name has
            ``__`` (docs/systolic.md, "Build"). Applies from the first placement of ``key``.

        Returns
        -------
        An interface object with the leaf's signature (same member flows as the component), to
        be used in the parent like the component itself (``wiring.connect``, ``.eq``). The leaf's
        ``sync`` domain, if any, is driven by the parent's ``sync`` domain.
        """
        if key not in self._leaves:
            if not re.fullmatch(r"[A-Za-z0-9_]+", key):
                raise ValueError(f"Leaf key must be an identifier, not {key!r}")
            name = f"{self._prefix}__{key}"
            if hierarchy_block:
                name = re.sub("_+", "_", name)
                self._hierarchy_blocks.append(name)
            component = make()
            text = convert(component, name)
            if no_inline:
                text = _mark_no_inline(text, name)
            ports = _module_ports(text, name)
            self._leaves[key] = (name, component.signature, "clk" in ports, text)
        name, signature, clocked, _ = self._leaves[key]
        self.instance_counts[key] = self.instance_counts.get(key, 0) + 1
        interface = signature.create(path=(instance_name,))
        ports = {}
        for path, member, value in signature.flatten(interface):
            prefix = "i_" if member.flow == wiring.In else "o_"
            ports[prefix + "__".join(str(part) for part in path)] = value
        if clocked:
            ports["i_clk"] = ClockSignal()
            ports["i_rst"] = ResetSignal()
        m.submodules[instance_name] = Instance(name, **ports)
        return interface

    def define(self, key, make=None, *, verilog=None, instances=0, hierarchy_blocks=()):
        """Define the leaf ``key`` without placing an ``Instance`` of it; return its module name.

        For modules used from Verilog written by a generator (regular wiring emitted from a
        template, see docs/systolic.md). Either ``make`` builds a component, converted once as in
        :meth:`instantiate`, or ``verilog`` is the text of module ``<prefix>__<key>`` itself.
        ``instances`` is added to the instance count :meth:`modules` reports.
        ``hierarchy_blocks`` names modules of ``verilog`` that Verilator should build as
        hierarchy blocks (:meth:`hierarchy_blocks`).
        """
        if key not in self._leaves:
            if not re.fullmatch(r"[A-Za-z0-9_]+", key):
                raise ValueError(f"Leaf key must be an identifier, not {key!r}")
            name = f"{self._prefix}__{key}"
            if (make is None) == (verilog is None):
                raise ValueError("Give exactly one of make and verilog")
            if make is not None:
                component = make()
                text = convert(component, name)
                signature = component.signature
            else:
                text, signature = verilog, None
            ports = _module_ports(text, name)
            self._leaves[key] = (name, signature, "clk" in ports, text)
            defined = set(module_names(text))
            for block in hierarchy_blocks:
                if block not in defined:
                    raise ValueError(f"Hierarchy block {block} is not a module of {name}")
                self._hierarchy_blocks.append(block)
        self.instance_counts[key] = self.instance_counts.get(key, 0) + instances
        return self._leaves[key][0]

    def verilog(self):
        """Verilog text of all leaves converted so far, each once."""
        return "\n".join(text for _, _, _, text in self._leaves.values())

    def hierarchy_blocks(self):
        """Modules to build as Verilator hierarchy blocks (``hier_block`` in the control file
        :func:`hybridgen.verif.runner.build` writes): each is verilated and compiled once,
        however often it is placed, instead of being inlined into its parent."""
        return list(self._hierarchy_blocks)

    def modules(self):
        """``{module name: instance count}`` for the leaves placed so far."""
        return {self._leaves[key][0]: count for key, count in self.instance_counts.items()}
