"""cocotb regressions of the decode array's Mamba-2 decode step (``ssm-step``) on
``decode-tiny`` (2 channels x 128 bits: chunks of 4 fp32 values, ring of 4 rows), both
simulators: every shape class, bad descriptors and a reset in the middle of a step, random
stalls on every AXI channel; and
the Verilator build of the channels as one hierarchy block."""

import re

import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner


@pytest.fixture(scope="module")
def tiny():
    return generate("decode-tiny")


# decode-tiny's Verilator build is shared with test_gemv_cocotb.py: both simulators every run.
@pytest.mark.parametrize("testcase", ["shapes", "errors", "reset"])
def test_ssm_tiny(testcase, sim, tiny):
    runner.run(runner.build(tiny, sim), "hybridgen.verif.decode.tb_ssm",
               testcase=testcase, name=f"ssm-tiny-{testcase}")


@pytest.mark.sims("verilator")
def test_ssm_channels_are_one_hierarchy_block(sim, tiny):
    """Both channels place one module (the channel number is an input), which Verilator
    builds once as a hierarchy block: the top model calls it and holds none of its logic."""
    block = f"{tiny.top}_ssm_channel"
    lane = f"{tiny.top}_gemv_lane_d8_i4_l3"   # the GEMV lanes: one hierarchy block too
    assert tiny.sidecar["hierarchy_blocks"] == [block, lane]
    assert "__" not in block + lane
    build = runner.build(tiny, sim)
    assert list(build.directory.glob(f"V{block}/"))
    top_model = "".join(path.read_text() for path in build.directory.glob("Vtop___024root*.h"))
    # the top keeps the block's port variables (ssm0__DOT__axi...), none of its submodules
    inlined = re.findall(r"ssm\d__DOT__(?:latch|requests|reader|records|head|lane|stream|yrows"
                         r"|srows|merge|writer)__", top_model)
    assert "ssm0__DOT__axi" in top_model and not inlined, inlined[:3]
    assert "protectlib" in (build.directory / "Vtop__Dpi.h").read_text()
