"""cocotb regressions of the systolic GEMM engine (``rtl/systolic``) and ``bench gemm``.

``prefill-tiny`` (4x4 int8, both dataflows, 64-bit AXI, 16-row M blocks) runs every shape
class in each dataflow (alternating GEMM by GEMM), bad descriptors and a reset in the middle of
a GEMM on both simulators, with random stalls on the descriptor/completion streams and on every
AXI channel; its bf16 variant runs the shapes on both simulators. Three more geometries run on
Icarus only, where a build takes a second: a non-power-of-two array with both dataflows, a
32-bit bus with one burst in flight and an OS K limit of 20; an output-stationary-only bf16
engine with adder latency 2 on a 128-bit bus; a weight-stationary-only engine with 16 chunks
per scratchpad line and a scratchpad that limits K to 32. The templated array core (WS-only, OS-only and
both-dataflow PEs) and the templated OS row feeder are checked against their pure-Amaranth
twins on both simulators.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from hybridgen.gen.elaborate import generate
from hybridgen.verif import runner
from hybridgen.verif.systolic.equivalence import core_equivalence_design, feeder_equivalence_design

BF16_TINY = ("dtype=bf16",)
ICARUS_GEOMETRIES = [
    ("rows=3", "cols=5", "bus_bits=32", "outstanding=1", "acc_rows=8", "spad_rows=40",
     "os_max_k=20"),
    ("rows=4", "cols=2", "dtype=bf16", "adder_latency=2", "bus_bits=128", "acc_rows=12",
     "dataflow=os"),
    ("rows=2", "cols=8", "bus_bits=256", "acc_rows=8", "spad_rows=16", "outstanding=2",
     "dataflow=ws"),
]


@pytest.mark.parametrize("testcase", ["shapes", "errors", "reset"])
def test_engine_tiny(testcase, sim):
    runner.run(runner.build(generate("prefill-tiny"), sim), "hybridgen.verif.systolic.tb_engine",
               testcase=testcase, name=f"gemm-tiny-{testcase}")


# bf16 prefill-tiny is a second Verilator build (~40 s of CPU): `slow` there; `make demo` runs
# the bf16 engine (prefill-small) on Verilator.
@pytest.mark.slow_on("verilator")
def test_engine_tiny_bf16(sim):
    build = runner.build(generate("prefill-tiny", BF16_TINY), sim)
    for testcase in ("shapes", "reset"):
        runner.run(build, "hybridgen.verif.systolic.tb_engine", testcase=testcase,
                   name=f"gemm-tiny-bf16-{testcase}")


@pytest.mark.parametrize("overrides", ICARUS_GEOMETRIES, ids=lambda o: ",".join(o))
def test_engine_other_geometries_icarus(overrides):
    runner.run(runner.build(generate("prefill-tiny", overrides), "icarus"),
               "hybridgen.verif.systolic.tb_engine", testcase="shapes", name="gemm-geometry")


# Every configuration on Icarus (a build takes a second); on Verilator, where each is a build of
# its own (~25 s of CPU), the two-dataflow PEs (they hold both single-dataflow paths) in every
# run and the rest in `make test-slow`.
def _verilator_slow_unless(keep, *configs):
    return [pytest.param(*c, sim, marks=[pytest.mark.slow] if sim == "verilator" and c not in keep
                         else []) for c in configs for sim in runner.SIMULATORS]


@pytest.mark.parametrize("dtype,rows,cols,dataflow,sim", _verilator_slow_unless(
    {("int8", 3, 4, "both"), ("bf16", 2, 3, "both")},
    ("int8", 3, 4, "ws"), ("bf16", 3, 2, "ws"), ("int8", 3, 4, "os"), ("bf16", 2, 3, "os"),
    ("int8", 3, 4, "both"), ("bf16", 2, 3, "both")))
def test_core_template_equals_amaranth(dtype, rows, cols, dataflow, sim):
    design = core_equivalence_design(rows, cols, dtype, adder_latency=2, dataflow=dataflow)
    runner.run(runner.build(design, sim), "hybridgen.verif.systolic.tb_core", name="core-equiv")


@pytest.mark.parametrize("dtype,rows,adder_latency,sim", _verilator_slow_unless(
    {("bf16", 4, 3)}, ("int8", 3, 3), ("bf16", 4, 3), ("bf16", 2, 2)))
def test_feeder_template_equals_amaranth(dtype, rows, adder_latency, sim):
    design = feeder_equivalence_design(rows, dtype, adder_latency=adder_latency)
    interleave = 1 if dtype == "int8" else adder_latency
    runner.run(runner.build(design, sim), "hybridgen.verif.systolic.tb_feeder", name="feeder-equiv",
               env={"FEEDER_INTERLEAVE": str(interleave)})


def _bench(*args):
    result = subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", "bench", "gemm", *args],
                            capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout, result.stderr


def test_bench_json_save_and_replay(tmp_path):
    saved = tmp_path / "run.npz"
    code, stdout, stderr = _bench("--preset", "prefill-tiny", "--m", "9", "--k", "6", "--n",
                                  "5", "--sim", "icarus", "--seed", "3", "--json", "--save",
                                  str(saved))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["correct"] is True and result["shape"] == {"m": 9, "k": 6, "n": 5}
    assert result["ideal_cycles"] == -(-9 * 6 * 5 // 16)
    assert result["counter_cycles"] == result["cycles"]
    assert result["busy_cycles"] == 9 * 2 * 2
    assert {"dram_bytes", "roofline_cycles", "stalls", "utilization"} <= result.keys()
    with np.load(saved) as npz:
        meta = json.loads(str(npz["meta"]))
        assert set(npz.files) == {"a", "b", "c", "meta"}
        assert meta["formats"] == {"a": "int8", "b": "int8", "c": "int32"}
        a, b, c = npz["a"], npz["b"], npz["c"]
    assert np.array_equal(c, (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32))
    replay = tmp_path / "replay.npz"
    np.savez(replay, a=a, b=b)
    code, stdout, stderr = _bench("--preset", "prefill-tiny", "--sim", "icarus", "--inputs",
                                  str(replay), "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["shape"] == {"m": 9, "k": 6, "n": 5}


def test_bench_output_stationary():
    code, stdout, stderr = _bench("--preset", "prefill-tiny", "--dataflow", "os", "--dtype",
                                  "bf16", "--m", "13", "--k", "9", "--n", "6", "--sim",
                                  "icarus", "--seed", "5", "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["correct"] is True and result["dataflow"] == "os"
    # jobs of rows * interleave = 12 output rows: 2 M tiles x 2 N tiles, K * 3 cycles each
    assert result["busy_cycles"] == 2 * 2 * 9 * 3
    assert result["counter_cycles"] == result["cycles"]


def test_bench_errors_are_one_line():
    cases = [
        (("--m", "0"), "--m: must be an integer in 1..65535, not 0"),
        (("--k", "300"), "--k: must be <= 256"),
        (("--dataflow", "is"), "argument --dataflow: invalid choice: 'is'"),
        (("--dtype", "bf16", "--set", "dtype=int8"), "--dtype: conflicts with --set dtype=int8"),
        (("--dataflow", "os", "--k", "65"), "--k: must be <= os_max_k = 64"),
    ]
    for args, message in cases:
        code, stdout, stderr = _bench("--preset", "prefill-tiny", *args)
        assert code == 2 and stdout == "", (args, stderr)
        assert stderr.startswith(f"hybridgen: error: {message}"), (args, stderr)
        assert len(stderr.strip().splitlines()) == 1
