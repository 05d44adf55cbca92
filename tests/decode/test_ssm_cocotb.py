"""cocotb regressions of the decode array's Mamba-2 decode step (``ssm-step``) on
``decode-tiny`` (2 channels x 128 bits: chunks of 4 fp32 values, ring of 4 rows), both
simulators: every shape class and bad descriptors, random stalls on every AXI channel."""

import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner


@pytest.mark.parametrize("testcase", ["shapes", "errors"])
def test_ssm_tiny(testcase, sim):
    runner.run(runner.build(generate("decode-tiny"), sim), "hybridgen.verif.decode.tb_ssm",
               testcase=testcase, name=f"ssm-tiny-{testcase}")
