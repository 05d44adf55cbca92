"""The area groups of the URSC core (``UrscConfig.area_groups``, the breakdown of
``hybridgen synth``) cover every module of ursc-tiny exactly once, in each of its modes.

No Yosys run: the modules are those of the generated Verilog, which are the modules Yosys
synthesizes and :func:`hybridgen.synth.flow.area_breakdown` assigns (the synthesized hierarchy
keeps every one of them, escaped names without the backslash).
"""

import re

import pytest

from hybridgen.gen.blocks.ursc import UrscConfig
from hybridgen.gen.elaborate import generate
from hybridgen.synth.flow import area_breakdown

GROUPS = UrscConfig.area_groups
REST = "control"  # the group with no substrings: the top's own logic and what nothing claims

#: Modules of ursc-tiny per group and mode. DPE: the DPE, its DPU (and the DPU's carry and dot
#: product), the exact bf16 multiplier and the adder leaf. RVPE: the unit and its carry,
#: decode and vector unit, the lane and one module per lane unit, the adder and max leaves, the
#: top's rvpe. UpE: the unit and its datapath, the multiplier, adder and bf16 leaves, the top's
#: upe and one decode per update unit. Memories: the wrapper and its 8 memories (q, k, v, the
#: two S memories s0 and s1, p, o, u). DMA: the loader, the ReadDma and its row queue, the
#: WriteDma and its two queues. Control: the top and the rest of the core's own modules (21:
#: one softmax program per RVPE unit, the controller's item queue, its queues of the items whose
#: S and P V jobs are sent).
CORE = {"memories": 1 + 8, "DMA": 1 + 2 + 3, "control": 21}
EXPECTED_COUNTS = {
    "both": {"DPE0 + DPE1": 6, "RVPE": 4 + 1 + 8 + 2 + 1, "UpE": 2 + 3 + 1 + 2, **CORE},
    "attention": {"DPE0 + DPE1": 6, "RVPE": 4 + 1 + 6 + 2 + 1, "UpE": 2 + 3 + 1 + 2, **CORE},
    "ssd": {"DPE0 + DPE1": 6, "RVPE": 4 + 1 + 6 + 1 + 1, "UpE": 2 + 2 + 1 + 2, **CORE},
}


@pytest.fixture(scope="module")
def tiny():
    """``{modes: (top, module names)}`` of ursc-tiny, as Yosys names them."""
    out = {}
    for modes in EXPECTED_COUNTS:
        design = generate("ursc-tiny", () if modes == "both" else (f"modes={modes}",))
        names = re.findall(r"^module\s+\\?([^\s(]+)", design.verilog, re.M)
        assert len(names) == len(set(names))
        out[modes] = design.top, names
    return out


#: The one module two groups match, and the group it goes to by the first-match rule: the
#: DPE's adder leaf ``fp32_add_l3`` also holds the RVPE's substring ``__fp32_add`` (the RVPE's
#: leaf is ``fp32_add``, a name the vector unit shares with other blocks).
OVERLAPS = {"__fp32_add_l3": ["DPE0 + DPE1", "RVPE"]}


def _claims(name):
    """The groups with a substring of ``name`` (the rest group has none)."""
    return [group for group, keys in GROUPS.items() if any(key in name for key in keys)]


def test_groups_are_the_issue_breakdown():
    """DPE0 + DPE1, RVPE, UpE, memories (their logic), DMA, control (the rest); the SRAM
    macros are the flow's own group."""
    assert list(GROUPS) == ["DPE0 + DPE1", "RVPE", "UpE", "memories", "DMA", REST]
    assert [group for group, keys in GROUPS.items() if not keys] == [REST]


@pytest.mark.parametrize("modes", list(EXPECTED_COUNTS))
def test_every_module_is_in_exactly_one_group(tiny, modes):
    """Only the top and its own inner modules fall to control: an unclaimed library leaf (a
    module of its own, not ``<top>.<path>``) is a unit no group claims. The first-match order
    decides only the overlap of :data:`OVERLAPS`."""
    top, names = tiny[modes]
    unclaimed = []
    for name in names:
        claims = _claims(name)
        overlap = [groups for key, groups in OVERLAPS.items() if name.endswith(key)]
        if overlap:
            assert claims == overlap[0], f"module {name} matches groups {claims}"
        else:
            assert len(claims) <= 1, f"module {name} matches groups {claims}"
        if not claims:
            unclaimed.append(name)
    assert top in unclaimed
    leaves = [name for name in unclaimed if name != top and not name.startswith(f"{top}.")]
    assert not leaves, f"modules no group claims: {leaves}"


def test_every_substring_matches_a_module(tiny):
    """No dead substring in the "both" build (a renamed module would otherwise fall silently
    to control)."""
    _, names = tiny["both"]
    for group, keys in GROUPS.items():
        for key in keys:
            assert any(key in name for name in names), f"{group}: {key!r} matches no module"


@pytest.mark.parametrize("modes", list(EXPECTED_COUNTS))
def test_breakdown_assigns_each_module_once(tiny, modes):
    """:func:`area_breakdown` itself, on one unit of area and one flop per module: every
    module counted once, in the group the substrings give."""
    _, names = tiny[modes]
    result = {"modules": {name: {"instances": 1, "logic_area_um2": 1.0, "memory_area_um2": 0.0,
                                 "flops": 1, "logic_depth": 0} for name in names}}
    out = area_breakdown(result, GROUPS)
    assert list(out) == [*GROUPS, "memories (SRAM macros)"]
    assert {group: out[group]["flops"] for group in GROUPS} == EXPECTED_COUNTS[modes]
    assert sum(out[group]["area_um2"] for group in GROUPS) == len(names)
