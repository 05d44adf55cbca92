"""The AXI4 testbench kit (verif.axi): memory model, protocol checker and their statistics.

The design is a wire-through ``axi_loop``: an AXI4 slave port ``s_axi`` connected straight to an
AXI4 master port ``m_axi`` (64-bit data, 32-bit address), so a cocotbext-axi master on ``s_axi``
exercises :class:`hybridgen.verif.axi.AxiMemory` and :class:`hybridgen.verif.axi.AxiChecker` on ``m_axi``, and a
testbench driving ``s_axi`` by hand can break the protocol on ``m_axi`` on purpose (the checker
must catch it on every simulator).
"""

from hybridgen.gen.elaborate import Design
from hybridgen.verif import runner

# (signal, width, driven by the master)
AXI_SIGNALS = (
    ("awaddr", "A", True), ("awlen", 8, True), ("awsize", 3, True), ("awburst", 2, True),
    ("awvalid", 1, True), ("awready", 1, False),
    ("wdata", "D", True), ("wstrb", "S", True), ("wlast", 1, True), ("wvalid", 1, True),
    ("wready", 1, False),
    ("bresp", 2, False), ("bvalid", 1, False), ("bready", 1, True),
    ("araddr", "A", True), ("arlen", 8, True), ("arsize", 3, True), ("arburst", 2, True),
    ("arvalid", 1, True), ("arready", 1, False),
    ("rdata", "D", False), ("rresp", 2, False), ("rlast", 1, False), ("rvalid", 1, False),
    ("rready", 1, True),
)


def axi_loop_design(data_width=64, addr_width=32):
    """``axi_loop``: ports clk, rst, ``s_axi__*`` (slave) wired through to ``m_axi__*``."""
    widths = {"A": addr_width, "D": data_width, "S": data_width // 8}
    ports = ["input wire clk", "input wire rst"]
    assigns = []
    for name, width, from_master in AXI_SIGNALS:
        width = widths.get(width, width)
        vector = f"[{width - 1}:0] " if width > 1 else ""
        slave_dir, master_dir = ("input", "output") if from_master else ("output", "input")
        ports.append(f"{slave_dir} wire {vector}s_axi__{name}")
        ports.append(f"{master_dir} wire {vector}m_axi__{name}")
        if from_master:
            assigns.append(f"  assign m_axi__{name} = s_axi__{name};")
        else:
            assigns.append(f"  assign s_axi__{name} = m_axi__{name};")
    verilog = ("module axi_loop (\n  " + ",\n  ".join(ports) + "\n);\n"
               + "\n".join(assigns) + "\nendmodule\n")
    return Design(top="axi_loop", verilog=verilog, sidecar={"ports": []}, config=None)


def test_axi_loop_design_text():
    text = axi_loop_design().verilog
    assert "output wire [31:0] m_axi__awaddr" in text
    assert "input wire [63:0] m_axi__rdata" in text
    assert "output wire [7:0] s_axi__wstrb" not in text  # wstrb comes in on the slave side
    assert "input wire [7:0] s_axi__wstrb" in text
    assert text.count("assign") == len(AXI_SIGNALS)


def test_axi_memory_roundtrip_under_stalls(sim):
    build = runner.build(axi_loop_design(), sim)
    runner.run(build, "hybridgen.verif.selftest.tb_axi", testcase="axi_roundtrip", name="axi")


def test_axi_checker_catches_violations(sim):
    build = runner.build(axi_loop_design(), sim)
    runner.run(build, "hybridgen.verif.selftest.tb_axi", testcase="axi_checker_catches_violations",
               name="axi")


def test_axi_memory_fails_fast_on_a_violation(sim):
    build = runner.build(axi_loop_design(), sim)
    _, cases = runner.run(build, "hybridgen.verif.selftest.tb_axi", testcase="axi_memory_fails_fast",
                          name="axi")
    assert cases == ["axi_memory_fails_fast"]
