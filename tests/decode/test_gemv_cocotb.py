"""cocotb regressions of the decode array's GEMV (``rtl/decode``) on ``decode-tiny``.

``decode-tiny`` (2 channels x 128 bits, 4 lanes of dot 8 per channel, batch <= 4) runs every
shape class, bad descriptors and a reset in the middle of a GEMV on both simulators, with
random stalls on the descriptor/completion streams and on every AXI channel of every port.
"""

import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner


# decode-tiny's Verilator build is shared by GEMV and the decode step (the lanes and the decode
# step's channel are hierarchy blocks: GEMV and decode step on Verilator, build included, ~50 s
# of CPU), so both simulators run in every `make test`.
@pytest.mark.parametrize("testcase", ["shapes", "errors", "reset"])
def test_gemv_tiny(testcase, sim):
    runner.run(runner.build(generate("decode-tiny"), sim), "hybridgen.verif.decode.tb_gemv",
               testcase=testcase, name=f"gemv-tiny-{testcase}")
