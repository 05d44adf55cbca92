"""The attention descriptor check (:mod:`hybridgen.rtl.ursc.attention_desc`) on the Amaranth
simulator: the RTL code equals the reference :func:`attention_errors` on edge descriptors (one
per limit, both sides of each bound) and on random ones, for ursc-tiny and ursc-small. Seeded
(the ``seed`` fixture, printed on failure)."""

import random

import pytest
from amaranth.sim import Simulator

from hybridgen.gen.presets import resolve
from hybridgen.rtl.ursc.attention_desc import (AttentionCheck, AttentionError,
                                               attention_capacity, attention_errors)

ONE = 0x3F800000  # fp32 1.0


def _good(**over):
    desc = dict(q_addr=0x1000, k_addr=0x2000, v_addr=0x3000, o_addr=0x4000, b=1, sq=8, sk=8,
                hq=2, hkv=1, d=16, block_q=4, block_k=4, causal=0, scale=ONE)
    desc.update(over)
    return desc


def _edges(config):
    cap = attention_capacity(config)
    bk_max = cap["operand"] // (4 * 16)          # largest block_k the operand memory holds
    yield _good()
    for field in ("b", "sq", "sk", "hq", "hkv", "block_q", "block_k"):
        yield _good(**{field: 0})
    yield _good(hq=6, hkv=4)
    yield _good(hq=8, hkv=2)
    for d in (15, 16, 256, 257, 511):
        yield _good(d=d)
    yield _good(block_k=bk_max)
    yield _good(block_k=bk_max + 1)
    yield _good(scale=0x7F800000)
    yield _good(scale=0xFFC00000)
    yield _good(scale=0x7F7FFFFF)
    yield _good(b=0, hq=3, hkv=2, d=8, block_q=0, scale=0x7F800001)


def _random(rng, layout):
    from amaranth.hdl import Shape
    widths = {name: Shape.cast(field.shape).width for name, field in layout}
    small = dict(b=4, sq=64, sk=64, hq=16, hkv=8, d=300, block_q=128, block_k=128)
    for _ in range(150):
        desc = _good()
        for name, top in small.items():
            desc[name] = rng.randrange(top) if rng.random() < 0.8 else \
                rng.randrange(1 << widths[name])
        desc["scale"] = rng.choice([ONE, 0x7F800000, rng.randrange(1 << 32)])
        desc["causal"] = rng.randrange(2)
        yield desc


@pytest.mark.parametrize("preset", ["ursc-tiny", "ursc-small"])
def test_check_matches_reference(preset, seed):
    _, config = resolve(preset)
    rng = random.Random(seed)
    dut = AttentionCheck(config)
    cases = list(_edges(config)) + list(_random(rng, dut.desc.shape()))
    seen = set()

    async def bench(ctx):
        for desc in cases:
            for name, value in desc.items():
                ctx.set(getattr(dut.desc, name), value)
            got = ctx.get(dut.error)
            want = attention_errors(config, **desc)
            assert got == want, f"seed {seed} {preset}: {desc}: RTL {got!r}, reference {want!r}"
            seen.add(want)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    for flag in AttentionError:
        assert any(code & flag for code in seen), f"no case raised {flag!r}"
    assert AttentionError(0) in seen


def test_reference_limits():
    _, config = resolve("ursc-tiny")
    assert attention_errors(config, **_good()) == AttentionError(0)
    assert attention_errors(config, **_good(hq=3, hkv=2)) == AttentionError.HEADS
    assert attention_errors(config, **_good(hkv=0)) == AttentionError.SHAPE
    assert attention_errors(config, **_good(d=64, block_k=8)) == AttentionError(0)
    assert attention_errors(config, **_good(d=64, block_k=9)) == AttentionError.MEMORY
