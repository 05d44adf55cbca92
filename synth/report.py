"""Plain-text rendering of the result of :func:`hybridgen.synth.flow.synthesize`: area, logic
depth and timing."""

__all__ = ["format_report"]


def _table(header, rows):
    """Left-align the first column, right-align the others."""
    rows = [header] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  " + "  ".join(cells).rstrip())
        if index == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def _um2(value):
    return f"{value:,.1f}"


def _timing_line(timing):
    """``critical path X ns (Y MHz), start -> end[, slack S ns met|VIOLATED]``."""
    if timing is None:
        return "no timing"
    if not timing["path"]:
        return "critical path: none (no timed path)"
    text = (f"critical path {timing['critical_path_ns']} ns ({timing['fmax_mhz']} MHz), "
            f"{timing['startpoint']} -> {timing['endpoint']}")
    if "slack_ns" in timing:
        text += f", slack {timing['slack_ns']} ns {'met' if timing['met'] else 'VIOLATED'}"
    return text


def format_report(result, tech, sram):
    """The human-readable report: header, one table per module, memories, hierarchy, totals.

    Parameters
    ----------
    result : dict
        What :func:`hybridgen.synth.flow.synthesize` returns (the content of ``area.json``).
    tech : TechLibrary
        The standard-cell table used (for the cell names of each generic cell).
    sram : SramModel
        The SRAM model used.
    """
    out = [
        f"hybridgen synthesis report: top {result['top']}",
        "",
        f"standard cells: {tech.name}: {tech.description}",
        f"SRAM macros:    {sram.name}: {sram.description}",
        f"memories with < {sram.flop_max_depth} words are built from flip-flops; ROMs with "
        f"<= {sram.rom_logic_max_depth} words are synthesized to logic",
        "per-module figures are for one instance; logic depth = longest gate chain between "
        "flops, memories and ports",
        "timing: NanGate45 typical corner, linear delay + load model, no wire load; "
        "submodules through their boundary arcs (see docs/timing.md)",
        "",
    ]
    if result.get("clock_ns") is not None:
        out[-1:] = [f"clock period: {result['clock_ns']} ns", ""]
    modules = result["modules"]
    for name, module in modules.items():
        out.append(f"module {name}  (instances: {module['instances']})")
        rows = [[kind, "+".join(tech.mapping(kind).cells), n,
                 _um2(n * tech.mapping(kind).area_um2)]
                for kind, n in module["cells"].items()]
        rows += [[f"{child} (submodule)", "", n, ""]
                 for child, n in module["submodules"].items()]
        out += _table(["cell", "library cells", "count", "area um2"], rows)
        out.append(f"  flops {module['flops']}, transistors {module['transistors']:,}, "
                   f"logic {_um2(module['logic_area_um2'])} um2 + memory "
                   f"{_um2(module['memory_area_um2'])} um2 = {_um2(module['area_um2'])} um2, "
                   f"logic depth {module['logic_depth']}")
        out.append(f"  {_timing_line(module.get('timing'))}")
        arcs = (module.get("timing") or {}).get("arcs")
        if arcs:
            out.append("  boundary arcs ns: " + ", ".join(
                f"{key.replace('_to_', '->')} {'-' if ns is None else ns}"
                for key, ns in arcs.items()))
        out.append("")

    memory_rows = []
    for name, module in modules.items():
        for mem in module["memories"]:
            ports = f"{mem['read_ports']}R{mem['write_ports']}W"
            if mem["async_read_ports"]:
                ports += f" ({mem['async_read_ports']} async R)"
            memory_rows.append([
                f"{name}/{mem['name']}", module["instances"], f"{mem['depth']}x{mem['width']}",
                ports, mem["implementation"], mem["copies"] or "", mem["cell"] or "",
                _um2(mem["area_um2"]) if mem["implementation"] == "sram" else "in logic"])
    out.append("memories")
    if memory_rows:
        out += _table(["memory", "inst", "depth x width", "ports", "built as", "macros",
                       "cell", "area um2 (each)"], memory_rows)
    else:
        out.append("  (none)")
    out.append("")

    out.append("hierarchy (instances of each module below the top)")

    def walk(name, level, n):
        out.append(f"  {'  ' * level}{name} x{n}")
        for child, count in modules[name]["submodules"].items():
            walk(child, level + 1, count)

    walk(result["top"], 0, 1)
    out.append("")

    total = result["total"]
    out.append(f"totals for {result['top']} (all instances)")
    out += _table(["figure", "value"], [
        ["cells", f"{total['cells']:,}"],
        ["flops (bits)", f"{total['flops']:,}"],
        ["transistors (logic + bitcells)", f"{total['transistors']:,}"],
        ["SRAM bits", f"{total['sram_bits']:,}"],
        ["logic area um2", _um2(total["logic_area_um2"])],
        ["memory area um2", _um2(total["memory_area_um2"])],
        ["total area um2", _um2(total["area_um2"])],
        ["logic depth, flattened top", total["logic_depth"]],
        ["logic depth, worst module", total["max_module_logic_depth"]],
    ] + ([
        ["critical path ns (top, " + total["timing"].get("method", "") + ")",
         total["timing"]["critical_path_ns"]],
        ["fmax MHz", total["timing"]["fmax_mhz"]],
    ] if total.get("timing") else []))
    if total.get("timing"):
        timing = total["timing"]
        out += ["", f"top critical path: {_timing_line(timing)}"]
        out += _table(["cell", "type", "arrival ns"],
                      [[step["cell"], step["type"], step["arrival_ns"]]
                       for step in timing["path"]])
    if result.get("breakdown"):
        out += ["", "area breakdown (all instances)"]
        total_area = result["total"]["area_um2"] or 1.0
        out += _table(["group", "area um2", "share", "flops", "worst logic depth"], [
            [group, _um2(f["area_um2"]), f"{100 * f['area_um2'] / total_area:.1f} %",
             f"{f['flops']:,}", f["logic_depth"]]
            for group, f in result["breakdown"].items()])
    if result.get("warnings"):
        out += ["", f"yosys warnings ({len(result['warnings'])}, first shown)",
                "  " + result["warnings"][0]]
    return "\n".join(out) + "\n"
