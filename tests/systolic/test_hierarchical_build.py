"""Verilator's hierarchical build of the array core (one mesh row per hierarchy block, listed
in the design's sidecar and written into a ``.vlt`` control file by
:func:`hybridgen.verif.runner.build`): cocotb drives it, the engine computes the same results,
and the top model calls the row block instead of inlining its PEs."""

from hybridgen.gen.elaborate import generate
from hybridgen.rtl.systolic import array
from hybridgen.verif import runner


def test_hierarchical_verilator_build_runs_the_engine(monkeypatch):
    # prefill-tiny is below the size where hierarchy pays off: force it
    monkeypatch.setattr(array, "HIERARCHY_MIN_PES", 1)
    design = generate("prefill-tiny", ("dataflow=ws",))
    blocks = design.sidecar["hierarchy_blocks"]
    assert len(blocks) == 1 and blocks[0].endswith("_row") and "__" not in blocks[0]
    build = runner.build(design, "verilator")
    control = (build.directory / f"{design.top}.vlt").read_text()
    assert control == f'`verilator_config\nhier_block -module "{blocks[0]}"\n'
    # the row is its own model (a library the top calls), not inlined into the top
    assert list(build.directory.glob("V*_row*/"))
    top_model = "".join(path.read_text() for path in build.directory.glob("Vtop___024root*.h"))
    assert "pe_col" not in top_model and "protectlib" in (
        build.directory / "Vtop__Dpi.h").read_text()
    runner.run(build, "hybridgen.verif.systolic.tb_engine", testcase="shapes",
               name="gemm-hierarchical")


def test_small_arrays_build_flat():
    assert "hierarchy_blocks" not in generate("prefill-tiny").sidecar
    assert runner.verilator_control(generate("prefill-tiny")) == ""
