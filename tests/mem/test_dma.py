# amaranth: UnusedElaboratable=no
"""The row DMA (rtl/mem/dma.py) on its own, outside the GEMM engine.

cocotb (``hybridgen.verif.mem.tb_dma``, ``traffic``) on both simulators: a 64-bit bus with
chunks larger than, equal to and smaller than a beat (4 bursts in flight), and a 512-bit bus
with 16 bursts in flight; on Icarus also a 32-bit bus with one burst in flight. Plus the
Python model of the contract and the parameter checks.
"""

import functools
import json
import tempfile
from pathlib import Path

import pytest

from hybridgen.rtl.mem.dma import ReadDma, WriteDma
from hybridgen.verif import runner
from hybridgen.verif.mem.dma import dma_design, row_bursts, row_chunks

DESIGNS = {
    "bus64": dict(bus_bytes=8, chunk_bytes=(24, 8, 5), outstanding=4, row_bytes=20),
    "bus512": dict(bus_bytes=64, chunk_bytes=(96, 12, 64), outstanding=16, row_bytes=136),
}
ICARUS_ONLY = {"bus32": dict(bus_bytes=4, chunk_bytes=(3,), outstanding=1, row_bytes=9)}


@functools.lru_cache(maxsize=None)
def _design(name):
    """The test top of ``name`` (elaborated once per session, built once per simulator)."""
    return dma_design(**{**DESIGNS, **ICARUS_ONLY}[name])


# Each design is a Verilator build of its own: the 512-bit one (~40 s of CPU) is `slow` there.
@pytest.mark.parametrize("name, sim", [(name, sim) for name in DESIGNS for sim in runner.SIMULATORS
                                       if (name, sim) != ("bus512", "verilator")]
                         + [pytest.param("bus512", "verilator", marks=pytest.mark.slow)])
def test_dma_traffic(name, sim):
    runner.run(runner.build(_design(name), sim), "hybridgen.verif.mem.tb_dma",
               testcase="traffic", name=f"dma-{name}")


@pytest.mark.parametrize("name", ICARUS_ONLY)
def test_dma_traffic_icarus(name):
    runner.run(runner.build(_design(name), "icarus"),
               "hybridgen.verif.mem.tb_dma", testcase="traffic", name=f"dma-{name}",
               env={"ROWS": "50", "WRITES": "30"})


def test_row_bursts_model():
    # aligned cover, 256-beat limit, 4 KB boundary
    assert row_bursts(3, 1, 8) == [(0, 1)]
    assert row_bursts(7, 2, 8) == [(0, 2)]
    assert row_bursts(0, 256 * 8 + 1, 8) == [(0, 256), (2048, 1)]
    assert row_bursts(4095, 2, 64) == [(4032, 1), (4096, 1)]
    assert row_bursts(100, 65536, 64) == [(64, 63)] + [(4096 * j, 64) for j in range(1, 16)] \
        + [(65536, 2)]


def test_row_chunks_model():
    memory = bytes(range(256))
    assert row_chunks(memory, 5, 7, 3) == [b"\x05\x06\x07", b"\x08\x09\x0a", b"\x0b\0\0"]
    assert row_chunks(memory, 0, 4, 4) == [b"\0\1\2\3"]


@pytest.mark.parametrize("kwargs,message", [
    (dict(bus_bytes=12), "Bus width must be a power of two"),
    (dict(addr_bits=8), "Address width must be an integer >= 12"),
    (dict(outstanding=0), "Bursts in flight must be a positive integer, not 0"),
    (dict(chunk_bytes=(8, 0)), "Chunk sizes must be positive integers, not (8, 0)"),
])
def test_read_dma_parameters_are_checked(kwargs, message):
    args = dict(addr_bits=32, bus_bytes=8, chunk_bytes=(8,), outstanding=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReadDma(**args)


def test_write_dma_row_width_is_checked():
    with pytest.raises(ValueError, match="Row width must be a positive number of bytes, not 0"):
        WriteDma(addr_bits=32, bus_bytes=8, row_bytes=0, outstanding=2)


def test_read_throughput(sim):
    """64 KiB at read latency 128 with 16 bursts in flight, no stalls: >= 0.98 beats/cycle
    (the figure of ``python -m hybridgen.bench.dma``, here on the 512-bit test design)."""
    build = runner.build(_design("bus512"), sim)
    for row_bytes in (65536,):
        with tempfile.TemporaryDirectory(dir=runner.build_root()) as scratch:
            out = Path(scratch) / "result.json"
            runner.run(build, "hybridgen.verif.mem.tb_dma", testcase="bench", name="dma-bench",
                       env={"BENCH_LATENCY": "128", "BENCH_KBYTES": "64",
                            "BENCH_ROW_BYTES": str(row_bytes), "BENCH_OUT": str(out)})
            result = json.loads(out.read_text())
        print(json.dumps(result))
        assert result["correct"] and result["beats"] == 1024 and result["read_bursts"] == 16
        assert result["max_outstanding_reads"] == 16
        assert result["beats_per_cycle"] >= 0.98, result


@pytest.mark.parametrize("args, field", [
    (["--kbytes", "0"], "--kbytes"), (["--row-bytes", "0"], "--row-bytes"),
    (["--chunk-bytes", "100"], "--chunk-bytes"), (["--outstanding", "0"], "--outstanding"),
    (["--bus-bits", "100"], "--bus-bits"), (["--kbytes", "x"], "--kbytes")])
def test_bench_bad_input_is_one_line(args, field, capsys):
    """A bad throughput-bench argument: one line naming the flag, exit status 2, no run."""
    from hybridgen.bench.dma import main
    assert main([*args, "--sim", "icarus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hybridgen: error:") and field in err[0], err
