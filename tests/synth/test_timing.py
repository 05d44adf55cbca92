"""Static timing (synth/timing.py) on hand-written gate netlists in Yosys JSON form.

Synthesis would collapse an inverter chain, so the netlists are written by hand. Every
expected delay is computed here from the cell facts (``NANGATE45_CELL_TIMING``), stage by
stage, never by the analyser: ``delay = intrinsic[pin] + drive * (sum of sink pin caps)``.
"""

import json
import math

import pytest

from hybridgen.gen.cli import main
from hybridgen.synth.flow import SynthError, check_clock_ns
from hybridgen.synth.tech import NANGATE45, NANGATE45_CELL_TIMING as CELLS, SRAM45
from hybridgen.synth.timing import (FLATTEN_MAX_CELLS, analyse, analyse_module, net_load,
                                    with_clock)

INV, NAND, AND, OR, XOR = (CELLS[c] for c in ("INV_X1", "NAND2_X1", "AND2_X1", "OR2_X1",
                                              "XOR2_X1"))
DFF, BUF4 = CELLS["DFF_X1"], CELLS["BUF_X4"]


def stage(cell, pin, load_ff):
    """Hand formula of one stage: intrinsic delay of ``pin`` plus drive times load."""
    return cell.delay_ns[pin] + cell.drive_ns_per_ff * load_ff


class Netlist:
    """Builds one module of a Yosys JSON netlist; nets are ints, ports are lists of nets."""

    def __init__(self):
        self.ports, self.cells, self.netnames, self.next = {}, {}, {}, 2

    def net(self, name=None):
        b = self.next
        self.next += 1
        if name:
            self.netnames[name] = {"bits": [b], "hide_name": 0}
        return b

    def port(self, name, direction, width=1):
        bits = [self.net() for _ in range(width)]
        self.ports[name] = {"direction": direction, "bits": bits}
        self.netnames[name] = {"bits": bits, "hide_name": 0}
        return bits

    def cell(self, name, kind, **pins):
        self.cells[name] = {"type": kind, "connections": {p: [b] if isinstance(b, int) else b
                                                          for p, b in pins.items()}}

    def gate(self, name, kind, out=None, **inputs):
        out = self.net() if out is None else out
        self.cell(name, kind, Y=out, **inputs)
        return out

    def flop(self, name, d, clk, q=None):
        q = self.net(name) if q is None else q
        self.cell(name, "$_DFF_P_", C=clk, D=d, Q=q)
        return q

    def module(self):
        return {"ports": self.ports, "cells": self.cells, "netnames": self.netnames}


def timing_of(module, name="top"):
    timing, _, warnings = analyse_module(name, module, NANGATE45, SRAM45, {},
                                         build_model=False)
    assert warnings == []
    return timing


def inverter_chain(n):
    net = Netlist()
    a, = net.port("a", "input")
    y, = net.port("y", "output")
    signal = a
    for i in range(n):
        signal = net.gate(f"inv{i}", "$_NOT_", out=y if i == n - 1 else None, A=signal)
    return net.module()


@pytest.mark.parametrize("n", [1, 5, 40])
def test_inverter_chain(n):
    timing = timing_of(inverter_chain(n))
    # each inverter drives the next one's input; the last drives the unloaded output port
    expected = (n - 1) * stage(INV, "A", INV.inputs["A"]) + stage(INV, "A", 0.0)
    assert timing["critical_path_ns"] == pytest.approx(expected, abs=1e-4)
    assert timing["fmax_mhz"] == pytest.approx(1000 / expected, rel=1e-3)
    assert (timing["startpoint"], timing["endpoint"]) == ("input a", "output y")
    assert [step["type"] for step in timing["path"]] == ["input"] + ["$_NOT_"] * n + ["output"]
    arrivals = [step["arrival_ns"] for step in timing["path"]]
    assert arrivals == sorted(arrivals) and arrivals[-1] == timing["critical_path_ns"]
    assert timing["arcs"]["input_to_output"] == timing["critical_path_ns"]
    assert timing["arcs"]["flop_to_flop"] is None


def ripple_adder(width):
    """Full adders from gates: ``x = a ^ b; s = x ^ c; cout = (a & b) | (x & c)``."""
    net = Netlist()
    a, b = net.port("a", "input", width), net.port("b", "input", width)
    cin, = net.port("cin", "input")
    s = net.port("s", "output", width)
    cout, = net.port("cout", "output")
    carry = cin
    for i in range(width):
        x = net.gate(f"x{i}", "$_XOR_", A=a[i], B=b[i])
        net.gate(f"s{i}", "$_XOR_", out=s[i], A=x, B=carry)
        g = net.gate(f"g{i}", "$_AND_", A=a[i], B=b[i])
        p = net.gate(f"p{i}", "$_AND_", A=x, B=carry)
        carry = net.gate(f"c{i}", "$_OR_", out=cout if i == width - 1 else None, A=g, B=p)
    return net.module()


@pytest.mark.parametrize("width", [4, 16])
def test_ripple_carry_adder(width):
    timing = timing_of(ripple_adder(width))
    x_load = XOR.inputs["A"] + AND.inputs["A1"]     # x feeds s (XOR A) and p (AND A)
    carry_load = XOR.inputs["B"] + AND.inputs["A2"]  # a carry feeds s (XOR B) and p (AND B)
    p_load = OR.inputs["A2"]                         # p feeds the carry OR's B input
    first = stage(XOR, "B", x_load) + stage(AND, "A1", p_load)   # b[0] -> x0 -> p0
    ripple = stage(OR, "A2", carry_load) + stage(AND, "A2", p_load)  # c(i-1) -> p(i)
    expected = first + (width - 1) * ripple + stage(OR, "A2", 0.0)  # last carry: output
    assert timing["critical_path_ns"] == pytest.approx(expected, abs=1e-4)
    assert (timing["startpoint"], timing["endpoint"]) == ("input b[0]", "output cout")
    assert [step["cell"] for step in timing["path"][1:3]] == ["x0", "p0"]
    assert len(timing["path"]) == 2 + 2 + 2 * (width - 1) + 1


def test_register_to_register_and_memory():
    net = Netlist()
    clk, = net.port("clk", "input")
    d, = net.port("d", "input")
    q, = net.port("q", "output")
    q1 = net.flop("q1", d, clk)
    other = net.flop("q0", d, clk)
    n1 = net.gate("nand", "$_NAND_", A=other, B=q1)   # B (NAND2 A2) is the slower pin
    n2 = net.gate("inv", "$_NOT_", A=n1)
    net.flop("q2", n2, clk, q=q)
    # a 256-word SRAM macro whose read data go through one inverter into a flop
    rd = net.net()
    net.cells["mem"] = {"type": "$mem_v2", "parameters": {"MEMID": "\\buf", "SIZE": 256},
                        "port_directions": {"RD_CLK": "input", "RD_ADDR": "input",
                                            "RD_DATA": "output"},
                        "connections": {"RD_CLK": [clk], "RD_ADDR": [q1], "RD_DATA": [rd]}}
    net.flop("q3", net.gate("minv", "$_NOT_", A=rd), clk)
    timing = timing_of(net.module())
    # q1 drives NAND B and the memory address pin
    reg = (DFF.clock_to_q_ns + DFF.drive_ns_per_ff * (NAND.inputs["A2"] + SRAM45.pin_cap_ff)
           + stage(NAND, "A2", INV.inputs["A"]) + stage(INV, "A", DFF.inputs["D"])
           + DFF.setup_ns)
    access = 0.034 + 0.0305 * math.log2(256)
    mem = access + stage(INV, "A", DFF.inputs["D"]) + DFF.setup_ns
    assert SRAM45.access_ns(256) == pytest.approx(access)
    assert mem > reg
    assert timing["critical_path_ns"] == pytest.approx(mem, abs=1e-4)
    assert (timing["startpoint"], timing["endpoint"]) == ("memory buf", "flop q3")
    # without the memory the register path is the critical one
    del net.cells["mem"], net.cells["minv"], net.cells["q3"]
    timing = timing_of(net.module())
    assert timing["critical_path_ns"] == pytest.approx(
        reg - DFF.drive_ns_per_ff * SRAM45.pin_cap_ff, abs=1e-4)
    assert (timing["startpoint"], timing["endpoint"]) == ("flop q1", "flop q")
    assert [step["cell"] for step in timing["path"]] == ["q1", "nand", "inv", "q2"]
    assert timing["arcs"]["flop_to_output"] == pytest.approx(DFF.clock_to_q_ns, abs=1e-4)
    assert timing["arcs"]["input_to_flop"] == pytest.approx(DFF.setup_ns, abs=1e-4)


def fanout(n):
    net = Netlist()
    a, = net.port("a", "input")
    y = net.port("y", "output", n)
    hub = net.gate("drv", "$_NOT_", A=a)
    for i in range(n):
        net.gate(f"sink{i}", "$_NOT_", out=y[i], A=hub)
    return net.module()


def test_high_fanout_net_is_a_buffer_tree():
    cap, buf_cap = INV.inputs["A"], BUF4.inputs["A"]
    eight = timing_of(fanout(8))["critical_path_ns"]
    assert eight == pytest.approx(stage(INV, "A", 8 * cap) + stage(INV, "A", 0.0), abs=1e-4)
    # 20 sinks: 3 BUF_X4 leaves (the driver sees 3 buffer inputs), each drives ceil(20/3) = 7
    tree20 = stage(BUF4, "A", 7 * cap)
    expected = stage(INV, "A", 3 * buf_cap) + tree20 + stage(INV, "A", 0.0)
    assert timing_of(fanout(20))["critical_path_ns"] == pytest.approx(expected, abs=1e-4)
    # 9 sinks: 2 leaves of ceil(9/2) = 5 sinks
    nine = stage(INV, "A", 2 * buf_cap) + stage(BUF4, "A", 5 * cap) + stage(INV, "A", 0.0)
    assert timing_of(fanout(9))["critical_path_ns"] == pytest.approx(nine, abs=1e-4)
    # 100 sinks: 13 leaves under 2 inner buffers (ceil(13/2) = 7 buffers each)
    delay, load, tree = net_load(INV.drive_ns_per_ff, [cap] * 100, NANGATE45)
    hand_tree = stage(BUF4, "A", 8 * cap) + stage(BUF4, "A", 7 * buf_cap)
    assert (load, tree) == (pytest.approx(2 * buf_cap), pytest.approx(hand_tree))
    assert delay == pytest.approx(INV.drive_ns_per_ff * 2 * buf_cap + hand_tree)


def leaf_module():
    """``y = ~~a`` (comb), an internal flop on the first inverter's output, ``q`` its output."""
    net = Netlist()
    clk, = net.port("clk", "input")
    a, = net.port("a", "input")
    y, = net.port("y", "output")
    q, = net.port("q", "output")
    n1 = net.gate("n1", "$_NOT_", A=a)
    net.gate("n2", "$_NOT_", out=y, A=n1)
    net.flop("f", n1, clk, q=q)
    return net.module()


def two_level():
    net = Netlist()
    clk, = net.port("clk", "input")
    x, = net.port("x", "input")
    q = net.port("q", "output", 2)
    r0 = net.flop("r0", x, clk)
    link, y1 = net.net("link"), net.net("y1")
    for name, a, y, out in (("u0", r0, link, q[0]), ("u1", link, y1, q[1])):
        net.cells[name] = {"type": "leaf", "connections": {"clk": [clk], "a": [a], "y": [y],
                                                           "q": [out]}}
    net.flop("r1", y1, clk)
    return {"modules": {"top": net.module(), "leaf": leaf_module()}}


def test_hierarchy_composed_equals_flattened():
    netlist = two_level()
    per_module, total, warnings = analyse(json.loads(json.dumps(netlist)), "top", NANGATE45,
                                          SRAM45, ["leaf", "top"])
    assert warnings == [] and total["method"] == "flattened"
    n1_load = INV.inputs["A"] + DFF.inputs["D"]       # n1 drives n2 and the internal flop
    hand = (DFF.clock_to_q_ns + DFF.drive_ns_per_ff * INV.inputs["A"]   # r0 -> u0.a
            + stage(INV, "A", n1_load) + stage(INV, "A", INV.inputs["A"])  # u0 -> u1.a
            + stage(INV, "A", n1_load) + stage(INV, "A", DFF.inputs["D"])  # u1 -> r1
            + DFF.setup_ns)
    composed = per_module["top"]
    assert composed["critical_path_ns"] == pytest.approx(hand, abs=1e-4)
    assert total["critical_path_ns"] == pytest.approx(composed["critical_path_ns"], abs=1e-4)
    assert (composed["startpoint"], composed["endpoint"]) == ("flop r0", "flop r1")
    assert (total["startpoint"], total["endpoint"]) == ("flop r0", "flop r1")
    assert [step["cell"] for step in composed["path"]] == ["r0", "u0", "u1", "r1"]
    assert [step["cell"] for step in total["path"]] == ["r0", "u0/n1", "u0/n2", "u1/n1",
                                                        "u1/n2", "r1"]
    leaf = per_module["leaf"]["arcs"]
    assert leaf["input_to_flop"] == pytest.approx(stage(INV, "A", n1_load) + DFF.setup_ns,
                                                  abs=1e-4)
    assert leaf["input_to_output"] == pytest.approx(
        stage(INV, "A", n1_load) + stage(INV, "A", 0.0), abs=1e-4)
    assert leaf["flop_to_output"] == pytest.approx(DFF.clock_to_q_ns, abs=1e-4)
    # above the flattening limit the top path is the composed one
    _, big, _ = analyse(json.loads(json.dumps(netlist)), "top", NANGATE45, SRAM45,
                        ["leaf", "top"], total_cells=FLATTEN_MAX_CELLS)
    assert big["method"] == "composed" and big["critical_path_ns"] == composed[
        "critical_path_ns"]


def test_clock_slack_and_bad_values():
    timing = {"critical_path_ns": 1.25}
    assert with_clock(timing, 1.0) == {"critical_path_ns": 1.25, "slack_ns": -0.25,
                                       "met": False}
    assert with_clock(timing, 1.25)["met"] is True
    assert check_clock_ns("2.5") == 2.5
    for bad in ("0", "-1", "abc", "nan", "inf", None):
        with pytest.raises(SynthError, match="clock_ns must be a positive number"):
            check_clock_ns(bad)


def test_cli_synth_reports_timing_and_violations(tmp_path, capsys):
    out = tmp_path / "mac"
    assert main(["synth", "mac-int8", "-o", str(out), "--clock-ns", "0.5"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "area.json").read_text())
    total = result["total"]["timing"]
    keys = {"critical_path_ns", "fmax_mhz", "startpoint", "endpoint", "path", "slack_ns", "met"}
    assert keys <= set(total) and total["method"] == "flattened"
    assert total["critical_path_ns"] > 0.5 and total["met"] is False
    assert total["slack_ns"] == pytest.approx(0.5 - total["critical_path_ns"], abs=1e-4)
    for module in result["modules"].values():
        assert keys <= set(module["timing"])
    failing = [name for name, m in result["modules"].items() if not m["timing"]["met"]]
    violations = [line for line in printed.splitlines() if line.startswith("timing violated")]
    assert len(violations) == len(failing) + 1 and "VIOLATED" in printed
    assert f"slack {total['slack_ns']} ns" in violations[-1]
    report = (out / "report.txt").read_text()
    assert "critical path" in report and "top critical path" in report
    assert main(["synth", "mac-int8", "-o", str(out), "--clock-ns", "10"]) == 0
    printed = capsys.readouterr().out
    assert "met" in printed and "timing violated" not in printed


@pytest.mark.parametrize("value", ["0", "-2", "fast"])
def test_cli_bad_clock_is_one_line_exit_2(tmp_path, capsys, value):
    out = tmp_path / "out"
    assert main(["synth", "mac-int8", "-o", str(out), f"--clock-ns={value}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--clock-ns must be a positive number" in err
    assert not out.exists()
