"""The design compared by :mod:`verif.systolic.tb_core`: both array cores side by side."""

from gen.elaborate import Design
from gen.hierarchy import ModuleLibrary, convert
from rtl.systolic.core import CoreGeometry, SystolicCoreReference, core_verilog, delay_verilog

__all__ = ["core_equivalence_design"]


def core_equivalence_design(rows, cols, dtype, *, adder_latency=3, tag_width=3, dataflow="ws"):
    """A :class:`gen.elaborate.Design` whose top ``core_equiv`` holds both cores (with an ``os``
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
              ".tag_in(tag_in), .w_in(w_in), .w_shift(w_shift), .w_bank(w_bank)"
              + (", .os(os)" if dataflow == "both" else ""))
    wrapper = (f"module {top} (\n{ports});\n"
               f"  {template} t ({common}, .psum_out(psum_t), .v_out(v_t), .tag_out(tag_t));\n"
               f"  {reference} r ({common}, .psum_out(psum_r), .v_out(v_r), .tag_out(tag_r));\n"
               f"endmodule\n")
    text = "\n".join([library.verilog(), core_verilog(template, g, pe_name, delay_name),
                      convert(SystolicCoreReference(g), reference), wrapper])
    return Design(top=top, verilog=text, sidecar={"top": top, "ports": []}, config=None)
