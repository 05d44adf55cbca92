"""CoreGeometry's buffers of the PipeFlash pipeline (rtl/ursc/memories.py): the two S memories
and the three P regions bound block_k, K/V double-buffering needs a block in half of each
operand memory (pure Python, no simulation)."""

import pytest

from hybridgen.gen.presets import resolve
from hybridgen.rtl.ursc.memories import CoreGeometry


def _geometry(preset):
    return CoreGeometry.of(resolve(preset)[1])


@pytest.mark.parametrize("preset, vmem_keys", [("ursc-tiny", 72), ("ursc-small", 128)])
def test_vmem_bounds_block_k(preset, vmem_keys):
    """S memory and P region hold the same vectors (the 4 : 3 split); one key more does not fit."""
    g = _geometry(preset)
    assert g.vmem_half == g.p_region == vmem_keys // g.vector_width
    cap = g.capacity()
    assert (cap["s"], cap["p"]) == (g.vmem_half, g.p_region)
    for name in ("s", "p"):
        assert g.words(block_q=g.lanes, block_k=vmem_keys, d=16)[name] <= cap[name]
        assert g.words(block_q=g.lanes, block_k=vmem_keys + 1, d=16)[name] > cap[name]


@pytest.mark.parametrize("preset", ["ursc-tiny", "ursc-small"])
def test_kv_double_is_half_the_operand_memories(preset):
    g = _geometry(preset)
    depth = {name: g.memories[name][2] for name in ("k", "v")}
    for d in (16, 64, 96, 128):
        for block_k in range(1, 129):
            words = g.words(block_q=1, block_k=block_k, d=d)
            want = words["k"] <= depth["k"] // 2 and words["v"] <= depth["v"] // 2
            assert bool(g.kv_double(block_k=block_k, d=d)) == want, (d, block_k)
    # the bench shape of docs/ursc.md is double-buffered on ursc-tiny, d = 96 blocks of 5 not
    assert preset != "ursc-tiny" or (g.kv_double(block_k=8, d=64)
                                     and not g.kv_double(block_k=5, d=96))
