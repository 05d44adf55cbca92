"""Designs for the equivalence tests of templated Verilog against its pure-Amaranth twin:
both array cores side by side (:mod:`hybridgen.verif.systolic.tb_core`), both OS row feeders side by
side (:mod:`hybridgen.verif.systolic.tb_feeder`)."""

from hybridgen.gen.elaborate import Design
from amaranth.hdl import Shape
from amaranth.lib.wiring import In, Out

from hybridgen.gen.hierarchy import ModuleLibrary, convert
from hybridgen.rtl.systolic.core import CoreGeometry, SystolicCoreReference, core_verilog, delay_verilog
from hybridgen.rtl.systolic.feeder import RowFeederReference, feeder_signature, feeder_verilog

__all__ = ["core_equivalence_design", "feeder_equivalence_design"]


def core_equivalence_design(rows, cols, dtype, *, adder_latency=3, tag_width=3, dataflow="ws"):
    """A :class:`hybridgen.gen.elaborate.Design` whose top ``core_equiv`` holds both cores (with an ``os``
    input when ``dataflow`` is "both")."""
    g = CoreGeometry(rows, cols, dtype, adder_latency=adder_latency, tag_width=tag_width,
                     dataflow=dataflow)
    top = f"core_equiv_{dtype}_{dataflow}_{rows}x{cols}"
    library = ModuleLibrary(top)
    pe_name = library.define("pe", g.make_pe)
    delay_name = library.define("delay", verilog=delay_verilog(f"{top}__delay"))
    template = f"{top}__core"
    reference = f"{top}__reference"
    EW, A = g.element_width, 32
    mode = "input os, " if dataflow == "both" else ""
    ports = (f"  input clk, input rst, {mode}input [{rows * EW - 1}:0] a_in, input [{rows - 1}:0] sel_in,"
             f" input v_in, input [{tag_width - 1}:0] tag_in,\n"
             f"  input [{cols * EW - 1}:0] w_in, input w_shift, input w_bank,\n"
             f"  output [{cols * A - 1}:0] psum_t, output [{cols * A - 1}:0] psum_r,"
             f" output v_t, output v_r,\n"
             f"  output [{tag_width - 1}:0] tag_t, output [{tag_width - 1}:0] tag_r")
    common = (".clk(clk), .rst(rst), .a_in(a_in), .sel_in(sel_in), .v_in(v_in), "
              ".tag_in(tag_in), .w_in(w_in), .w_shift(w_shift), .w_bank(w_bank)")
    # the template always has an os input (ignored unless dataflow is "both"); the reference
    # has one only for "both"
    os_t = ", .os(os)" if dataflow == "both" else ", .os(1'b0)"
    os_r = ", .os(os)" if dataflow == "both" else ""
    wrapper = (f"module {top} (\n{ports});\n"
               f"  {template} t ({common}{os_t}, .psum_out(psum_t), .v_out(v_t), .tag_out(tag_t));\n"
               f"  {reference} r ({common}{os_r}, .psum_out(psum_r), .v_out(v_r), .tag_out(tag_r));\n"
               f"endmodule\n")
    text = "\n".join([library.verilog(), core_verilog(template, g, pe_name, delay_name),
                      convert(SystolicCoreReference(g), reference), wrapper])
    return Design(top=top, verilog=text, sidecar={"top": top, "ports": []}, config=None)


def feeder_equivalence_design(rows, dtype, *, adder_latency=3):
    """A :class:`hybridgen.gen.elaborate.Design` whose top holds both OS row feeders on the same inputs;
    outputs ``<port>_t`` (template) and ``<port>_r`` (reference)."""
    g = CoreGeometry(rows, 2, dtype, adder_latency=adder_latency, dataflow="os")
    top = f"feeder_equiv_{dtype}_{rows}_l{adder_latency}"
    library = ModuleLibrary(top)
    delay_name = library.define("delay", verilog=delay_verilog(f"{top}__delay"))
    template, reference = f"{top}__feeder", f"{top}__reference"
    members = feeder_signature(g).members
    inputs = [name for name, member in members.items() if member.flow == In]
    outputs = [name for name, member in members.items() if member.flow == Out]
    ports = ["input clk", "input rst"]
    width = {name: Shape.cast(member.shape).width for name, member in members.items()}
    ports += [f"input [{width[name] - 1}:0] {name}" for name in inputs]
    ports += [f"output [{width[name] - 1}:0] {name}_{side}" for name in outputs for side in "tr"]
    common = ", ".join([".clk(clk)", ".rst(rst)"] + [f".{name}({name})" for name in inputs])
    wrapper = (f"module {top} (\n  " + ",\n  ".join(ports) + ");\n"
               + "".join(f"  {module} {side} ({common}, "
                         + ", ".join(f".{name}({name}_{side})" for name in outputs) + ");\n"
                         for module, side in ((template, "t"), (reference, "r")))
               + "endmodule\n")
    text = "\n".join([library.verilog(), feeder_verilog(template, g, delay_name),
                      convert(RowFeederReference(g), reference), wrapper])
    return Design(top=top, verilog=text, sidecar={"top": top, "ports": []}, config=None)
