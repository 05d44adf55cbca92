"""The Yosys area/depth flow on small Amaranth designs (each synthesis takes about a second)."""

import dataclasses
import json
from types import MappingProxyType

import pytest
from amaranth.back import verilog
from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.synth import SynthError, synthesize
from hybridgen.synth.tech import NANGATE45, NANGATE45_CELL_AREAS, SRAM45


class RegisteredAdder(wiring.Component):
    """``s <= a + b``, registered (width flops)."""

    def __init__(self, width):
        self._width = width
        super().__init__({"a": In(width), "b": In(width), "s": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.s.eq(self.a + self.b)
        return m


class CombAdder(wiring.Component):
    """``s = a + b``, combinational."""

    def __init__(self, width):
        self._width = width
        super().__init__({"a": In(width), "b": In(width), "s": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.s.eq(self.a + self.b)
        return m


class Scratchpad(wiring.Component):
    """A 256 x 32 RAM (one write, one synchronous read port) and a 64 x 8 ROM."""

    addr: In(8)
    data: In(32)
    we: In(1)
    q: Out(32)
    rom_q: Out(8)

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = memory.Memory(shape=32, depth=256, init=[])
        m.submodules.rom = rom = memory.Memory(shape=8, depth=64, init=range(3, 3 * 64, 3))
        write, read, rom_read = ram.write_port(), ram.read_port(), rom.read_port()
        m.d.comb += [write.addr.eq(self.addr), write.data.eq(self.data), write.en.eq(self.we),
                     read.addr.eq(self.addr), self.q.eq(read.data),
                     rom_read.addr.eq(self.addr), self.rom_q.eq(rom_read.data)]
        return m


def write_verilog(path, component, name):
    path.write_text(verilog.convert(component, name=name, emit_src=False))
    return path


def chained_leaves(path, n, *, registered):
    """A top that places ``n`` instances of one leaf module (converted once) via ``Instance``.

    The instances form a chain ``x -> leaf -> leaf -> ... -> y`` with ``x`` and ``y`` registered
    in the top, so a combinational leaf makes a register-to-register path through all of them.
    """
    leaf = RegisteredAdder(8) if registered else CombAdder(8)
    leaf_text = verilog.convert(leaf, name="leaf", emit_src=False)
    m = Module()
    x, y = Signal(8), Signal(8)
    links = [Signal(8, name=f"link{i}") for i in range(n + 1)]
    m.d.sync += [x.eq(x + 1), y.eq(links[n])]
    m.d.comb += links[0].eq(x)
    for i in range(n):
        ports = {"i_a": links[i], "i_b": x, "o_s": links[i + 1]}
        if registered:
            ports.update(i_clk=ClockSignal(), i_rst=ResetSignal())
        m.submodules[f"u{i}"] = Instance("leaf", **ports)
    top_text = verilog.convert(m, name="top", ports=[y], emit_src=False)
    path.write_text(top_text + "\n" + leaf_text)
    return path


def test_registered_adder_counts_flops_and_costs_cells(tmp_path):
    source = write_verilog(tmp_path / "add.v", RegisteredAdder(8), "add8")
    messages = []
    result = synthesize(source, "add8", tmp_path / "out", progress=messages.append)
    module = result["modules"]["add8"]
    assert module["instances"] == 1
    assert module["flops"] == 8 == result["total"]["flops"]
    assert module["cells"]["$_DFF_P_"] == 8
    expected = sum(n * NANGATE45.mapping(kind).area_um2 for kind, n in module["cells"].items())
    assert module["logic_area_um2"] == pytest.approx(expected)
    assert module["area_um2"] == pytest.approx(result["total"]["area_um2"])
    assert module["transistors"] >= 8 * 16
    assert module["logic_depth"] > 0
    assert any("ABC" in message for message in messages)
    saved = json.loads((tmp_path / "out" / "area.json").read_text())
    assert saved == json.loads(json.dumps(result))
    report = (tmp_path / "out" / "report.txt").read_text()
    assert "nangate45" in report and "sram45" in report and "module add8" in report
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["area.json", "report.txt"]


def test_instances_multiply_leaf_figures(tmp_path):
    one = synthesize(chained_leaves(tmp_path / "one.v", 1, registered=True), "top",
                     tmp_path / "out1")
    four = synthesize(chained_leaves(tmp_path / "four.v", 4, registered=True), "top",
                      tmp_path / "out4")
    leaf, top = four["modules"]["leaf"], four["modules"]["top"]
    assert leaf["instances"] == 4 and top["submodules"] == {"leaf": 4}
    assert leaf["area_um2"] == pytest.approx(one["modules"]["leaf"]["area_um2"])
    total = four["total"]
    assert total["logic_area_um2"] == pytest.approx(top["logic_area_um2"]
                                                    + 4 * leaf["logic_area_um2"])
    assert total["flops"] == top["flops"] + 4 * 8
    assert total["cells"] == sum(top["cells"].values()) + 4 * sum(leaf["cells"].values())
    assert "leaf x4" in (tmp_path / "out4" / "report.txt").read_text()


def test_flattened_depth_crosses_module_boundaries(tmp_path):
    result = synthesize(chained_leaves(tmp_path / "chain.v", 4, registered=False), "top",
                        tmp_path / "out")
    leaf_depth = result["modules"]["leaf"]["logic_depth"]
    assert result["modules"]["leaf"]["flops"] == 0
    assert result["total"]["logic_depth"] > 2 * leaf_depth
    assert result["total"]["max_module_logic_depth"] == max(
        module["logic_depth"] for module in result["modules"].values())


def test_ripple_depth_grows_with_width(tmp_path):
    depths = []
    for width in (4, 32):
        source = write_verilog(tmp_path / f"add{width}.v", RegisteredAdder(width), "add")
        depths.append(synthesize(source, "add", tmp_path / f"out{width}")["total"]["logic_depth"])
    assert depths[1] > depths[0] + 4


def test_memory_is_an_sram_macro_not_flops(tmp_path):
    source = write_verilog(tmp_path / "spad.v", Scratchpad(), "spad")
    result = synthesize(source, "spad", tmp_path / "out")
    module = result["modules"]["spad"]
    memories = {record["name"]: record for record in module["memories"]}
    ram, rom = memories["ram"], memories["rom"]
    assert (ram["depth"], ram["width"], ram["read_ports"], ram["write_ports"]) == (256, 32, 1, 1)
    assert ram["implementation"] == "sram" and ram["async_read_ports"] == 0
    assert ram["area_um2"] == pytest.approx(SRAM45.macro(256, 32, 1, 1)["area_um2"])
    assert rom["implementation"] == "logic" and rom["area_um2"] == 0
    assert module["flops"] < 100  # 8,192 bits as flops would be 8,192 DFF_X1
    total = result["total"]
    assert total["memory_area_um2"] == pytest.approx(ram["area_um2"])
    assert total["sram_bits"] == 256 * 32
    assert total["area_um2"] == pytest.approx(total["logic_area_um2"] + ram["area_um2"])
    assert "spad/ram" in (tmp_path / "out" / "report.txt").read_text()


def test_sram_model_ports_and_bits():
    single = SRAM45.macro(1024, 32, 1, 0)
    two_port = SRAM45.macro(1024, 32, 1, 1)
    two_read = SRAM45.macro(1024, 32, 2, 1)
    assert single["cell"] == "6T" and two_port["cell"] == "8T"
    assert single["area_um2"] == pytest.approx(1024 * 32 * 0.37 / 0.6 + 1000)
    assert two_port["area_um2"] == pytest.approx(1.3 * (single["area_um2"] - 1000) + 1000)
    assert two_read["copies"] == 2 and two_read["area_um2"] == pytest.approx(
        2 * two_port["area_um2"])
    assert SRAM45.macro(2048, 32, 1, 1)["area_um2"] > 1.9 * (two_port["area_um2"] - 1000)


def test_cell_table_matches_nangate_footprints():
    assert NANGATE45.mapping("$_NOT_").area_um2 == 0.532
    assert NANGATE45.mapping("$_NAND_").area_um2 == 0.798
    assert NANGATE45.mapping("$_MUX_").area_um2 == 1.862
    assert NANGATE45.mapping("$_DFF_P_").area_um2 == 4.522
    assert NANGATE45.mapping("$_ANDNOT_").area_um2 == pytest.approx(0.532 + 0.798)
    for mapping in NANGATE45.cells.values():
        assert mapping.area_um2 == pytest.approx(
            sum(NANGATE45_CELL_AREAS[cell] for cell in mapping.cells))


def test_unknown_cell_type_raises_and_writes_nothing(tmp_path):
    cells = {kind: m for kind, m in NANGATE45.cells.items() if kind != "$_DFF_P_"}
    partial = dataclasses.replace(NANGATE45, name="no-dff", cells=MappingProxyType(cells))
    source = write_verilog(tmp_path / "add.v", RegisteredAdder(8), "add8")
    with pytest.raises(SynthError, match=r"\$_DFF_P_.*no-dff"):
        synthesize(source, "add8", tmp_path / "out", tech=partial)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("top, tech, message", [
    ("missing", "nangate45", "Module `missing' not found"),
    ("add8", "tsmc7", "tech must be one of 'nangate45', not 'tsmc7'"),
])
def test_failure_leaves_no_partial_files(tmp_path, top, tech, message):
    source = write_verilog(tmp_path / "add.v", RegisteredAdder(8), "add8")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SynthError, match=message) as info:
        synthesize(source, top, out, tech=tech)
    assert "\n" not in str(info.value)
    assert list(out.iterdir()) == []


def test_missing_verilog_file(tmp_path):
    with pytest.raises(SynthError, match="does not exist"):
        synthesize(tmp_path / "nope.v", "top", tmp_path / "out")
    assert not (tmp_path / "out").exists()
