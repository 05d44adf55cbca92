"""Shared fixtures: which simulators the cocotb regressions run on, and generated designs.

``HYBRIDGEN_SIMS`` (comma-separated, default ``icarus,verilator``) selects the simulators;
``hybridgen test --sim`` sets it. Every design is built once per simulator: the build cache in
``hybridgen.verif.runner`` is shared by all pytest-xdist workers.
"""

import os
import pytest

SIMS = tuple(s for s in os.environ.get("HYBRIDGEN_SIMS", "icarus,verilator").split(",") if s)


def pytest_collection_modifyitems(items):
    for item in items:
        if "sim" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cocotb)


@pytest.fixture(params=SIMS)
def sim(request):
    """Each simulator in ``HYBRIDGEN_SIMS``."""
    return request.param
