"""The area groups of the decode array (``DecodeConfig.area_groups``, the breakdown of
``hybridgen synth``) cover every module of ``decode-tiny`` exactly once.

No Yosys run: the modules are those of the generated Verilog, which are the modules Yosys
synthesizes and :func:`hybridgen.synth.flow.area_breakdown` assigns (the synthesized
hierarchy keeps every one of them, escaped names without the backslash).
"""

import re

import pytest

from hybridgen.gen.blocks.decode import DecodeConfig
from hybridgen.gen.elaborate import generate
from hybridgen.synth.flow import area_breakdown

GROUPS = DecodeConfig.area_groups
REST = "control"  # the group with no substrings: the top's own logic and what nothing claims

#: Modules that belong to the rest group, by the last part of their name (below the top):
#: the descriptor intake, the controller, the counter bank and, per channel, the channel's
#: own logic and its beat sequencer; the decode step's channel top, job latch, head unit,
#: state streamer, y and state row builders and write merge. A module outside this list that
#: falls to the rest is a module no group claims (a new unit that needs a group).
CONTROL_LEAVES = re.compile(r"(intake|control|counters|channel\d+|sequencer"
                            r"|\w+_ssm_channel|latch|head|stream|yrows|srows|merge)")

#: Modules of decode-tiny per group (2 channels: each has a reader, writer, requests, results,
#: sequencer; the lane leaf, its dot and round, and its multiplier and adder leaves are
#: converted once; the decode step's channel is one module for both channels, converted once:
#: 21 datapath modules, its record slots and 3 queues, its read requests, reader and writer
#: (6 modules) and 7 control modules, plus the fp32 multiplier leaf).
EXPECTED_COUNTS = {"vector units (lanes)": 5 + 21 + 1, "dequantizers": 0,
                   "dma and channels": 12 + 6, "buffers": 5 + 4, "control": 8 + 7}


@pytest.fixture(scope="module")
def tiny():
    """(top, module names) of decode-tiny, as Yosys names them."""
    design = generate("decode-tiny")
    names = re.findall(r"^module\s+\\?([^\s(]+)", design.verilog, re.M)
    assert len(names) == len(set(names))
    return design.top, names


def _claims(name):
    """The groups with a substring of ``name`` (the rest group has none)."""
    return [group for group, keys in GROUPS.items() if any(key in name for key in keys)]


def test_groups_are_the_issue_breakdown():
    """Vector units, dequantizers, DMA and channels, buffers, control (the rest)."""
    assert list(GROUPS) == list(EXPECTED_COUNTS)
    assert [group for group, keys in GROUPS.items() if not keys] == [REST]


def test_every_module_is_in_exactly_one_group(tiny):
    top, names = tiny
    unclaimed = []
    for name in names:
        claims = _claims(name)
        assert len(claims) <= 1, f"module {name} matches groups {claims}"
        if not claims:
            unclaimed.append(name)
    strays = [name for name in unclaimed
              if name != top and not CONTROL_LEAVES.fullmatch(name.rsplit(".", 1)[-1])]
    assert top in unclaimed and not strays, f"modules no group claims: {strays}"


def test_every_substring_matches_a_module(tiny):
    """No dead substring (a renamed module would otherwise fall silently to control). The
    dequantizer group is empty until the decode-attention read path is built."""
    _, names = tiny
    for group, keys in GROUPS.items():
        if group == "dequantizers":
            continue
        for key in keys:
            assert any(key in name for name in names), f"{group}: {key!r} matches no module"


def test_breakdown_assigns_each_module_once(tiny):
    """:func:`area_breakdown` itself, on one unit of area and one flop per module: every
    module counted once, in the group the substrings give."""
    _, names = tiny
    result = {"modules": {name: {"instances": 1, "logic_area_um2": 1.0, "memory_area_um2": 0.0,
                                 "flops": 1, "logic_depth": 0} for name in names}}
    out = area_breakdown(result, GROUPS)
    assert list(out) == [*GROUPS, "memories (SRAM macros)"]
    assert {group: out[group]["flops"] for group in GROUPS} == EXPECTED_COUNTS
    assert sum(out[group]["area_um2"] for group in GROUPS) == len(names)
