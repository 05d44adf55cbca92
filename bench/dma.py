"""Read throughput of :class:`hybridgen.rtl.mem.dma.ReadDma` on the RTL: ``python -m hybridgen.bench.dma``.

Not a ``hybridgen bench`` kernel (those run on a preset's design; the DMA has no preset): this
builds the DMA test top (:func:`hybridgen.verif.mem.dma.dma_design`) for the given bus width,
chunk size and bursts in flight, reads ``--kbytes`` KiB as rows of ``--row-bytes`` (default: one
row) from byte address ``--offset`` with a fixed read latency and no stalls anywhere (the
memory answers every burst back to back; the chunk sink is always ready), checks every chunk
against the model, and prints one JSON object:

``beats``            R beats accepted;
``cycles``           cycles from the first R beat to the last chunk, both included;
``beats_per_cycle``  ``beats / cycles`` (the sustained rate, with the latency to the first beat
                     left out);
``total_cycles``     from the first row request accepted to the last chunk (latency included);
``first_beat_after_request``, ``read_bursts``, ``max_outstanding_reads``, ``chunks``, ``rows``,
the parameters, ``sim``, ``seed``, ``wall_s`` and ``correct``.

Example (the figure docs/mem.md quotes)::

    python -m hybridgen.bench.dma --latency 128 --outstanding 16 --kbytes 64 --bus-bits 512 \\
        --sim verilator
"""

import json
import sys
import tempfile
import time
from pathlib import Path

from hybridgen.gen.errors import ArgumentParser, UserError

__all__ = ["main", "measure"]


def measure(*, bus_bits=512, chunk_bytes=None, outstanding=16, latency=128, kbytes=64,
            row_bytes=None, offset=0, sim="verilator", seed=None):
    """Run the measurement; return the result dict (see the module docstring)."""
    from hybridgen.verif import runner
    from hybridgen.verif.mem.dma import dma_design

    if bus_bits % 8 or bus_bits < 32:
        raise UserError(f"--bus-bits: must be a multiple of 8 and >= 32, not {bus_bits!r}")
    bus_bytes = bus_bits // 8
    chunk_bytes = bus_bytes if chunk_bytes is None else chunk_bytes
    total = kbytes * 1024
    row_bytes = total if row_bytes is None else row_bytes
    for flag, value, low, high in (("--chunk-bytes", chunk_bytes, 1, bus_bytes),
                                   ("--outstanding", outstanding, 1, 256),
                                   ("--latency", latency, 0, 10_000),
                                   ("--kbytes", kbytes, 1, 1024),
                                   ("--row-bytes", row_bytes, 1, total),
                                   ("--offset", offset, 0, 4095)):
        if not low <= value <= high:
            raise UserError(f"{flag}: must be an integer in {low}..{high}, not {value!r}")
    seed = runner.seed_from_env() if seed is None else seed
    design = dma_design(bus_bytes=bus_bytes, chunk_bytes=(chunk_bytes,),
                        outstanding=outstanding, row_bytes=bus_bytes)
    started = time.time()
    sim_build = runner.build(design, sim)
    runs = runner.build_root() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-dma-", dir=runs) as scratch:
        out = Path(scratch) / "result.json"
        runner.run(sim_build, "hybridgen.verif.mem.tb_dma", testcase="bench", seed=seed,
                   name="bench-dma",
                   env={"BENCH_LATENCY": str(latency), "BENCH_KBYTES": str(kbytes),
                        "BENCH_ROW_BYTES": str(row_bytes), "BENCH_OFFSET": str(offset),
                        "BENCH_OUT": str(out)})
        result = json.loads(out.read_text())
    return {**result, "sim": sim, "seed": seed,
            "wall_s": round(time.time() - started, 3)}


def main(argv=None):
    parser = ArgumentParser(prog="python -m hybridgen.bench.dma",
                                     description="ReadDma throughput on the RTL (JSON).")
    parser.add_argument("--bus-bits", type=int, default=512)
    parser.add_argument("--chunk-bytes", type=int, default=None,
                        help="chunk size (default: the bus width)")
    parser.add_argument("--outstanding", type=int, default=16, help="read bursts in flight")
    parser.add_argument("--latency", type=int, default=128, help="extra read latency (cycles)")
    parser.add_argument("--kbytes", type=int, default=64, help="KiB to read")
    parser.add_argument("--row-bytes", type=int, default=None,
                        help="bytes per row request (default: the whole read as one row)")
    parser.add_argument("--offset", type=int, default=0, help="byte address of the first row")
    parser.add_argument("--sim", choices=("icarus", "verilator"), default="verilator")
    parser.add_argument("--seed", type=int, default=None)
    try:
        args = parser.parse_args(argv)
        result = measure(bus_bits=args.bus_bits, chunk_bytes=args.chunk_bytes,
                         outstanding=args.outstanding, latency=args.latency,
                         kbytes=args.kbytes, row_bytes=args.row_bytes, offset=args.offset,
                         sim=args.sim, seed=args.seed)
    except UserError as err:
        print(f"hybridgen: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
