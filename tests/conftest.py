"""Shared fixtures: which simulators the cocotb regressions run on, generated designs, seeds.

``HYBRIDGEN_SIMS`` (comma-separated, default ``icarus,verilator``) selects the simulators;
``hybridgen test --sim`` sets it. A test that takes the ``sim`` fixture runs once per simulator;
``@pytest.mark.sims("icarus")`` restricts it to the simulators it is meant for,
``@pytest.mark.slow_on("verilator")`` makes its instances on those simulators ``slow``, and a
test may parametrize ``sim`` itself (per-parameter simulator choices). Test instances for simulators not
in ``HYBRIDGEN_SIMS`` are deselected, never skipped. Every design is built once per simulator:
the build cache in ``hybridgen.verif.runner`` is shared by all pytest-xdist workers.

Generated designs are cached for the run in ``build/gen-cache`` (``$HYBRIDGEN_GEN_CACHE``, see
``hybridgen.gen.elaborate``): every preset is elaborated once, not once per test, worker and
``bench`` subprocess. The Verilator runtime objects are shared by all Verilator builds of the
run (``build/objcache``, see ``hybridgen.verif.objcache``).

The ``seed`` fixture draws a fresh seed for random stimulus (``$SEED`` fixes it, as for the
cocotb runs), ``rng`` is a numpy generator seeded with it; a failing test that used either
reports ``SEED=...`` in its failure output.
"""

import os
import sys

import numpy as np
import pytest

from hybridgen.verif.runner import SIMULATORS, build_root, seed_from_env

SIMS = tuple(s for s in os.environ.get("HYBRIDGEN_SIMS", "icarus,verilator").split(",") if s)

# Every preset is generated once per run, shared by all workers and the `bench` subprocesses
# (they inherit the environment); `rm -rf build` clears it with the simulator builds.
os.environ.setdefault("HYBRIDGEN_GEN_CACHE", str(build_root() / "gen-cache"))
# Verilator's runtime (verilated*.cpp, cocotb's verilator.cpp) is compiled once per run, not once
# per Verilator build (~12 s of CPU each): see hybridgen.verif.objcache.
if "OBJCACHE" not in os.environ:
    os.environ["OBJCACHE"] = f"{sys.executable} -m hybridgen.verif.objcache"
    os.environ.setdefault("HYBRIDGEN_OBJCACHE_DIR", str(build_root() / "objcache"))


def pytest_configure(config):
    config.addinivalue_line("markers", "sims(*names): the simulators a cocotb test is meant for")
    config.addinivalue_line("markers", "slow_on(*names): simulators on which the test is `slow` "
                            "(a build too costly for make test)")


def _parametrizes_sim(metafunc):
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else names
        if "sim" in names:
            return True
    return False


def pytest_generate_tests(metafunc):
    if "sim" not in metafunc.fixturenames or _parametrizes_sim(metafunc):
        return
    marker = metafunc.definition.get_closest_marker("sims")
    sims = marker.args if marker else SIMULATORS
    slow = metafunc.definition.get_closest_marker("slow_on")
    slow_on = slow.args if slow else ()
    metafunc.parametrize("sim", [pytest.param(sim, marks=pytest.mark.slow) if sim in slow_on
                                 else sim for sim in sims])


def pytest_collection_modifyitems(config, items):
    selected, deselected = [], []
    for item in items:
        if "sim" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cocotb)
            callspec = getattr(item, "callspec", None)
            if callspec is not None and callspec.params.get("sim") not in SIMS:
                deselected.append(item)
                continue
        selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture
def seed(request):
    """A seed for the test's random stimulus: ``$SEED`` if set, else a fresh one; reported
    (``SEED=...``) when the test fails."""
    value = seed_from_env()
    request.node.user_properties.append(("seed", value))
    return value


@pytest.fixture
def rng(seed):
    """``numpy.random.default_rng(seed)`` of the ``seed`` fixture."""
    return np.random.default_rng(seed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        seeds = [value for key, value in item.user_properties if key == "seed"]
        if seeds:
            report.sections.append(("random seed", f"SEED={seeds[0]} pytest '{item.nodeid}' "
                                    "reproduces this run"))
    return report
