"""The PipeFlash controller's work, item by item, in Python: what the RTL controller does with
each item of :func:`hybridgen.rtl.ursc.attention_seq.attention_items`, on the bit-exact
primitives of :mod:`hybridgen.golden.ursc` and :mod:`hybridgen.golden.numerics`.

It pins down the item semantics the controller relies on - which S tiles DPE0 computes
(``ceil(visible / dpus)`` output tiles), how each row's mask follows from the descriptor
(query i sees key j iff ``j <= i + sk - sq``, the same limit the sequencer uses), where the
P V reduction stops (``ceil(visible / mults)`` chunks), which vectors the RVPE sums
(``ceil(visible / vector_width)``), when m, l, O start (``first``) and when a tile is
finalized and stored (``last``) - and the tests check that it gives exactly
:func:`hybridgen.golden.ursc.ursc_attention`. It also counts the DPE beats each item costs
(:func:`hybridgen.rtl.ursc.dpe_order.dpe_order`), the busy cycles of an unoverlapped
controller.
"""

import numpy as np

from hybridgen.golden import numerics as nx
from hybridgen.golden.ursc import (EngineParams, _f32, _positive_zero, _sub, dpe_matmul,
                                   rvpe_rowmax, rvpe_rowsum)
from hybridgen.rtl.ursc.attention_seq import attention_items
from hybridgen.rtl.ursc.dpe_order import SLOTS

__all__ = ["attention_by_items"]

_NEG_INF = np.uint32(0xFF800000)


def _ceil(a, b):
    return -(-a // b)


def attention_by_items(q, k, v, *, causal, scale, block_q, block_k, config):
    """O (uint16 [b, sq, hq, d]) and the DPE beat counts ``{"dpe0": n, "dpe1": n}`` of the item
    stream (module docstring). ``config``: an :class:`~hybridgen.golden.ursc.EngineParams` or a
    URSC configuration."""
    p = EngineParams.of(config)
    b, sq, hq, d = q.shape
    sk, hkv = k.shape[1], k.shape[2]
    scale = _f32(1.0 / np.sqrt(d) if scale is None else scale)
    out = np.zeros((b, sq, hq, d), np.uint16)
    beats = {"dpe0": 0, "dpe1": 0}
    state = {}
    for it in attention_items(b=b, sq=sq, sk=sk, hq=hq, hkv=hkv, block_q=block_q,
                              block_k=block_k, causal=causal, lanes=p.lanes):
        n, h, g = it["batch"], it["head"], it["kv_head"]
        r0 = it["q0"] + it["t0"]
        rows = np.arange(r0, r0 + it["tile"])
        key = (n, h, r0)
        if it["first"]:
            state[key] = (np.full(it["tile"], _NEG_INF, np.uint32),
                          np.zeros(it["tile"], np.uint32), np.zeros((it["tile"], d), np.uint32))
        m, l, o = state[key]
        vis = it["visible"]
        if vis:
            j0, keys = it["j0"], it["keys"]
            cols = min(keys, _ceil(vis, p.dpus) * p.dpus)       # DPE0 output tiles x dpus
            beats["dpe0"] += SLOTS * _ceil(_ceil(vis, p.dpus), SLOTS) * _ceil(d, p.mults)
            kj = k[n, j0:j0 + cols, g]                         # [cols, d]
            s = nx.fp32_mul(dpe_matmul(q[n, rows, h], kj.T, p.mults), scale)
            if causal:
                limit = rows[:, None] + 1 + sk - sq - j0       # keys of the block row i sees
                s = np.where(np.arange(cols)[None, :] < limit, s, _NEG_INF)
            m_new = nx.fp32_max(m, rvpe_rowmax(s, p.vector_width))
            finite = (m_new & np.uint32(0x7F800000)) != np.uint32(0x7F800000)
            m_safe = np.where(finite, m_new, np.uint32(0))
            pr = nx.fp32_exp(_sub(s, m_safe[:, None]), p.sfu)
            p16 = nx.fp32_to_bf16(pr)
            alpha = nx.fp32_exp(_sub(m, m_safe), p.sfu)
            sums = np.zeros((len(rows), min(cols, _ceil(vis, p.vector_width)
                                             * p.vector_width)), np.uint32)
            sums[:, :min(cols, sums.shape[1])] = nx.bf16_to_fp32(p16)[:, :sums.shape[1]]
            l_new = nx.fp32_add(nx.fp32_mul(alpha, l), rvpe_rowsum(sums, p.vector_width))
            extent = min(keys, _ceil(vis, p.mults) * p.mults)
            beats["dpe1"] += SLOTS * _ceil(_ceil(d, p.dpus), SLOTS) * _ceil(extent, p.mults)
            pv_a = np.zeros((len(rows), extent), np.uint16)
            pv_a[:, :min(extent, cols)] = p16[:, :min(extent, cols)]
            pv = dpe_matmul(pv_a, v[n, j0:j0 + extent, g], p.mults)
            o_new = nx.fp32_add(nx.fp32_mul(alpha[:, None], o), pv)
            # A row of the tile that sees no key of this block is updated like the others,
            # with no per-row keep: its S row is all -inf, so m stays, a = exp(+0) = 1 and
            # l, O only add +-0 (golden.ursc's "why skipping keeps the bits").
            m, l, o = m_new, l_new, o_new
            state[key] = (m, l, o)
        if it["last"]:
            normalized = nx.fp32_mul(o, nx.fp32_reciprocal(l, p.sfu)[:, None])
            result = np.where((l == 0)[:, None], np.uint16(0), nx.fp32_to_bf16(normalized))
            out[n, rows, h] = _positive_zero(result.astype(np.uint16))
            del state[key]
    assert not state, "a row tile was never finalized"
    return out, beats
