"""cocotb regressions of the vector unit (``vector-small``, 16 lanes) and the single lane
(``sfu-small``), bit-exact against golden/numerics.py, and the ``bench sfu`` / ``bench vector``
contract.

Budget (docs/DEVELOPING.md, "Test budget"): on Verilator every unary op sweeps all 65,536 bf16
inputs and 3 x 10^4 random fp32 inputs through a 4-lane build of the unit (``vector-small --set
width=4``, 23,884 beats per op), one build shared by the sweeps, the mixed-op test and the
``bench vector`` runs. The lanes are the same modules at any width, so the sweep checks the lane
exhaustively over bf16. The 16-lane unit runs on Icarus in every run (a short random-op test
with stalls, every op and every reduction) and on Verilator in ``make test-slow`` (mixed ops,
and every op swept over all bf16 and 10^5 random fp32: that build alone is ~6 min of CPU, the
4-lane one ~1.5 min). Icarus simulates the 16-lane design at only ~20 cycles/s (~360
lane-cycles/s), so on Icarus the sweeps run through the single lane on a dense subset - every
64th bf16 pattern from a random offset plus 1,000 random fp32 per op.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner
from hybridgen.verif.vector.operands import UNARY_OPS

_DESIGNS = {}

#: The Verilator build of the default suite: the vector unit at 4 lanes (see the module notes).
NARROW = ("width=4",)


def _build(preset, sim, overrides=()):
    if (preset, overrides) not in _DESIGNS:
        _DESIGNS[preset, overrides] = generate(preset, overrides)
    return runner.build(_DESIGNS[preset, overrides], sim)


@pytest.mark.parametrize("op", UNARY_OPS)
def test_sweep_bit_exact(op, sim):
    if sim == "verilator":
        build, env = _build("vector-small", sim, NARROW), {"VECTOR_FP32": "30000",
                                                           "VECTOR_BF16_STRIDE": "1"}
    else:
        build, env = _build("sfu-small", sim), {"VECTOR_FP32": "1000",
                                                "VECTOR_BF16_STRIDE": "64"}
    runner.run(build, "hybridgen.verif.vector.tb_vector", testcase="sweep", name=f"sweep-{op}",
               env={"VECTOR_OP": op, **env})


def test_vector_mixed_ops_with_stalls(sim):
    rows = "3000" if sim == "verilator" else "30"
    overrides = NARROW if sim == "verilator" else ()
    runner.run(_build("vector-small", sim, overrides), "hybridgen.verif.vector.tb_vector",
               testcase="mixed", name="vector-mixed", env={"VECTOR_ROWS": rows})


@pytest.mark.slow
@pytest.mark.sims("verilator")
def test_vector_16_lanes_verilator(sim):
    """The 16-lane unit on Verilator: mixed ops and reductions with stalls, and every unary op
    swept over all bf16 and 10^5 random fp32 inputs."""
    build = _build("vector-small", sim)
    runner.run(build, "hybridgen.verif.vector.tb_vector", testcase="mixed",
               name="vector16-mixed", env={"VECTOR_ROWS": "3000"})
    for op in UNARY_OPS:
        runner.run(build, "hybridgen.verif.vector.tb_vector", testcase="sweep",
                   name=f"vector16-{op}",
                   env={"VECTOR_OP": op, "VECTOR_FP32": "100000", "VECTOR_BF16_STRIDE": "1"})


@pytest.mark.sims("icarus")  # Verilator checks the lane inside vector-small (one build)
def test_lane_mixed_ops_with_stalls(sim):
    runner.run(_build("sfu-small", sim), "hybridgen.verif.vector.tb_vector", testcase="mixed",
               name="lane-mixed", env={"VECTOR_ROWS": "1500"})


def _bench(*args):
    result = subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", "bench", *args],
                            capture_output=True, text=True, timeout=900)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.sims("icarus")  # a second ~6 min Verilator build; bench sfu runs on Icarus here
def test_bench_sfu_json_save_and_replay(tmp_path, sim):
    saved = tmp_path / "run.npz"
    code, stdout, stderr = _bench("sfu", "--op", "silu", "--preset", "sfu-small", "--n", "300",
                                  "--sim", sim, "--seed", "3", "--json", "--save", str(saved))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["correct"] is True and result["shape"] == {"n": 300}
    assert result["cycles"] == 300 + result["latency"]
    assert 0 < result["max_rel_err"] <= 2.0 ** -18 and result["max_ulp_err"] < 8
    with np.load(saved) as npz:
        assert {"x", "y", "op", "meta"} <= set(npz.files)
        assert npz["x"].dtype == np.uint32 and npz["y"].dtype == np.uint32
        x, y = npz["x"], npz["y"]
    replay = tmp_path / "replay.npz"
    np.savez(replay, x=x)
    again = tmp_path / "again.npz"
    code, stdout, stderr = _bench("sfu", "--op", "silu", "--preset", "sfu-small", "--sim", sim,
                                  "--inputs", str(replay), "--json", "--save", str(again))
    assert code == 0, stderr
    with np.load(again) as npz:
        assert np.array_equal(npz["y"], y)


# Icarus runs the 16-lane unit at ~20 cycles/s: one bench op there, every op on Verilator.
@pytest.mark.parametrize("sim, op", [("icarus", "cumsum"), ("verilator", "rowsum"),
                                     ("verilator", "rowmax"), ("verilator", "cumsum")])
def test_bench_vector(op, sim):
    rows = "200" if sim == "verilator" else "6"
    narrow = [arg for o in NARROW for arg in ("--set", o)] if sim == "verilator" else []
    code, stdout, stderr = _bench("vector", "--op", op, "--preset", "vector-small", *narrow,
                                  "--rows", rows, "--sim", sim, "--seed", "5", "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    width = 4 if sim == "verilator" else 16
    assert result["correct"] is True and result["shape"] == {"rows": int(rows), "width": width}
    assert result["cycles"] == int(rows) + result["latency"]


def test_bench_bad_op_is_a_one_line_error():
    code, stdout, stderr = _bench("sfu", "--op", "tanh", "--preset", "sfu-small")
    assert code == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr
