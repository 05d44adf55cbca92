"""The item-by-item controller model (:mod:`hybridgen.verif.ursc.attention_model`) gives exactly
:func:`hybridgen.golden.ursc.ursc_attention` (MHA and GQA, causal and not, sq < sk, sq > sk,
sq = 1, d = 16 / 32 / 64, blocks not dividing the lengths) on the ursc-tiny and ursc-small
engine sizes, and its DPE beats are at least the useful MACs / per-DPE peak. Seeded."""

import numpy as np
import pytest

from hybridgen.gen.presets import resolve
from hybridgen.golden import numerics as nx
from hybridgen.golden.ursc import attention_useful_macs, ursc_attention
from hybridgen.verif.ursc.attention_model import attention_by_items

SHAPES = [  # b, sq, sk, hq, hkv, d, causal, block_q, block_k
    (1, 8, 8, 2, 2, 16, 0, 4, 8), (1, 8, 8, 2, 2, 16, 1, 4, 4), (2, 5, 11, 4, 1, 32, 1, 3, 4),
    (1, 1, 13, 2, 1, 16, 1, 4, 4), (1, 9, 4, 2, 2, 16, 1, 4, 3), (1, 6, 10, 8, 2, 64, 0, 6, 5),
    (1, 7, 7, 2, 1, 32, 1, 7, 7)]


def _bf16(rng, shape):
    return nx.fp32_to_bf16(nx.fp32_to_bits((rng.standard_normal(shape) * 2).astype(np.float32)))


@pytest.mark.parametrize("preset", ["ursc-tiny", "ursc-small"])
def test_items_give_golden_bits(preset, seed):
    _, config = resolve(preset)
    rng = np.random.default_rng(seed)
    for b, sq, sk, hq, hkv, d, causal, bq, bk in SHAPES:
        q, k, v = _bf16(rng, (b, sq, hq, d)), _bf16(rng, (b, sk, hkv, d)), \
            _bf16(rng, (b, sk, hkv, d))
        want = ursc_attention(q, k, v, causal=bool(causal), block_q=bq, block_k=bk,
                              config=config)
        got, beats = attention_by_items(q, k, v, causal=bool(causal), scale=None, block_q=bq,
                                        block_k=bk, config=config)
        shape = (b, sq, sk, hq, hkv, d, causal, bq, bk)
        assert (got == want).all(), f"seed {seed} {preset} {shape}: O differs"
        useful = attention_useful_macs(b=b, sq=sq, sk=sk, hq=hq, d=d, causal=bool(causal))
        peak = config.dpe_lanes * config.dpe_dpus * config.dpe_mults
        assert beats["dpe0"] * peak >= useful / 2 and beats["dpe1"] * peak >= useful / 2
