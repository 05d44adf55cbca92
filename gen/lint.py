"""Lint a generated design with Verilator, one distinct module at a time.

Verilator elaborates a design by copying every instance's statements: linting a 128 x 128 array
as one design means 16,384 PE copies (killed at 12 GB; docs/systolic.md, "Verilator at scale").
:func:`lint_design` lints each distinct module of the design once, as its own top, with each module it
instantiates replaced by a *port-only stub* (an empty module with the same parameters and
ports). A module's own statements are checked once, and the connections to its children
(port names, widths after parameters) are checked in the parent. Cost grows with the distinct
modules and with the largest one, not with the instances.

Flags are :data:`hybridgen.verif.runner.VERILATOR_FLAGS`' warning settings (the warnings the
project waives stay waived) plus ``--lint-only``. Any ``%Error`` fails the lint; the remaining
``%Warning-...`` lines are reported.

Memory: ``peak_rss_mb`` is the peak, over the whole run, of the summed resident set of every
process descended from this one (Verilator and anything it starts), sampled every 50 ms from
``/proc``. (``RUSAGE_CHILDREN``'s ``ru_maxrss`` is not used: it is the largest single child,
not the sum, and it counts a forked child's copy of this Python process before ``exec``.)
"""

import os
import re
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LintResult", "ModuleLint", "split_modules", "port_stub", "lint_design",
           "ProcessTreeMemory"]

_PAGE = os.sysconf("SC_PAGE_SIZE")
# `module name` ... `endmodule`; Amaranth writes escaped names (`\top.array`), which end at
# white space
_MODULE_RE = re.compile(r"^module\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)(.*?)^endmodule\b",
                        re.M | re.S)
_PORT_DECLARATION_RE = re.compile(r"^\s*(?:input|output|inout|localparam|parameter)\b[^;]*;",
                                  re.M)
_DIAGNOSTIC_RE = re.compile(r"^%(Error|Warning)(-[A-Z0-9_]+)?:.*$", re.M)
_LINT_TOP = "hybridgen_lint_top"
# the -W options of the simulation build: the same warnings are waived
_WAIVERS = ("-Wno-fatal", "-Wno-lint", "-Wno-style")


@dataclass
class ModuleLint:
    """Lint of one module: its name, children stubbed, wall time, diagnostics."""

    name: str
    children: list
    wall_s: float
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


@dataclass
class LintResult:
    """Lint of a whole design (:func:`lint_design`)."""

    top: str
    wall_s: float
    peak_rss_mb: int
    modules: list

    @property
    def ok(self):
        return not any(module.errors for module in self.modules)

    def to_json(self):
        return {
            "top": self.top, "ok": self.ok, "wall_s": round(self.wall_s, 2),
            "peak_rss_mb": self.peak_rss_mb,
            "modules": [{"name": m.name, "children": m.children, "wall_s": round(m.wall_s, 2),
                         "errors": len(m.errors), "warnings": len(m.warnings)}
                        for m in self.modules],
            "errors": [{"module": m.name, "text": text} for m in self.modules
                       for text in m.errors],
            "warnings": [{"module": m.name, "text": text} for m in self.modules
                         for text in m.warnings],
        }


def split_modules(verilog_text):
    """``{name: text}`` of every module in ``verilog_text`` (escaped names keep their
    backslash), in order."""
    return {match.group(1): match.group(0) for match in _MODULE_RE.finditer(verilog_text)}


def _header_end(module_text):
    """Index just past the module header's closing ``);``."""
    depth = 0
    for index, char in enumerate(module_text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0 and module_text[index + 1:].lstrip().startswith(";"):
                return module_text.index(";", index) + 1
    raise ValueError(f"no module header in {module_text[:80]!r}")


def port_stub(module_text):
    """An empty module with the parameters and ports of ``module_text``.

    ANSI headers (``input [W-1:0] d`` in the port list) are kept as they are; for a port-name
    list (Amaranth's style) the ``input``/``output`` and parameter declarations of the body
    are kept.
    """
    end = _header_end(module_text)
    header, body = module_text[:end], module_text[end:]
    declarations = "" if re.search(r"\b(input|output|inout)\b", header) else \
        "".join(f"\n{match.group(0).strip()}" for match in _PORT_DECLARATION_RE.finditer(body))
    return f"{header}{declarations}\nendmodule\n"


def _children(name, text, names):
    """Modules of ``names`` that module ``text`` instantiates (by name at a statement start)."""
    body = text[_header_end(text):]
    return [child for child in names if child != name and
            re.search(rf"^\s*{re.escape(child)}\s+(?:#|\\|[A-Za-z_])", body, re.M)]


class ProcessTreeMemory:
    """Samples the summed RSS of this process's descendants in a thread (a context manager);
    ``peak_mb`` is the largest sum seen."""

    def __init__(self, interval=0.05):
        self.interval, self._peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self):
        return self._peak >> 20

    def _run(self):
        root = os.getpid()
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _descendant_rss(root))


def _descendant_rss(root):
    children, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            parent = int(stat[stat.rindex(")") + 2:].split()[1])
            with open(f"/proc/{entry}/statm") as f:
                rss[int(entry)] = int(f.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    total, stack = 0, list(children.get(root, []))
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def _lint_one(verilator, name, text, stubs, scratch):
    # the module under lint becomes a plain-named top (Amaranth's escaped names are awkward on
    # a command line); its children keep their names
    source = Path(scratch) / (re.sub(r"[^A-Za-z0-9_]", "_", name.lstrip("\\")) + ".v")
    top_text = text.replace(f"module {name}", f"module {_LINT_TOP}", 1)
    source.write_text("\n".join([top_text, *stubs]))
    start = time.monotonic()
    result = subprocess.run([verilator, "--lint-only", *_WAIVERS, "--top-module", _LINT_TOP,
                             str(source)], capture_output=True, text=True)
    wall = time.monotonic() - start
    output = (result.stderr + result.stdout).replace(_LINT_TOP, name).replace(
        f"{scratch}/", "")
    errors = [m.group(0) for m in _DIAGNOSTIC_RE.finditer(output) if m.group(1) == "Error"]
    warnings = [m.group(0) for m in _DIAGNOSTIC_RE.finditer(output) if m.group(1) == "Warning"]
    if result.returncode != 0 and not errors:
        errors.append(f"verilator exited with status {result.returncode}: "
                      f"{output.strip()[-300:]}")
    return wall, errors, warnings


def lint_design(verilog_text, top, *, jobs=2, verilator=None):
    """Lint every distinct module of ``verilog_text`` (top module ``top``) once, children as
    port-only stubs, ``jobs`` Verilator processes at a time; returns a :class:`LintResult`."""
    if verilator is None:
        from hybridgen.verif.runner import verilator_environment
        verilator = verilator_environment()
    modules = split_modules(verilog_text)
    if top not in modules:
        raise ValueError(f"top module {top} not in the design")
    stubs = {name: port_stub(text) for name, text in modules.items()}
    plan = [(name, text, _children(name, text, modules)) for name, text in modules.items()]
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hybridgen-lint-") as scratch, \
            ProcessTreeMemory() as memory, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_lint_one, verilator, name, text,
                               [stubs[child] for child in children], scratch)
                   for name, text, children in plan]
        results = [future.result() for future in futures]
    wall = time.monotonic() - start
    linted = [ModuleLint(name, children, module_wall, errors, warnings)
              for (name, _, children), (module_wall, errors, warnings) in zip(plan, results)]
    return LintResult(top, wall, memory.peak_mb, linted)
