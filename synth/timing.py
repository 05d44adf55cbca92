"""Static timing analysis over the Yosys JSON netlist of the area flow.

The netlist is the one :func:`hybridgen.synth.flow.synthesize` costs (generic gates after ABC,
per module, memories as ``$mem_v2`` black boxes). Delays come from the linear cell models of
:mod:`hybridgen.synth.tech` (typical corner)::

    arrival(out) = max over inputs (arrival(in) + delay_ns[pin]) + drive_ns_per_ff * C_load
                   + buffer tree delay

- ``C_load`` is the sum of the input-pin capacitances on the net (no wire load). A net with
  more than ``max_fanout`` (8) sinks is costed as a balanced tree of ``tech.buffer`` cells:
  ``b1 = ceil(n / 8)`` leaf buffers, ``b(k+1) = ceil(b(k) / 8)`` until at most 8 remain; the
  driver sees the top level's buffer inputs, each leaf buffer drives ``ceil(n / b1)`` sinks of
  the net's largest pin capacitance, each inner buffer ``ceil(b(k) / b(k+1))`` buffers. Every
  sink of the net gets the same arrival (the tree is balanced). The buffers are not added to
  the area (it is the area of the same netlist).
- Start points: input ports (arrival 0, ideal drivers), flip-flop and latch outputs
  (clock-to-Q), SRAM macro read data (access time, :meth:`SramModel.access_ns`). End points:
  flip-flop D pins and macro inputs (plus setup), output ports (no load, no output delay).
  The clock is ideal: clock pins are neither timed nor loads. Asynchronous set/reset pins load
  their nets but are not timed. Latches are timed like flip-flops (no time borrowing).

Hierarchy. Each distinct module is analysed once, bottom-up; an instance of a submodule is
replaced by the submodule's timing model (:class:`TimingModel`): per input bit its load and its
worst delay to an internal end point including setup (input -> flop), per output bit its worst
arrival from an internal start point (flop -> output) and its drive, per pair of bits the
combinational delay (input -> output), and the worst internal register-to-register path.
Composing those arcs gives each module's critical path through its submodules. A net that
crosses a boundary is loaded and buffered per side (the parent sees one sink per instance pin
with the pin's load); this equals the flattened analysis unless such a net exceeds the fanout
limit. The top path is computed on the flattened design when it has fewer than
:data:`FLATTEN_MAX_CELLS` cells, else by composition.
"""

import math
from collections import defaultdict, deque

__all__ = ["TimingModel", "analyse", "analyse_module", "flatten", "net_load", "with_clock",
           "FLATTEN_MAX_CELLS"]

#: The top path is computed on the flattened netlist below this many cells.
FLATTEN_MAX_CELLS = 500_000

_NEG = float("-inf")
_ROUND = 4


def net_load(drive_ns_per_ff, caps, tech):
    """Delay a driver adds to a net beyond its intrinsic delay, and the load it sees.

    Parameters
    ----------
    drive_ns_per_ff : float
        The driver's ns per fF (0 for an ideal driver such as an input port).
    caps : list of float
        Pin capacitance (fF) of every sink of the net.
    tech : TechLibrary
        Gives ``max_fanout`` and the tree buffer's timing.

    Returns
    -------
    (delay_ns, driver_load_ff, tree_ns)
        ``delay_ns = drive_ns_per_ff * driver_load_ff + tree_ns``; ``tree_ns`` is 0 unless the
        net has more than ``max_fanout`` sinks.
    """
    n = len(caps)
    if n <= tech.max_fanout:
        load = sum(caps)
        return drive_ns_per_ff * load, load, 0.0
    fanout, buf = tech.max_fanout, tech.buffer_timing
    buf_cap, buf_delay = buf.inputs["A"], buf.delay_ns["A"]
    levels = [math.ceil(n / fanout)]
    while levels[-1] > fanout:
        levels.append(math.ceil(levels[-1] / fanout))
    tree = buf_delay + buf.drive_ns_per_ff * math.ceil(n / levels[0]) * max(caps)
    for below, here in zip(levels, levels[1:]):
        tree += buf_delay + buf.drive_ns_per_ff * math.ceil(below / here) * buf_cap
    load = levels[-1] * buf_cap
    return drive_ns_per_ff * load + tree, load, tree


class TimingModel:
    """Boundary timing of one module, as its parents use it (bits are ``(port, index)``).

    Attributes
    ----------
    inputs, outputs : dict
        Port name -> width, for the module's input and output ports.
    in_load : dict
        Input bit -> load (fF) it puts on the parent's net.
    setup : dict
        Input bit -> ``(ns, endpoint)``: worst delay to an internal end point, setup included.
    out_start : dict
        Output bit -> ``(ns, startpoint)``: worst arrival from an internal start point, with
        the module's internal load.
    drive : dict
        Output bit -> ns per fF of external load (the driving cell's slope; 0 if none).
    comb : dict
        Input bit -> {output bit: ns}: combinational delay, internal load included.
    internal : dict or None
        The worst path that starts and ends inside (a timing record, see :func:`analyse_module`).
    """

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = inputs, outputs
        self.in_load, self.setup, self.out_start, self.drive, self.comb = {}, {}, {}, {}, {}
        self.internal = None


def _bit_name(port, index, width):
    return port if width == 1 else f"{port}[{index}]"


class _Graph:
    """Timing graph of one module: nodes are nets, edges are cell arcs."""

    def __init__(self):
        self.arcs = defaultdict(list)     # in net -> [(out net, delay, label)]
        self.starts = {}                  # net -> (t0, label, startpoint)
        self.ends = defaultdict(list)     # net -> [(setup, label, endpoint)]
        self.drive = {}                   # net -> ns/fF of its driver
        self.caps = defaultdict(list)     # net -> sink pin capacitances
        self.inputs = []                  # ((port, i), net, name)
        self.outputs = []                 # ((port, i), net, name)
        self.internal = []                # timing records of child-internal paths
        self.nets = set()

    def add_start(self, net, t0, label, point):
        if net not in self.starts or t0 > self.starts[net][0]:
            self.starts[net] = (t0, label, point)


def _module_graph(name, module, tech, sram, models, bit_names):
    graph = _Graph()

    def bits(cell, pin):
        return [b for b in cell["connections"].get(pin, ()) if type(b) is int]

    for port, data in module.get("ports", {}).items():
        width = len(data["bits"])
        for i, b in enumerate(data["bits"]):
            if type(b) is not int:
                continue
            entry = ((port, i), b, _bit_name(port, i, width))
            graph.nets.add(b)
            if data["direction"] == "input":
                graph.inputs.append(entry)
                graph.drive[b] = 0.0
            elif data["direction"] == "output":
                graph.outputs.append(entry)

    for cell_name, cell in module.get("cells", {}).items():
        kind = cell["type"]
        if kind in models:
            _add_instance(graph, cell_name, cell, models[kind], kind)
            continue
        if kind == "$mem_v2":
            _add_memory(graph, cell_name, cell, sram, bits)
            continue
        timing = tech.timing.get(kind) if tech.timing else None
        if timing is None:
            raise KeyError(f"cell type {kind} in module {name!r} has no timing in tech "
                           f"table {tech.name!r}")
        out = bits(cell, timing.output)
        for pin, cap in timing.inputs.items():
            for b in bits(cell, pin):
                graph.caps[b].append(cap)
                graph.nets.add(b)
        if not out:
            continue
        y = out[0]
        graph.nets.add(y)
        graph.drive[y] = timing.drive_ns_per_ff
        label = (cell_name, kind, bit_names.get(y))
        if timing.sequential:
            register = f"flop {bit_names.get(y) or cell_name}"
            graph.add_start(y, timing.clock_to_q_ns, label, register)
            for d in bits(cell, "D"):
                graph.ends[d].append((timing.setup_ns, label, register))
        else:
            for pin, delay in timing.delay_ns.items():
                for b in bits(cell, pin):
                    graph.arcs[b].append((y, delay, label))
    return graph


def _add_memory(graph, cell_name, cell, sram, bits):
    params = cell.get("parameters", {})
    memid = str(params.get("MEMID", cell_name)).lstrip("\\")
    depth = _param_int(params.get("SIZE", 2))
    point = f"memory {memid}"
    label = (cell_name, "$mem_v2", memid)
    for b in bits(cell, "RD_DATA"):
        graph.nets.add(b)
        graph.drive[b] = 0.0
        graph.add_start(b, sram.access_ns(depth), label, point)
    for pin, direction in cell.get("port_directions", {}).items():
        if direction != "input" or pin.endswith("_CLK"):
            continue
        for b in bits(cell, pin):
            graph.nets.add(b)
            graph.caps[b].append(sram.pin_cap_ff)
            graph.ends[b].append((sram.setup_ns, label, point))


def _param_int(value):
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text, 2) if set(text) <= {"0", "1"} and len(text) > 1 else int(text)


def _add_instance(graph, cell_name, cell, model, kind):
    label = (cell_name, kind, None)
    connections = cell["connections"]
    for port in model.inputs:
        for i, b in enumerate(connections.get(port, [])):
            if type(b) is not int:
                continue
            key = (port, i)
            graph.nets.add(b)
            graph.caps[b].append(model.in_load.get(key, 0.0))
            if key in model.setup:
                ns, point = model.setup[key]
                graph.ends[b].append((ns, label, _inside(cell_name, point)))
            for out_key, ns in model.comb.get(key, {}).items():
                out_bits = connections.get(out_key[0], [])
                if out_key[1] < len(out_bits) and type(out_bits[out_key[1]]) is int:
                    graph.arcs[b].append((out_bits[out_key[1]], ns, label))
    for port in model.outputs:
        for i, b in enumerate(connections.get(port, [])):
            if type(b) is not int:
                continue
            key = (port, i)
            graph.nets.add(b)
            graph.drive[b] = model.drive.get(key, 0.0)
            if key in model.out_start:
                ns, point = model.out_start[key]
                graph.add_start(b, ns, label, _inside(cell_name, point))
    if model.internal is not None:
        graph.internal.append(_prefixed(model.internal, cell_name))


def _inside(prefix, point):
    """``"flop acc[1]"`` seen from the parent of instance ``prefix``: ``"flop prefix/acc[1]"``."""
    kind, _, name = point.partition(" ")
    return f"{kind} {prefix}/{name}"


def _prefixed(record, prefix):
    out = dict(record)
    out["startpoint"] = _inside(prefix, record["startpoint"])
    out["endpoint"] = _inside(prefix, record["endpoint"])
    out["path"] = [dict(step, cell=f"{prefix}/{step['cell']}") for step in record["path"]]
    return out


def _order(graph):
    """Nets in topological order of the combinational arcs; nets left on loops go last."""
    indegree = dict.fromkeys(graph.nets, 0)
    for arcs in graph.arcs.values():
        for out, _, _ in arcs:
            indegree[out] = indegree.get(out, 0) + 1
    queue = deque(net for net, n in indegree.items() if n == 0)
    order = []
    while queue:
        net = queue.popleft()
        order.append(net)
        for out, _, _ in graph.arcs.get(net, ()):
            indegree[out] -= 1
            if indegree[out] == 0:
                queue.append(out)
    loops = [net for net, n in indegree.items() if n > 0]
    return order, loops


def _forward(graph, order, loads, *, from_inputs, from_starts):
    """Arrival (sink side) of every net, with the arc that set it (for path tracing)."""
    arrival, pred = {}, {}
    if from_inputs:
        for _, net, name in graph.inputs:
            arrival[net] = loads[net]
            pred[net] = ("input", name)
    if from_starts:
        for net, (t0, label, point) in graph.starts.items():
            t = t0 + loads.get(net, 0.0)
            if t > arrival.get(net, _NEG):
                arrival[net] = t
                pred[net] = ("start", label, point)
    for net in order:
        t_in = arrival.get(net)
        if t_in is None:
            continue
        for out, delay, label in graph.arcs.get(net, ()):
            t = t_in + delay + loads.get(out, 0.0)
            if t > arrival.get(out, _NEG):
                arrival[out] = t
                pred[out] = ("arc", label, net)
    return arrival, pred


def _trace(net, arrival, pred):
    """Startpoint name and the path (list of steps) that reaches ``net``."""
    steps = []
    while True:
        kind = pred[net]
        if kind[0] == "input":
            steps.append({"cell": kind[1], "type": "input", "arrival_ns": _r(arrival[net])})
            start = f"input {kind[1]}"
            break
        label = kind[1]
        steps.append({"cell": label[0], "type": label[1], "arrival_ns": _r(arrival[net])})
        if label[2]:
            steps[-1]["net"] = label[2]
        if kind[0] == "start":
            start = kind[2]
            break
        net = kind[2]
    steps.reverse()
    return start, steps


def _r(value):
    return round(value, _ROUND)


def _record(ns, start, end, path):
    return {"critical_path_ns": _r(ns), "fmax_mhz": _fmax(ns), "startpoint": start,
            "endpoint": end, "path": path}


def _fmax(ns):
    return round(1000.0 / ns, 1) if ns > 0 else None


def analyse_module(name, module, tech, sram, models, *, build_model=True):
    """Timing of one module, its submodules replaced by their :class:`TimingModel`.

    Returns
    -------
    (timing, model, warnings)
        ``timing``: ``{critical_path_ns, fmax_mhz, startpoint, endpoint, path, arcs}`` with
        ``path`` a list of ``{cell, type, arrival_ns[, net]}`` from start to end (the end step
        includes setup) and ``arcs`` the worst ``input_to_flop``, ``flop_to_flop``,
        ``flop_to_output`` and ``input_to_output`` delays (``None`` if the module has no such
        path; ``flop_to_flop`` includes paths inside submodules). ``model``: its
        :class:`TimingModel` (``None`` unless ``build_model``).
    """
    bit_names = _bit_names(module)
    graph = _module_graph(name, module, tech, sram, models, bit_names)
    order, loops = _order(graph)
    warnings = []
    if loops:
        warnings.append(f"module {name}: {len(loops)} nets on combinational loops are not timed")
    loads = {}
    for net in graph.nets:
        delay, _, _ = net_load(graph.drive.get(net, 0.0), graph.caps.get(net, []), tech)
        loads[net] = delay
    arr_in, pred_in = _forward(graph, order, loads, from_inputs=True, from_starts=False)
    arr_st, pred_st = _forward(graph, order, loads, from_inputs=False, from_starts=True)

    candidates = {key: None for key in
                  ("input_to_flop", "flop_to_flop", "flop_to_output", "input_to_output")}

    def offer(key, ns, net, arrival, pred, end, end_step):
        best = candidates[key]
        if best is not None and ns <= best[0]:
            return
        candidates[key] = (ns, net, arrival, pred, end, end_step)

    for net, ends in graph.ends.items():
        for setup, label, point in ends:
            step = (label, setup)
            if net in arr_in:
                offer("input_to_flop", arr_in[net] + setup, net, arr_in, pred_in, point, step)
            if net in arr_st:
                offer("flop_to_flop", arr_st[net] + setup, net, arr_st, pred_st, point, step)
    for _, net, port_name in graph.outputs:
        end = f"output {port_name}"
        if net in arr_in:
            offer("input_to_output", arr_in[net], net, arr_in, pred_in, end, None)
        if net in arr_st:
            offer("flop_to_output", arr_st[net], net, arr_st, pred_st, end, None)

    records = {}
    for key, best in candidates.items():
        if best is None:
            continue
        ns, net, arrival, pred, end, end_step = best
        start, path = _trace(net, arrival, pred)
        if end_step is not None:
            label, setup = end_step
            path.append({"cell": label[0], "type": label[1], "arrival_ns": _r(ns)})
        else:
            path.append({"cell": end.split(" ", 1)[1], "type": "output", "arrival_ns": _r(ns)})
        records[key] = _record(ns, start, end, path)
    internal = [records["flop_to_flop"]] if "flop_to_flop" in records else []
    internal += graph.internal
    internal_worst = max(internal, key=lambda r: r["critical_path_ns"], default=None)
    if internal_worst is not None:
        records["flop_to_flop"] = internal_worst

    worst = max(records.values(), key=lambda r: r["critical_path_ns"], default=None)
    if worst is None:
        timing = _record(0.0, None, None, [])
    else:
        timing = dict(worst)
    timing["arcs"] = {key: records[key]["critical_path_ns"] if key in records else None
                      for key in candidates}
    model = _build_model(module, graph, order, loads, arr_st, pred_st, tech,
                         internal_worst) if build_model else None
    return timing, model, warnings


def _bit_names(module):
    """Net bit -> its public name (``sig[3]``): names Yosys does not hide, the outermost
    (fewest ``/``) and then the shortest; bits with only internal names are absent."""
    names = {}
    for net_name, data in module.get("netnames", {}).items():
        if data.get("hide_name", 0) or net_name.startswith("$"):
            continue
        width = len(data["bits"])
        for i, b in enumerate(data["bits"]):
            if type(b) is not int:
                continue
            name = _bit_name(net_name.lstrip("\\"), i, width)
            best = names.get(b)
            if best is None or (name.count("/"), len(name)) < (best.count("/"), len(best)):
                names[b] = name
    return names


def _build_model(module, graph, order, loads, arr_st, pred_st, tech, internal):
    ports = module.get("ports", {})
    model = TimingModel(
        {p: len(d["bits"]) for p, d in ports.items() if d["direction"] == "input"},
        {p: len(d["bits"]) for p, d in ports.items() if d["direction"] == "output"})
    model.internal = internal
    # Reverse pass: worst delay from each net (sink side) to an end point, setup included.
    to_end = {}
    for net, ends in graph.ends.items():
        setup, _, point = max(ends, key=lambda e: e[0])
        to_end[net] = (setup, point)
    for net in reversed(order):
        for out, delay, _ in graph.arcs.get(net, ()):
            if out in to_end:
                ns = delay + loads.get(out, 0.0) + to_end[out][0]
                if ns > to_end.get(net, (_NEG,))[0]:
                    to_end[net] = (ns, to_end[out][1])
    output_of = defaultdict(list)
    for key, net, _ in graph.outputs:
        output_of[net].append(key)
    # Combinational input -> output delays: propagate {input bit: delay} maps forward.
    reach = {}
    for key, net, _ in graph.inputs:
        _, load, tree = net_load(0.0, graph.caps.get(net, []), tech)
        model.in_load[key] = load
        if net in to_end:
            model.setup[key] = (_r(tree + to_end[net][0]), to_end[net][1])
        reach.setdefault(net, {})[key] = tree
    for net in order:
        sources = reach.get(net)
        if not sources:
            continue
        for out, delay, _ in graph.arcs.get(net, ()):
            target = reach.setdefault(out, {})
            extra = delay + loads.get(out, 0.0)
            for key, ns in sources.items():
                if ns + extra > target.get(key, _NEG):
                    target[key] = ns + extra
    for net, keys in output_of.items():
        for out_key in keys:
            model.drive[out_key] = graph.drive.get(net, 0.0)
            if net in arr_st:
                start, _ = _trace(net, arr_st, pred_st)
                model.out_start[out_key] = (_r(arr_st[net]), start)
            for in_key, ns in reach.get(net, {}).items():
                model.comb.setdefault(in_key, {})[out_key] = _r(ns)
    return model


def flatten(modules, top):
    """One module equal to ``top`` with every submodule instance inlined.

    Cells are named ``instance/.../cell``; nets of inlined modules get fresh bit numbers.
    """
    counter = [1 + max((b for m in modules.values() for d in m.get("netnames", {}).values()
                        for b in d["bits"] if isinstance(b, int)), default=0)]
    cells, netnames = {}, {}

    def inline(module_name, prefix, mapping):
        module = modules[module_name]

        def map_bit(b):
            if type(b) is not int:
                return b
            if b not in mapping:
                mapping[b] = counter[0]
                counter[0] += 1
            return mapping[b]

        for net_name, data in module.get("netnames", {}).items():
            netnames[prefix + net_name.lstrip("\\")] = {
                "bits": [map_bit(b) for b in data["bits"]], "hide_name": data.get("hide_name", 0)}
        for cell_name, cell in module.get("cells", {}).items():
            kind = cell["type"]
            if kind in modules:
                child_ports = modules[kind].get("ports", {})
                child_map = {}
                for port, data in child_ports.items():
                    connected = cell["connections"].get(port, [])
                    for i, b in enumerate(data["bits"]):
                        if type(b) is not int or i >= len(connected):
                            continue
                        outer = map_bit(connected[i])
                        if type(outer) is not int:
                            continue
                        child_map.setdefault(b, outer)
                inline(kind, f"{prefix}{cell_name}/", child_map)
                continue
            get = mapping.get
            cells[prefix + cell_name] = {
                "type": kind, "parameters": cell.get("parameters", {}),
                "port_directions": cell.get("port_directions", {}),
                "connections": {pin: [get(b) or map_bit(b) for b in bits]
                                for pin, bits in cell["connections"].items()}}

    top_module = modules[top]
    identity = {}
    for data in top_module.get("ports", {}).values():
        for b in data["bits"]:
            if type(b) is int:
                identity[b] = b
    inline(top, "", identity)
    return {"ports": top_module.get("ports", {}), "cells": cells, "netnames": netnames}


def analyse(netlist, top, tech, sram, order, *, total_cells=None):
    """Per-module timing and the top path of a Yosys JSON netlist.

    Parameters
    ----------
    netlist : dict
        ``write_json`` output (``{"modules": {...}}``), module names without backslashes.
    top : str
        Top module.
    order : list of str
        Module names, children before parents (every module below ``top``).
    total_cells : int, optional
        Cells of the whole hierarchy; the top path is flattened below
        :data:`FLATTEN_MAX_CELLS` (``None``: always flatten).

    Returns
    -------
    (per_module, total, warnings)
        ``per_module``: ``{module: timing}`` (see :func:`analyse_module`); ``total``: the top
        path with ``method`` (``"flattened"`` or ``"composed"``).
    """
    modules = {_strip(name): module for name, module in netlist["modules"].items()}
    for module in modules.values():
        for cell in module.get("cells", {}).values():
            cell["type"] = _strip(cell["type"])
    models, per_module, warnings = {}, {}, []
    for name in order:
        timing, model, notes = analyse_module(name, modules[name], tech, sram, models,
                                              build_model=name != top)
        per_module[name], models[name] = timing, model
        warnings += notes
    if total_cells is None or total_cells < FLATTEN_MAX_CELLS:
        flat = flatten(modules, top)
        total, _, notes = analyse_module(top, flat, tech, sram, {}, build_model=False)
        warnings += notes
        total["method"] = "flattened"
    else:
        total = dict(per_module[top], method="composed")
    return per_module, total, warnings


def _strip(name):
    return name[1:] if name.startswith("\\") else name


def with_clock(timing, clock_ns):
    """``timing`` plus ``slack_ns`` (clock minus critical path) and ``met``."""
    slack = round(clock_ns - timing["critical_path_ns"], _ROUND)
    return dict(timing, slack_ns=slack, met=slack >= 0)
