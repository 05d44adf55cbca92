"""The ``ursc`` block's configuration: presets, derived figures, one-line errors, the top."""

import subprocess
import sys

import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.gen.presets import resolve


@pytest.mark.parametrize("preset, peak, latency", [("ursc-tiny", 32, 10),
                                                   ("ursc-small", 512, 16),
                                                   ("hlx-core", 8192, 16)])
def test_presets_and_derived_figures(preset, peak, latency):
    _, config = resolve(preset)
    assert config.peak_macs_per_cycle == peak
    assert config.dpe_latency == latency and config.dpe_interleave == 3
    bits = config.memory_bits
    assert bits["total"] == bits["global"] + bits["operand"] + bits["vmem"] + bits["umem"]
    assert bits["operand"] == 2 * config.operand_kib * 8192


def test_hlx_core_sizes():
    _, c = resolve("hlx-core")
    assert (c.dpe_lanes, c.dpe_dpus, c.dpe_mults, c.vector_units, c.vector_width,
            c.update_units) == (32, 8, 16, 2, 256, 2)
    assert (c.global_kib, c.operand_kib, c.vmem_kib, c.umem_kib) == (364, 64, 8, 4)


def _generate(tmp_path, *sets):
    args = [a for s in sets for a in ("--set", s)]
    return subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", "generate", "ursc-tiny",
                           *args, "-o", str(tmp_path)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("sets, field", [(("dpe_mults=3",), "dpe_mults"),
                                         (("modes=fast",), "modes"),
                                         (("vector_width=256",), "vmem_kib"),
                                         (("update_width=128",), "umem_kib"),
                                         (("dpe_lanes=64", "dpe_mults=64"), "operand_kib")])
def test_bad_config_is_a_one_line_error(tmp_path, sets, field):
    result = _generate(tmp_path, *sets)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"error: {field}:" in result.stderr
    assert not any(tmp_path.iterdir())  # no half-written output


def test_tiny_top_is_the_core_with_register_maps(tmp_path):
    design = generate("ursc-tiny")
    names = {port["name"] for port in design.sidecar["ports"]}
    assert {"desc__valid", "desc__payload", "done__valid", "done__payload", "m_axi__araddr",
            "m_axi__wdata", "m_axi__bvalid"} <= names
    # the DPU, the RVPE unit and the UpE unit are each converted once
    modules = design.sidecar["modules"]
    assert {"ursc_tiny__dpu_m4", "ursc_tiny__dpe_2x2x4", "ursc_tiny__rvpe_unit_w8",
            "ursc_tiny__upe_unit_w4"} <= set(modules)
    maps = design.sidecar["register_maps"]
    fields = {f["name"]: f for f in maps["descriptor"]["fields"]}
    assert fields["q_addr"]["width"] == 64 and fields["scale"]["width"] == 32
    assert {"cycles", "dpe0_busy", "stall_load", "read_bytes", "error"} <= \
        {f["name"] for f in maps["completion"]["fields"]}


@pytest.mark.parametrize("sets, field", [(("vector_width=2",), "vector_width"),
                                         (("update_width=1",), "update_width")])
def test_core_banking_limits_are_one_line_errors(tmp_path, sets, field):
    result = _generate(tmp_path, *sets)
    assert result.returncode == 2, result.stderr
    assert f"error: {field}:" in result.stderr and "Traceback" not in result.stderr


def test_mode_programs_use_rvpe_ops():
    from hybridgen.golden.numerics import VECTOR_OPS
    from hybridgen.rtl.ursc.rvpe import MODE_PROGRAMS
    assert set(MODE_PROGRAMS) == {"attention", "ssd"}
    for steps in MODE_PROGRAMS.values():
        assert all(op in VECTOR_OPS for op, _, _ in steps)
