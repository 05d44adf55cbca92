"""``modes`` of the ``ursc`` block: what each mode builds (read off the golden models), that a
single-mode build leaves the other mode's units out (counted in the generated netlist), the
per-mode op decode, and the engine testbenches (verif/ursc tb_rvpe, tb_upe) bit-exact on each
mode's build of ursc-tiny."""

import re
from collections import Counter

import numpy as np
import pytest
from amaranth.sim import Simulator

from hybridgen.gen.elaborate import generate
from hybridgen.gen.presets import resolve
from hybridgen.golden import numerics, ursc
from hybridgen.rtl.ursc.modes import (MODES, RVPE_USES, UPE_USES, ModeDecode, UrscMode,
                                      rvpe_ops, upe_ops)
from hybridgen.rtl.ursc.datapath import UrscDatapath
from hybridgen.rtl.vector.lane import LANE_UNITS, OP_UNITS, lane_units_of
from hybridgen.verif import runner
from hybridgen.verif.ursc.designs import component_design

REDUCTIONS = ("rowsum", "rowmax", "cumsum")
_TINY = resolve("ursc-tiny")[1]

#: golden.ursc's fp32 helpers and the RVPE op (lane unit or reduction) each one is.
SPIED = {"fp32_add": "add", "fp32_mul": "mul", "fp32_max": "max", "fp32_exp": "exp",
         "fp32_reciprocal": "recip", "fp32_silu": "silu", "fp32_softplus": "softplus",
         "fp32_to_bf16": "bf16", "rvpe_rowsum": "rowsum", "rvpe_rowmax": "rowmax",
         "rvpe_cumsum": "cumsum"}


def _bf16(rng, shape):
    return numerics.fp32_to_bf16(numerics.fp32_to_bits(
        rng.standard_normal(shape).astype(np.float32)))


def _f32(values):
    return numerics.fp32_to_bits(np.asarray(values, np.float32))


def _ops_called(monkeypatch, run):
    """The RVPE ops (names of :data:`SPIED`) that ``run()`` calls in golden/ursc.py."""
    called = set()
    for name, op in SPIED.items():
        original = getattr(ursc, name)

        def spy(*args, _original=original, _op=op, **kwargs):
            called.add(_op)
            return _original(*args, **kwargs)
        monkeypatch.setattr(ursc, name, spy)
    run()
    monkeypatch.undo()
    return called


def _attention(rng):
    q, k, v = _bf16(rng, (1, 5, 2, 16)), _bf16(rng, (1, 9, 2, 16)), _bf16(rng, (1, 9, 2, 16))
    ursc.ursc_attention(q, k, v, causal=True, block_q=4, block_k=4, config=_TINY)


def _ssd(rng):
    b, L, h, g, p, n = 1, 11, 2, 1, 4, 8
    case = dict(x=_bf16(rng, (b, L, h, p)), dt=_bf16(rng, (b, L, h)),
                A=_f32(-np.exp(rng.uniform(-1, 1, h))), B=_bf16(rng, (b, L, g, n)),
                C=_bf16(rng, (b, L, g, n)), D=_f32(rng.standard_normal(h)),
                dt_bias=_f32(rng.standard_normal(h)), z=_bf16(rng, (b, L, h, p)))
    ursc.ursc_ssd(**case, chunk=8, config=_TINY)
    step = {key: value[:, 0] if key in ("x", "dt", "B", "C", "z") else value
            for key, value in case.items()}
    ursc.ursc_ssd_step(np.zeros((b, h, p, n), np.uint32), **step, config=_TINY)


@pytest.mark.parametrize("mode, run", [("attention", _attention), ("ssd", _ssd)])
def test_each_mode_builds_what_its_golden_model_uses(monkeypatch, rng, mode, run):
    """The lane units and reductions of a mode's RVPE are exactly those of the fp32 ops its
    bit-exact models call (ursc_attention; ursc_ssd with z and softplus, and ursc_ssd_step)."""
    called = _ops_called(monkeypatch, lambda: run(rng))
    built = rvpe_ops(mode)
    assert lane_units_of(called) == lane_units_of(built), (sorted(called), built)
    assert {op for op in called if op in REDUCTIONS} == {op for op in built if op in REDUCTIONS}
    # the table of docs/ursc.md: every op it names is called (sub is the adder's)
    assert {OP_UNITS.get(op, op) for op in RVPE_USES[mode]} == \
        {OP_UNITS.get(op, op) for op in called}


def test_mode_op_sets():
    shared = set(rvpe_ops("attention")) & set(rvpe_ops("ssd"))
    assert set(rvpe_ops("attention")) - shared == {"max", "min", "recip", "rowmax"}
    assert set(rvpe_ops("ssd")) - shared == {"sigmoid", "silu", "softplus", "cumsum"}
    assert rvpe_ops("both") == tuple(numerics.VECTOR_OPS)
    assert upe_ops("attention") == ("MULADD", "MUL_BF16") and upe_ops("ssd") == ("MULADD", "MUL")
    assert upe_ops("both") == ("MULADD", "MUL", "MUL_BF16")
    assert set(UPE_USES) == set(RVPE_USES) == {"attention", "ssd"}


@pytest.mark.parametrize("modes", MODES)
def test_mode_decode_every_op(modes):
    """The decode in front of the RVPE lanes, exhaustively: an op of the running mode passes,
    any other becomes ``pass``; a single-mode build has no ``mode`` input."""
    codes = {name: [numerics.VECTOR_OPS[op] for op in rvpe_ops(name)]
             for name in (("attention", "ssd") if modes == "both" else (modes,))}
    dut = ModeDecode(modes=modes, codes=codes, bits=4, fallback=numerics.VECTOR_OPS["pass"])
    assert ("mode" in dut.signature.members) == (modes == "both")
    running = ["attention", "ssd"] if modes == "both" else [modes]
    seen = []

    async def bench(ctx):
        for mode in running:
            if modes == "both":
                ctx.set(dut.mode, UrscMode[mode.upper()])
            for op, code in numerics.VECTOR_OPS.items():
                ctx.set(dut.op, code)
                want = code if op in rvpe_ops(mode) else numerics.VECTOR_OPS["pass"]
                assert ctx.get(dut.o) == want, (modes, mode, op)
                seen.append(op)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) == 16 * len(running)


def _instances(verilog):
    """``{module: Counter(instantiated module -> count)}`` of generated Verilog (the leaves the
    library converts once are instantiated by name; plain submodules are modules too)."""
    texts = re.split(r"^module\s+\\?", verilog, flags=re.M)[1:]
    bodies = [re.match(r"[^\s(]+", text).group(0) for text in texts]
    out = {}
    names = set(bodies)
    for name, text in zip(bodies, texts):
        found = re.findall(r"^\s*\\?([^\s(]+)\s+\\?[^\s(]+\s*\(", text, re.M)
        out[name] = Counter(kind for kind in found if kind in names)
    return out


@pytest.fixture(scope="module")
def netlists():
    """``{modes: (top, module names, instances)}`` of ursc-tiny in each mode."""
    out = {}
    for modes in MODES:
        # "both" is the preset's default: the design test_core_cocotb and test_cli generate
        design = generate("ursc-tiny", () if modes == "both" else (f"modes={modes}",))
        out[modes] = (design.top, design.verilog, _instances(design.verilog),
                      design.sidecar)
    return out


def _leaf(instances, top, parent, leaf):
    """Instances of leaf ``<top>__<leaf>`` in module ``<top><parent>``."""
    return instances[f"{top}{parent}"][f"{top}__{leaf}"]


def test_each_mode_elaborates_and_omits_the_other_modes_units(netlists):
    """Counted in the generated netlist of ursc-tiny (vector width 8, 2 update units of 4):
    the lane's unit modules, the vector unit's and the carry's adders and max units, the UpE's
    bf16 rounders."""
    width = resolve("ursc-tiny")[1].vector_width
    tree, cumsum = width - 1, width // 2 * 3  # adders: rowsum tree, Sklansky cumsum
    want = {  # modes: (lane units, vector adders, vector max units, carry adders, carry max,
              #         UpE bf16 rounders per unit)
        "both": (tuple(LANE_UNITS), tree + cumsum, tree, width, 1, 4),
        "attention": (("add", "mul", "minmax", "exp", "recip", "bf16"), tree, tree, 1, 1, 4),
        "ssd": (("add", "mul", "exp", "sigmoid", "softplus", "bf16"), tree + cumsum, 0,
                width, 0, 0),
    }
    for modes, (top, verilog, instances, sidecar) in netlists.items():
        units, adders, maxes, carry_adders, carry_max, rounders = want[modes]
        lane = sorted(name.rsplit(".", 1)[1] for name in instances
                      if name.startswith(f"{top}_vector_lane."))
        assert lane == sorted(units), modes
        unit = f"__rvpe_unit_w{width}"
        assert _leaf(instances, top, f"{unit}.vector", "fp32_add") == adders, modes
        assert _leaf(instances, top, f"{unit}.vector", "fp32_minmax") == maxes, modes
        assert _leaf(instances, top, unit, "fp32_add") == carry_adders, modes
        assert _leaf(instances, top, unit, "fp32_minmax") == carry_max, modes
        assert _leaf(instances, top, "__upe_unit_w4.datapath", "fp32_to_bf16") == rounders
        # the core (UrscCore) places the datapath as its submodule "engines"
        assert instances[f"{top}.engines.rvpe"][f"{top}{unit}"] == 2
        # the DPEs are the same in every mode
        assert instances[f"{top}.engines"][f"{top}__dpe_2x2x4"] == 2
        # only a "both" datapath has the run-time mode input (the core drives it)
        config = resolve("ursc-tiny", (f"modes={modes}",))[1]
        datapath = UrscDatapath(**config.datapath_params())
        assert ("mode" in datapath.signature.members) == (modes == "both"), modes


def test_mode_latencies():
    """The RVPE's latency follows the slowest unit built (attention has no sigmoid/softplus)."""
    both = resolve("ursc-tiny")[1]
    att = resolve("ursc-tiny", ("modes=attention",))[1]
    ssd = resolve("ursc-tiny", ("modes=ssd",))[1]
    assert both.rvpe_latency == ssd.rvpe_latency > att.rvpe_latency
    assert both.upe_latency == att.upe_latency == ssd.upe_latency


_DESIGNS = {}


def _build(component, modes, sim):
    """The engine top of ursc-tiny in ``modes`` (the "both" build without an override, so it
    is the build tests/ursc/test_ursc_cocotb.py uses, compiled once)."""
    if (component, modes) not in _DESIGNS:
        overrides = () if modes == "both" else (f"modes={modes}",)
        _DESIGNS[component, modes] = component_design("ursc-tiny", component, overrides)
    return runner.build(_DESIGNS[component, modes], sim)


# The single-mode engine builds are two more designs per engine (~40 s each on Icarus): `slow`.
# The netlist test above checks what each mode builds in every run.
@pytest.mark.slow
@pytest.mark.parametrize("modes", ["attention", "ssd"])
def test_rvpe_of_one_mode(modes):
    """tb_rvpe on a single-mode RVPE unit (Icarus): the mode's rows and every elementwise op,
    those the build leaves out expected as pass. The "both" build runs both modes in
    tests/ursc/test_ursc_cocotb.py."""
    runner.run(_build("rvpe", modes, "icarus"), "hybridgen.verif.ursc.tb_rvpe",
               testcase="random", name=f"ursc-rvpe-{modes}")


@pytest.mark.parametrize("modes, running", [pytest.param("attention", None, marks=pytest.mark.slow),
                                            pytest.param("ssd", None, marks=pytest.mark.slow),
                                            ("both", "ssd")])
def test_upe_of_one_mode(modes, running):
    """tb_upe: the mode's ops bit-exact, the others executed as MULADD; on the "both" build
    with ``mode`` = SSD (test_ursc_cocotb.py runs it with attention)."""
    env = {"UPE_MODE": running} if running else None
    runner.run(_build("dpe_upe", modes, "icarus"), "hybridgen.verif.ursc.tb_upe",
               testcase="random",
               env=env, name=f"ursc-upe-{modes}")
