"""The ``hybridgen`` command line.

``hybridgen list``                                presets, one per line: name, then description
``hybridgen show PRESET [--set F=V ...]``         the resolved configuration and every field
``hybridgen generate PRESET [--set F=V ...] -o DIR``   DIR/<top>.v and DIR/<top>.json
``hybridgen synth PRESET [--set F=V ...] [--clock-ns T] [--abc S] -o DIR``   DIR/area.json, DIR/report.txt
``hybridgen lint PRESET [--set F=V ...] [--json]``     Verilator lint, each distinct module once
``hybridgen bench KERNEL --preset P [...]``       run a kernel on the generated RTL (cocotb)
``hybridgen test [--sim icarus|verilator|all] [-k EXPR]``   the cocotb regressions (pytest)
``hybridgen fpga PRESET [--set F=V ...] --board B [--ooc] -o DIR``   ECP5 build (gen/fpga.py)

Bad input of any kind gets one line on stderr, ``hybridgen: error: <field>: <what is allowed>``,
exit status 2, no traceback, and no output file.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import ArgumentParser as _Parser, UserError

__all__ = ["main"]


def _progress(message):
    if sys.stderr.isatty():
        print(f"hybridgen: {message}", file=sys.stderr, flush=True)


def _add_config_arguments(parser):
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="FIELD=VALUE",
                        help="override a configuration field (repeatable; dotted paths for "
                             "nested fields, e.g. --set sfu.exp_degree=4)")
    parser.add_argument("--top", help="name of the top Verilog module (default from the preset)")


def cmd_list(args):
    from .presets import load_presets
    presets = load_presets()
    width = max(len(name) for name in presets)
    for name, preset in presets.items():
        print(f"{name:<{width}}  {preset.description}")


def cmd_show(args):
    from .presets import resolve
    preset, config = resolve(args.preset, args.overrides)
    print(f"{preset.name}: {preset.description}  (block {preset.block}, {preset.source})")
    flat = {}

    def flatten(prefix, values):
        for key, value in values.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                flatten(path, value)
            else:
                flat[path] = value
    flatten("", config.to_dict())
    for path, type_name, default, allowed, doc in type(config).describe_fields():
        print(f"  {path} = {flat[path]!r:<10} {type_name}, {allowed}; {doc}")
    for name, value in config.derived_values().items():
        print(f"  [derived] {name} = {value}")


def cmd_generate(args):
    from .elaborate import generate, write_design
    design = generate(args.preset, args.overrides, top=args.top)
    paths = write_design(design, args.output)
    lines = design.verilog.count("\n")
    print(f"{paths[0]}  ({lines} lines, {len(design.sidecar['modules'])} modules)")
    for path in paths[1:]:
        print(f"{path}")


def cmd_synth(args):
    from hybridgen.synth import synthesize
    from hybridgen.synth.flow import check_clock_ns, timing_violations

    from .elaborate import generate
    clock_ns = None if args.clock_ns is None else check_clock_ns(args.clock_ns, "--clock-ns")
    design = generate(args.preset, args.overrides, top=args.top)
    out_dir = Path(args.output)
    with tempfile.TemporaryDirectory(prefix="hybridgen-synth-") as scratch:
        source = Path(scratch) / f"{design.top}.v"
        source.write_text(design.verilog)
        _progress(f"synthesizing {design.top} with Yosys (the first run compiles Yosys, ~35 s)")
        report = synthesize(source, design.top, out_dir, progress=_progress,
                            groups=getattr(design.config, "area_groups", None),
                            clock_ns=clock_ns,
                            abc=args.abc or getattr(design.config, "synth_abc", "full"))
    total = report["total"]
    timing = total["timing"]
    print(f"{design.top}: {total['area_um2']:.1f} um2 ({report['tech']['name']}), "
          f"{total['cells']} cells, {total['flops']} flops, {total['transistors']} transistors, "
          f"logic depth {total['logic_depth']}, critical path {timing['critical_path_ns']} ns "
          f"({timing['fmax_mhz']} MHz)")
    if clock_ns is not None:
        print(f"clock {clock_ns} ns: slack {timing['slack_ns']} ns, "
              f"{'met' if timing['met'] else 'VIOLATED'}")
        for line in timing_violations(report):
            print(line)
    for group, figures in report.get("breakdown", {}).items():
        print(f"  {group}: {figures['area_um2']:.1f} um2, {figures['flops']} flops, "
              f"logic depth {figures['logic_depth']}")
    print(f"{out_dir / 'area.json'}")
    print(f"{out_dir / 'report.txt'}")


def cmd_lint(args):
    import time

    from .elaborate import generate
    from .lint import lint_design
    start = time.monotonic()
    design = generate(args.preset, args.overrides, top=args.top)
    generate_s = time.monotonic() - start
    _progress(f"linting the {len(design.sidecar['modules'])} distinct modules of {design.top}")
    result = lint_design(design.verilog, design.top, jobs=args.jobs)
    report = {"preset": args.preset, "overrides": args.overrides, **result.to_json(),
              "generate_s": round(generate_s, 2)}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{design.top}: {len(result.modules)} modules linted, "
              f"{len(report['errors'])} errors, {len(report['warnings'])} warnings; "
              f"{result.wall_s:.1f} s, peak {result.peak_rss_mb} MB")
        for entry in report["errors"] + report["warnings"]:
            print(f"  {entry['module']}: {entry['text']}")
    if not result.ok:
        first = next(m for m in result.modules if m.errors)
        raise RuntimeError(f"lint of module {first.name}: {first.errors[0]}")
    return 0


def cmd_bench(args):
    from hybridgen.bench import run_bench
    result = run_bench(args)
    if args.json:
        print(json.dumps(result))
    else:
        shape = " ".join(f"{k}={v}" for k, v in result["shape"].items())
        print(f"{result['kernel']} on {result['preset']} ({result['sim']}), {shape}: "
              f"{'correct' if result['correct'] else 'WRONG'}; {result['cycles']} cycles "
              f"(ideal {result['ideal_cycles']}, utilization {result['utilization']:.4f}); "
              f"{result['wall_s']:.1f} s")
        extra = {k: v for k, v in result.items()
                 if k not in ("kernel", "preset", "sim", "shape", "correct", "cycles",
                              "ideal_cycles", "utilization", "wall_s")}
        for key, value in extra.items():
            print(f"  {key}: {value}")
    if not result["correct"]:
        return 1
    return 0


def cmd_test(args):
    tests = Path(__file__).resolve().parent.parent / "tests"
    if not tests.is_dir():
        raise UserError(f"tests: no test directory at {tests} (run from a source checkout)")
    sims = ("icarus", "verilator") if args.sim == "all" else (args.sim,)
    env = dict(os.environ, HYBRIDGEN_SIMS=",".join(sims))
    command = [sys.executable, "-m", "pytest", str(tests), "-m", "cocotb", "-n",
               str(args.jobs)]
    if args.k:
        command += ["-k", args.k]
    return subprocess.call(command, env=env, cwd=tests.parent)


def cmd_fpga(args):
    from . import fpga
    if args.ooc:
        summary = fpga.build_ooc(args.preset, args.overrides, args.board, args.output,
                                 clock_mhz=args.clock_mhz, top=args.top, progress=_progress)
    else:
        if args.top:
            raise UserError("--top: only with --ooc (the board top is named selftest)")
        summary = fpga.build_board(args.preset, args.overrides, args.board, args.output,
                                   seed=args.seed, progress=_progress)
    where = f"{args.board}, out of context" if args.ooc else args.board
    print(f"{args.preset} on {summary['device']} ({where}): "
          f"{summary['lut4']} LUT4, {summary['ff']} FF, {summary['mult18']} MULT18, "
          f"{summary['dp16kd']} DP16KD; fmax {summary['fmax_mhz']} MHz against "
          f"{summary['clock_mhz']} MHz ({'met' if summary['met'] else 'NOT met'})")
    if summary["bitstream"]:
        print(summary["bitstream"])
    print(Path(args.output) / "summary.json")


def _build_parser():
    from hybridgen.bench import KERNELS
    parser = _Parser(prog="hybridgen", description="Hardware generator for hybrid "
                     "Mamba-Transformer inference accelerators")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("list", help="list presets")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("show", help="show a preset's resolved configuration and fields")
    p.add_argument("preset")
    _add_config_arguments(p)
    p.set_defaults(func=cmd_show)

    p = commands.add_parser("generate", help="write Verilog and its JSON sidecar")
    p.add_argument("preset")
    _add_config_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.set_defaults(func=cmd_generate)

    p = commands.add_parser("synth", help="synthesize with Yosys: area, logic depth, timing")
    p.add_argument("preset")
    _add_config_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument("--clock-ns", metavar="T", help="target clock period in ns: adds slack_ns "
                   "and met to every timing record; a violation prints one line per module")
    p.add_argument("--abc", choices=["full", "nofraig"], default=None,
                   help="ABC script: full, or nofraig, without the SAT sweep that does not "
                   "finish on the softplus unit; default: the block's choice (nofraig for the "
                   "blocks holding softplus: sfu, vector, ursc, decode)")
    p.set_defaults(func=cmd_synth)

    p = commands.add_parser("lint", help="Verilator lint of each distinct module (children "
                            "as port-only stubs)")
    p.add_argument("preset")
    _add_config_arguments(p)
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.add_argument("-j", "--jobs", type=int, default=2, metavar="N",
                   help="Verilator processes at a time (default 2)")
    p.set_defaults(func=cmd_lint)

    bench = commands.add_parser("bench", help="run a kernel on the generated RTL")
    kernels = bench.add_subparsers(dest="kernel", required=True, parser_class=_Parser,
                                   metavar="KERNEL")
    for kernel in KERNELS.values():
        p = kernels.add_parser(kernel.name, help=(kernel.__doc__ or "").strip().split("\n")[0])
        p.add_argument("--preset", required=True)
        _add_config_arguments(p)
        p.add_argument("--sim", choices=("icarus", "verilator"), default="icarus")
        p.add_argument("--seed", type=int, help="random seed (default: drawn and reported)")
        p.add_argument("--save", metavar="F.npz", help="write inputs, outputs and metadata")
        p.add_argument("--inputs", metavar="F.npz",
                       help="run these inputs instead of random ones")
        p.add_argument("--json", action="store_true", help="print exactly one JSON object")
        kernel.add_arguments(p)
        p.set_defaults(func=cmd_bench)

    p = commands.add_parser("fpga", help="ECP5 FPGA build: the block out of context, or its "
                            "self-test top on a board (bitstream)")
    p.add_argument("preset")
    _add_config_arguments(p)
    p.add_argument("--board", required=True, choices=("ulx3s-85f", "ecp5-evn"))
    p.add_argument("--ooc", action="store_true",
                   help="out-of-context build of the block alone (no bitstream)")
    p.add_argument("--clock-mhz", type=float, default=100.0, metavar="F",
                   help="fmax target of --ooc (default 100; a board build uses the board clock)")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the self-test stimulus (default 1)")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.set_defaults(func=cmd_fpga)

    p = commands.add_parser("test", help="run the cocotb regressions")
    p.add_argument("--sim", choices=("icarus", "verilator", "all"), default="all")
    p.add_argument("-k", metavar="EXPR", help="pytest -k expression")
    p.add_argument("-j", "--jobs", default="auto", help="pytest-xdist workers (default auto)")
    p.set_defaults(func=cmd_test)
    return parser


def main(argv=None):
    try:
        parser = _build_parser()
        args = parser.parse_args(argv)
        status = args.func(args)
    except UserError as err:
        print(f"hybridgen: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        print(f"hybridgen: failed: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (``hybridgen show ... | head``): not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("hybridgen: interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
