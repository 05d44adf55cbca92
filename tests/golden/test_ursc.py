"""URSC golden models (golden/ursc.py): engine primitives, kernel models against float64.

Every random test draws from numpy generators seeded with the ``SEED`` printed by the test.
"""

import numpy as np
import pytest

from hybridgen.golden import ursc
from hybridgen.golden.attention import attention
from hybridgen.golden.ssd import silu, ssd_chunked, ssd_recurrent, ssd_step
from hybridgen.golden.numerics import (
    bf16_from_bits, dot_bf16_accumulate, fp32_add, fp32_to_bf16, fp32_to_bits, fp32_to_float64,
    vector_cumsum, vector_rowsum,
)

SEED = 20261203
U = 2.0 ** -24  # unit roundoff of fp32


def _gamma(k):
    """(1 + u)^k - 1: the relative bound of k chained fp32 roundings (Higham's gamma_k)."""
    return (1.0 + U) ** k - 1.0


def _fp32_rows(rng, shape, spread=4.0):
    values = rng.standard_normal(shape) * np.exp2(rng.uniform(-spread, spread, shape))
    return fp32_to_bits(values.astype(np.float32))


def _bf16(rng, shape, scale=1.0):
    return fp32_to_bf16(fp32_to_bits((rng.standard_normal(shape) * scale).astype(np.float32)))


# -- RVPE reductions ----------------------------------------------------------------------------

@pytest.mark.parametrize("width", [1, 4, 8, 64])
@pytest.mark.parametrize("n", [1, 3, 8, 13, 64, 130])
def test_rvpe_rowsum_order_and_bound(width, n):
    """rvpe_rowsum = vector trees then a chain in vector order (checked element by element).

    Bound vs the float64 sum: ``gamma(log2 W + V - 1) * sum |x|`` with V = ceil(N / W) vectors
    (log2 W tree levels, then V - 1 chained additions, each one rounding).
    """
    print(f"SEED={SEED}")
    rng = np.random.default_rng([SEED, width, n])
    rows = _fp32_rows(rng, (6, n))
    got = ursc.rvpe_rowsum(rows, width)
    vectors = -(-n // width)
    padded = np.zeros((6, vectors * width), np.uint32)
    padded[:, :n] = rows
    for r in range(6):
        acc = None
        for j in range(vectors):
            s = vector_rowsum(padded[r, j * width:(j + 1) * width])
            acc = s if acc is None else fp32_add(acc, s)
        assert got[r] == acc
    exact = fp32_to_float64(rows).sum(axis=-1)
    mag = np.abs(fp32_to_float64(rows)).sum(axis=-1)
    bound = _gamma(int(np.log2(width)) + vectors - 1) * mag
    assert np.all(np.abs(fp32_to_float64(got) - exact) <= bound)


def test_rvpe_rowsum_order_matters():
    """The chain over vectors gives other bits than one flat pairwise tree over the row."""
    rng = np.random.default_rng(SEED)
    rows = _fp32_rows(rng, (200, 32), spread=12)
    chained = ursc.rvpe_rowsum(rows, 8)
    flat = vector_rowsum(rows)
    assert np.any(chained != flat)


@pytest.mark.parametrize("width", [1, 8, 64])
@pytest.mark.parametrize("n", [1, 5, 8, 21, 128, 200])
def test_rvpe_rowmax(width, n):
    rng = np.random.default_rng([SEED, width, n, 1])
    rows = _fp32_rows(rng, (5, n))
    got = fp32_to_float64(ursc.rvpe_rowmax(rows, width))
    assert np.array_equal(got, fp32_to_float64(rows).max(axis=-1))


def test_rvpe_rowmax_minus_inf_padding():
    """A row of -inf (a fully masked attention row) stays -inf; padding never wins."""
    rows = np.full((2, 5), 0xFF800000, np.uint32)
    rows[1, 4] = fp32_to_bits(np.float32(-3.0))
    got = ursc.rvpe_rowmax(rows, 4)
    assert got[0] == 0xFF800000 and fp32_to_float64(got[1]) == -3.0


@pytest.mark.parametrize("width", [1, 4, 8, 64])
@pytest.mark.parametrize("n", [1, 6, 8, 17, 64, 150])
def test_rvpe_cumsum_order_and_bound(width, n):
    """rvpe_cumsum = Sklansky cumsum per vector, then the running carry added to every lane.

    Checked element by element against the contract; the last element of a row that fills
    whole vectors equals :func:`rvpe_rowsum`. Bound of element k vs float64:
    ``gamma(log2 W + V_k - 1) * sum_{i<=k} |x_i|``.
    """
    print(f"SEED={SEED}")
    rng = np.random.default_rng([SEED, width, n, 2])
    rows = _fp32_rows(rng, (4, n))
    got = ursc.rvpe_cumsum(rows, width)
    assert got.shape == rows.shape
    vectors = -(-n // width)
    padded = np.zeros((4, vectors * width), np.uint32)
    padded[:, :n] = rows
    expect = np.zeros_like(padded)
    for j in range(vectors):
        c = vector_cumsum(padded[:, j * width:(j + 1) * width])
        if j:
            c = fp32_add(expect[:, j * width - 1:j * width], c)
        expect[:, j * width:(j + 1) * width] = c
    assert np.array_equal(got, expect[:, :n])
    if n % width == 0:
        assert np.array_equal(got[:, -1], ursc.rvpe_rowsum(rows, width))
    x = fp32_to_float64(rows)
    k_vectors = np.arange(n) // width + 1
    bound = _gamma(int(np.log2(width)) + k_vectors - 1) * np.cumsum(np.abs(x), axis=-1)
    assert np.all(np.abs(fp32_to_float64(got) - np.cumsum(x, axis=-1)) <= bound)


def test_rvpe_bad_width():
    with pytest.raises(ValueError, match="width must be a power of two"):
        ursc.rvpe_rowsum(np.zeros((1, 4), np.uint32), 6)


# -- DPE -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("m,k,n,mults", [(1, 1, 1, 4), (3, 7, 5, 4), (4, 64, 6, 16),
                                         (5, 96, 3, 16), (2, 130, 4, 8)])
def test_dpe_matmul_elements_and_bound(m, k, n, mults):
    """dpe_matmul = dot_bf16_accumulate per output element (checked element by element).

    Bound vs the float64 product of the bf16 values: ``gamma(log2 mults + ceil(K/mults) - 1)
    * sum_k |a_ik b_kj|`` (tree levels of one DPU, then the chained chunk additions).
    """
    print(f"SEED={SEED}")
    rng = np.random.default_rng([SEED, m, k, n, mults])
    a, b = _bf16(rng, (m, k)), _bf16(rng, (k, n))
    got = ursc.dpe_matmul(a, b, mults)
    assert got.shape == (m, n) and got.dtype == np.uint32
    for i in range(m):
        for j in range(n):
            assert got[i, j] == dot_bf16_accumulate(a[i], b[:, j], mults)
    af, bf = bf16_from_bits(a), bf16_from_bits(b)
    bound = _gamma(int(np.log2(mults)) + -(-k // mults) - 1) * (np.abs(af) @ np.abs(bf))
    assert np.all(np.abs(fp32_to_float64(got) - af @ bf) <= bound)


def test_dpe_matmul_batched_and_order_matters():
    """Leading dimensions broadcast; the DPU width is part of the order (other bits)."""
    rng = np.random.default_rng(SEED)
    a, b = _bf16(rng, (3, 8, 64), 8.0), _bf16(rng, (3, 64, 8), 8.0)
    got = ursc.dpe_matmul(a, b, 16)
    for i in range(3):
        assert np.array_equal(got[i], ursc.dpe_matmul(a[i], b[i], 16))
    assert np.any(got != ursc.dpe_matmul(a, b, 4))


def test_dpe_matmul_bad_shapes():
    with pytest.raises(ValueError, match="do not chain"):
        ursc.dpe_matmul(np.zeros((2, 3), np.uint16), np.zeros((4, 2), np.uint16), 4)


# -- kernels: shared stimulus ----------------------------------------------------------------------

TINY = ursc.EngineParams(lanes=2, dpus=2, mults=4, vector_units=1, vector_width=8)
SMALL = ursc.EngineParams()  # ursc-small's engine sizes: 4 x 4 x 16 per DPE, 2 x 64 RVPE
BF16_U = 2.0 ** -8  # unit roundoff of bf16 (8-bit significand)


def _ratio(err, bound):
    """Largest error / bound where the bound is positive (0 where both are 0)."""
    positive = bound > 0
    return float(np.max(err[positive] / bound[positive])) if positive.any() else 0.0


def _f32bits(values):
    return fp32_to_bits(np.asarray(values, np.float32))


def _attention_case(rng, b, sq, sk, hq, hkv, d):
    return _bf16(rng, (b, sq, hq, d)), _bf16(rng, (b, sk, hkv, d)), _bf16(rng, (b, sk, hkv, d))


def _attention_bound(q, k, v, causal):
    """Elementwise bound of :func:`ursc.ursc_attention` against float64 attention.

    Derivation: each weight P_j is rounded to bf16 (relative error <= 2^-8) after an exp whose
    argument carries the fp32 errors of S and of the scale (below 2^-18 relative here); l sums
    the same rounded weights, so the normalized weights carry a relative error of at most
    ``2 * 2^-8 / (1 - 2^-8)``, and ``|o - o_ref| <= 2.01 * 2^-8 * sum_j w_j |v_jc|`` (w the
    exact softmax weights); the fp32 accumulations add below 2^-18 of the same sum and the
    bf16 output rounding ``2^-8 |o|``. The bound used: ``2.05 * 2^-8 * sum_j w_j |v_jc| +
    2^-8 * |o_ref| * (1 + 2^-7)``; measured at most 0.40 of it (SEED 20261203).
    """
    qf, kf, vf = bf16_from_bits(q), bf16_from_bits(k), bf16_from_bits(v)
    ref = attention(qf, kf, vf, causal=causal)
    magnitude = attention(qf, kf, np.abs(vf), causal=causal)
    return ref, 2.05 * BF16_U * magnitude + BF16_U * (1 + 2.0 ** -7) * np.abs(ref)


ATTENTION_SHAPES = [
    # b, sq, sk, hq, hkv, d, causal, block_q, block_k
    (1, 24, 24, 2, 2, 64, False, 8, 8),
    (1, 24, 24, 2, 2, 64, True, 8, 8),
    (1, 13, 40, 4, 1, 96, True, 8, 16),    # GQA 4:1, sq < sk
    (2, 17, 17, 8, 2, 128, True, 16, 8),   # GQA 8:2
    (1, 1, 37, 2, 2, 128, False, 4, 16),   # decode, sq = 1
    (1, 1, 37, 4, 1, 64, True, 4, 16),
    (1, 30, 12, 2, 2, 64, True, 8, 8),     # sq > sk: rows with no visible key give 0
    (1, 20, 33, 2, 1, 96, False, 12, 12),
]


@pytest.mark.parametrize("shape", ATTENTION_SHAPES)
@pytest.mark.parametrize("engine", [TINY, SMALL], ids=["tiny", "small"])
def test_attention_bound_and_skip(shape, engine):
    """ursc_attention within the stated bound of float64 attention; skipping gives the same
    bits as computing and masking every block; fully masked rows are exactly +0."""
    b, sq, sk, hq, hkv, d, causal, block_q, block_k = shape
    print(f"SEED={SEED} shape={shape}")
    rng = np.random.default_rng([SEED, *map(int, shape[:6]), causal])
    q, k, v = _attention_case(rng, b, sq, sk, hq, hkv, d)
    kw = dict(causal=causal, block_q=block_q, block_k=block_k, config=engine)
    got = ursc.ursc_attention(q, k, v, **kw)
    assert got.shape == q.shape and got.dtype == np.uint16
    assert np.array_equal(got, ursc.ursc_attention(q, k, v, skip=False, **kw))
    ref, bound = _attention_bound(q, k, v, causal)
    err = np.abs(bf16_from_bits(got) - ref)
    print(f"max error / bound = {_ratio(err, bound):.3f}")
    assert np.all(err <= bound)
    if causal and sq > sk:
        assert np.all(got[:, :sq - sk] == 0)


def test_attention_skip_adversarial_zeros():
    """Skip == compute where a skipped zero product flips the sign of a zero.

    Rows 8, 9 (a row tile of TINY) see key block 0 (scores 0, V = -1) and keys 8, 9 of key
    block 1 (scores 200, so a = exp(0 - 200) = 0 and a O = -0; V = -0 there and on keys
    10, 11). Their P V reduction skips keys 12..15 (V = +1, products +0): skipping leaves
    P V = -0 and O = -0, computing gives P V = -0 + +0 = +0 and O = +0. The output stage
    writes every zero as +0, so both give +0 bits (without that rule this test fails).
    """
    b, s, d = 1, 16, 64
    q = np.full((b, s, 1, d), 0x3F80, np.uint16)  # 1.0
    k = np.zeros((b, s, 1, d), np.uint16)
    k[:, 8:] = 0x4048  # 3.125: scores 64 * 3.125 = 200
    v = np.full((b, s, 1, d), 0xBF80, np.uint16)  # -1.0
    v[:, 8:12] = 0x8000  # -0
    v[:, 12:] = 0x3F80
    kw = dict(causal=True, scale=1.0, block_q=8, block_k=8, config=TINY)
    got = ursc.ursc_attention(q, k, v, **kw)
    assert np.array_equal(got, ursc.ursc_attention(q, k, v, skip=False, **kw))
    assert np.all(got[:, 8:12] == 0)
    assert not np.any(got == 0x8000)


def test_ssd_skip_adversarial_zeros():
    """Skip == compute for Y_diag where a skipped zero product flips the sign of a zero.

    Tokens 0..3 have x = -0, later tokens x > 0, C < 0, D > 0, no initial state: the row
    tile of tokens 0, 1 reduces keys 0..3 (products -0) and skips keys 4..15 (products +0);
    Y_off = -0 and D x = -0, so y = -0 when skipping and +0 when computing, both written +0.
    """
    rng = np.random.default_rng(SEED)
    case = _ssd_case(rng, 1, 16, 1, 1, 4, 4, False, False)
    case["x"] = np.full((1, 16, 1, 4), 0x3F80, np.uint16)
    case["x"][:, :4] = 0x8000
    case["C"] = np.full((1, 16, 1, 4), 0xBF80, np.uint16)
    case["D"] = _f32bits([0.5])
    kw = dict(chunk=16, config=TINY)
    y, s = ursc.ursc_ssd(**case, **kw)
    y2, s2 = ursc.ursc_ssd(**case, skip=False, **kw)
    assert np.array_equal(y, y2) and np.array_equal(s, s2)
    assert np.all(y[:, :2] == 0)


def test_attention_block_q_and_lanes_do_not_change_bits_block_k_does():
    """Rows are independent (block_q, lanes only move work); block_k is part of the order."""
    rng = np.random.default_rng(SEED)
    q, k, v = _attention_case(rng, 1, 20, 40, 2, 2, 64)
    base = ursc.ursc_attention(q, k, v, causal=True, block_q=8, block_k=16, config=TINY)
    for block_q, lanes in ((4, 1), (20, 4), (7, 2)):
        assert np.array_equal(base, ursc.ursc_attention(q, k, v, causal=True, block_q=block_q,
                                                        block_k=16, config=TINY, lanes=lanes))
    assert np.any(base != ursc.ursc_attention(q, k, v, causal=True, block_q=8, block_k=8,
                                              config=TINY))


def test_attention_l_sums_bf16_p_order_matters():
    """Summing the fp32 P into l (FlashAttention-2's order) gives other bits than summing the
    bf16 P the DPE multiplies - the order claimed in docs/ursc.md is the one modelled."""
    rng = np.random.default_rng(SEED)
    q, k, v = _attention_case(rng, 1, 32, 64, 2, 2, 64)
    kw = dict(block_q=16, block_k=16, config=SMALL)
    ours = ursc.ursc_attention(q, k, v, **kw)
    fa2 = ursc.ursc_attention(q, k, v, _variant=("l_fp32",), **kw)
    assert np.mean(ours != fa2) > 0.01


def test_attention_scale_is_an_fp32_multiply_of_s():
    """The scale enters as the fp32 bits it is given; another scale gives other bits."""
    rng = np.random.default_rng(SEED)
    q, k, v = _attention_case(rng, 1, 8, 16, 1, 1, 64)
    default = ursc.ursc_attention(q, k, v, config=TINY)
    assert np.array_equal(default, ursc.ursc_attention(q, k, v, config=TINY,
                                                       scale=_f32bits(1 / 8.0)))
    assert np.any(default != ursc.ursc_attention(q, k, v, config=TINY, scale=0.2))


def test_attention_bad_inputs():
    q = np.zeros((1, 4, 3, 16), np.uint16)
    kv = np.zeros((1, 4, 2, 16), np.uint16)
    with pytest.raises(ValueError, match="hq must be a multiple of hkv"):
        ursc.ursc_attention(q, kv, kv, config=TINY)
    with pytest.raises(ValueError, match="block_k must be a positive integer"):
        ursc.ursc_attention(q[:, :, :2], kv, kv, block_k=0, config=TINY)


# -- SSD ----------------------------------------------------------------------------------------

def _ssd_case(rng, b, L, h, g, p, n, with_z, with_init, state_dtype="fp32", softplus_on=True):
    """Random SSD inputs; without softplus, dt and dt_bias are positive (a stable model)."""
    if softplus_on:
        dt, dt_bias = _bf16(rng, (b, L, h)), rng.standard_normal(h) - 1.0
    else:
        dt = fp32_to_bf16(_f32bits(np.abs(rng.standard_normal((b, L, h))) * 0.3))
        dt_bias = rng.uniform(0.0, 0.2, h)
    case = dict(
        x=_bf16(rng, (b, L, h, p)), dt=dt, A=_f32bits(-np.exp(rng.uniform(-1, 1.5, h))),
        B=_bf16(rng, (b, L, g, n)), C=_bf16(rng, (b, L, g, n)),
        D=_f32bits(rng.standard_normal(h)), dt_bias=_f32bits(dt_bias),
        z=_bf16(rng, (b, L, h, p)) if with_z else None, initial_state=None)
    if with_init:
        s0 = rng.standard_normal((b, h, p, n)).astype(np.float32)
        case["initial_state"] = _f32bits(s0) if state_dtype == "fp32" else \
            fp32_to_bf16(_f32bits(s0))
    return case


def _float64(case, state_dtype):
    out = {}
    for key, value in case.items():
        if value is None:
            out[key] = None
        elif key in ("A", "D", "dt_bias") or (key == "initial_state" and state_dtype == "fp32"):
            out[key] = fp32_to_float64(value)
        else:
            out[key] = bf16_from_bits(value)
    return out


def _ssd_bound(case, softplus_on, state_dtype, chunk):
    """Elementwise bounds of :func:`ursc.ursc_ssd` (y and final state) against float64 SSD.

    Derivation: every term of y reaches it through exactly two bf16 roundings of DPE operands,
    each <= 2^-8 relative to the term: the masked CB and dt x for Y_diag, the decayed dt x
    (into the fp32 state) and the bf16 state for Y_off; so ``|y - y_ref| <= ((1 + 2^-8)^2 - 1)
    * mag_y`` plus the fp32 sums, softplus, exp and silu errors (each below 2^-18 relative of
    the same magnitudes, for |cum| < 100 here) and the bf16 output rounding ``2^-8 |y|``.
    ``mag_y`` is the float64 recurrence run on |x|, |B|, |C|, |D| and |initial state|, times
    |silu(z)|: an upper bound of the sum of the terms' magnitudes. The bound used is
    ``2.1 * 2^-8 * mag_y + 2^-8 (1 + 2^-7) |y_ref|``. The final state (one rounding, of the
    decayed dt x): ``1.1 * 2^-8 * mag_s``, plus ``2^-8 |s_ref|`` for a bf16 state. Measured
    at most 0.50 of the y bound and 0.80 of the state bound (SEED 20261203).
    """
    f = _float64(case, state_dtype)
    args = dict(x=f["x"], dt=f["dt"], A=f["A"], B=f["B"], C=f["C"], D=f["D"], z=f["z"],
                dt_bias=f["dt_bias"], dt_softplus=softplus_on, initial_state=f["initial_state"])
    y_ref, s_ref = ssd_chunked(**args, chunk_size=chunk)
    mag = dict(args, x=np.abs(f["x"]), B=np.abs(f["B"]), C=np.abs(f["C"]), D=np.abs(f["D"]),
               z=None, initial_state=None if f["initial_state"] is None
               else np.abs(f["initial_state"]))
    y_mag, s_mag = ssd_recurrent(**mag)
    if f["z"] is not None:
        y_mag = y_mag * np.abs(silu(f["z"]))
    y_bound = 2.1 * BF16_U * y_mag + BF16_U * (1 + 2.0 ** -7) * np.abs(y_ref)
    s_bound = 1.1 * BF16_U * s_mag + (BF16_U * np.abs(s_ref) if state_dtype == "bf16" else 0)
    return y_ref, s_ref, y_bound, s_bound


SSD_SHAPES = [
    # b, L, h, g, p, n, chunk, z, init, softplus, state_dtype
    (1, 40, 2, 1, 8, 16, 16, False, False, True, "fp32"),
    (2, 37, 4, 2, 10, 12, 16, True, True, True, "fp32"),    # L % chunk, g > 1, p, n odd sizes
    (1, 50, 3, 1, 6, 20, 32, True, False, False, "bf16"),   # softplus off, bf16 state
    (1, 64, 8, 2, 16, 16, 64, False, True, True, "bf16"),
    (1, 9, 2, 2, 5, 7, 16, True, True, True, "fp32"),       # one short chunk
    (1, 70, 2, 1, 64, 24, 32, False, True, True, "fp32"),   # p = 64 (headdim of the target)
]


@pytest.mark.parametrize("shape", SSD_SHAPES)
@pytest.mark.parametrize("engine", [TINY, SMALL], ids=["tiny", "small"])
def test_ssd_bound_and_skip(shape, engine):
    """ursc_ssd within the stated bounds of float64 chunked SSD (y and final state); the
    causal work skip of Y_diag gives the same bits as reducing the whole masked chunk."""
    b, L, h, g, p, n, chunk, with_z, with_init, softplus_on, state_dtype = shape
    print(f"SEED={SEED} shape={shape}")
    rng = np.random.default_rng([SEED, b, L, h, g, p, n, chunk])
    case = _ssd_case(rng, b, L, h, g, p, n, with_z, with_init, state_dtype, softplus_on)
    kw = dict(chunk=chunk, softplus=softplus_on, state_dtype=state_dtype, config=engine)
    y, s = ursc.ursc_ssd(**case, **kw)
    assert y.shape == (b, L, h, p) and y.dtype == np.uint16
    assert s.shape == (b, h, p, n) and s.dtype == (np.uint32 if state_dtype == "fp32"
                                                   else np.uint16)
    y2, s2 = ursc.ursc_ssd(**case, skip=False, **kw)
    assert np.array_equal(y, y2) and np.array_equal(s, s2)
    y_ref, s_ref, y_bound, s_bound = _ssd_bound(case, softplus_on, state_dtype, chunk)
    y_err = np.abs(bf16_from_bits(y) - y_ref)
    s_got = fp32_to_float64(s) if state_dtype == "fp32" else bf16_from_bits(s)
    s_err = np.abs(s_got - s_ref)
    print(f"y error / bound = {_ratio(y_err, y_bound):.3f}, "
          f"state error / bound = {_ratio(s_err, s_bound):.3f}")
    assert np.all(y_err <= y_bound)
    assert np.all(s_err <= s_bound)


def test_ssd_segsum_is_exp_of_difference_order_matters():
    """exp(cum_i - cum_j) (the modelled order) against exp(cum_i) * exp(-cum_j): with strong
    decay the cumulative sum passes -87 inside a chunk, exp(cum_i) flushes to 0 and
    exp(-cum_j) overflows, so the product order gives 0 * inf = NaN (other bits, outside the
    bound), while the modelled order stays within it. Rounding the decayed dt x from the bf16
    dt x (a double rounding) instead of the fp32 one gives other state bits."""
    rng = np.random.default_rng(SEED)
    case = _ssd_case(rng, 1, 64, 2, 1, 8, 16, False, False)
    case["A"] = _f32bits([-6.0, -9.0])
    kw = dict(chunk=64, config=TINY)
    y, s = ursc.ursc_ssd(**case, **kw)
    y_prod, _ = ursc.ursc_ssd(**case, _variant=("exp_product",), **kw)
    assert np.mean(y != y_prod) > 0.1
    y_ref, _, y_bound, _ = _ssd_bound(case, True, "fp32", 64)
    assert np.all(np.abs(bf16_from_bits(y) - y_ref) <= y_bound)
    assert not np.all(np.abs(bf16_from_bits(y_prod) - y_ref) <= y_bound)  # NaN: 0 * inf
    case = _ssd_case(rng, 1, 48, 2, 1, 8, 16, False, True)
    _, s = ursc.ursc_ssd(**case, chunk=16, config=TINY)
    _, s_double = ursc.ursc_ssd(**case, _variant=("state_from_bf16",), chunk=16, config=TINY)
    assert np.mean(s != s_double) > 0.01


def test_ssd_chunk_is_part_of_the_order_and_padding_is_dt_zero():
    """Another chunk gives other bits; L = chunk + 1 equals the padded-chunk semantics: the
    outputs of the first L' tokens do not depend on the tokens after them."""
    rng = np.random.default_rng(SEED)
    case = _ssd_case(rng, 1, 40, 2, 1, 8, 16, True, True)
    y16, _ = ursc.ursc_ssd(**case, chunk=16, config=TINY)
    y8, _ = ursc.ursc_ssd(**case, chunk=8, config=TINY)
    assert np.any(y16 != y8)
    short = {k: (v[:, :21] if k in ("x", "dt", "B", "C", "z") and v is not None else v)
             for k, v in case.items()}
    y_short, _ = ursc.ursc_ssd(**short, chunk=16, config=TINY)
    assert np.array_equal(y_short, y16[:, :21])


def test_ssd_bad_inputs():
    rng = np.random.default_rng(SEED)
    case = _ssd_case(rng, 1, 8, 3, 2, 4, 4, False, False)
    with pytest.raises(ValueError, match="heads must be a multiple of groups"):
        ursc.ursc_ssd(**case, chunk=4, config=TINY)
    case = _ssd_case(rng, 1, 8, 2, 1, 4, 4, False, False)
    with pytest.raises(ValueError, match="state_dtype must be one of"):
        ursc.ursc_ssd(**case, chunk=4, config=TINY, state_dtype="fp16")
    with pytest.raises(ValueError, match="chunk must be a positive integer"):
        ursc.ursc_ssd(**case, chunk=0, config=TINY)


@pytest.mark.parametrize("state_dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("with_z,softplus_on,g", [(True, True, 1), (False, True, 2),
                                                  (True, False, 4)])
def test_ssd_step_bound(state_dtype, with_z, softplus_on, g):
    """ursc_ssd_step against golden.ssd.ssd_step (float64).

    All fp32, no bf16 operand: the state carries one rounding per op (mul, mul, add) plus the
    exp/softplus errors, below ``2^-20 * mag_s`` (mag_s the float64 update on |state|, |x|,
    |B|); y adds the RVPE tree (log2 W + ceil(n/W) roundings) and the bf16 output rounding:
    ``2^-18 * mag_y + 2^-8 (1 + 2^-7) |y_ref|``. A bf16 state adds ``2^-8 |s_ref|``. Measured:
    y at most 0.92 of its bound (the bf16 output rounding dominates), an fp32 state 0.17, a
    bf16 state 0.99 (its rounding is the bound).
    """
    print(f"SEED={SEED}")
    rng = np.random.default_rng([SEED, g, with_z, softplus_on])
    b, h, p, n = 2, 4, 6, 20
    case = _ssd_case(rng, b, 1, h, g, p, n, with_z, True, state_dtype, softplus_on)
    args = {k: (v[:, 0] if k in ("x", "dt", "B", "C", "z") and v is not None else v)
            for k, v in case.items()}
    state = args.pop("initial_state")
    y, s = ursc.ursc_ssd_step(state, **args, softplus=softplus_on, state_dtype=state_dtype,
                              config=TINY)
    assert y.shape == (b, h, p) and s.shape == (b, h, p, n)
    f = _float64(dict(args, initial_state=state), state_dtype)
    ref_args = dict(x=f["x"], dt=f["dt"], A=f["A"], B=f["B"], C=f["C"], D=f["D"],
                    dt_bias=f["dt_bias"], dt_softplus=softplus_on)
    y_ref, s_ref = ssd_step(f["initial_state"], z=f["z"], **ref_args)
    y_mag, s_mag = ssd_step(np.abs(f["initial_state"]), z=None,
                            **dict(ref_args, x=np.abs(f["x"]), B=np.abs(f["B"]),
                                   C=np.abs(f["C"]), D=np.abs(f["D"])))
    if f["z"] is not None:
        y_mag = y_mag * np.abs(silu(f["z"]))
    s_got = fp32_to_float64(s) if state_dtype == "fp32" else bf16_from_bits(s)
    s_bound = 2.0 ** -20 * s_mag + (BF16_U * np.abs(s_ref) if state_dtype == "bf16" else 0)
    y_bound = 2.0 ** -18 * y_mag + BF16_U * (1 + 2.0 ** -7) * np.abs(y_ref)
    s_err, y_err = np.abs(s_got - s_ref), np.abs(bf16_from_bits(y) - y_ref)
    print(f"y error / bound = {_ratio(y_err, y_bound):.3f}, "
          f"state error / bound = {_ratio(s_err, s_bound):.3f}")
    assert np.all(s_err <= s_bound)
    assert np.all(y_err <= y_bound)


# -- useful MACs and the schedule ----------------------------------------------------------------

def test_useful_macs():
    assert ursc.attention_useful_macs(1, 2048, 2048, 2, 128, False) == 2 * 2 * 128 * 2048 ** 2
    assert ursc.attention_useful_macs(1, 4, 4, 1, 1, True) == 2 * 10
    assert ursc.attention_useful_macs(1, 2, 5, 1, 1, True) == 2 * (4 + 5)  # sq < sk
    assert ursc.attention_useful_macs(1, 5, 2, 1, 1, True) == 2 * (0 + 0 + 0 + 1 + 2)
    assert ursc.attention_useful_macs(3, 1, 7, 2, 64, True) == 3 * 2 * 2 * 64 * 7
    # SSD: g * c(c+1)/2 * n + h * (c(c+1)/2 * p + 2 c p n) per chunk, the last chunk short.
    per_chunk = 32896 * 128 + 8 * (32896 * 64 + 2 * 256 * 64 * 128)
    assert ursc.ssd_useful_macs(1, 2048, 8, 1, 64, 128, 256) == 8 * per_chunk
    assert ursc.ssd_useful_macs(2, 5, 2, 1, 3, 4, 4) == 2 * (
        (10 * 4 + 2 * (10 * 3 + 2 * 4 * 3 * 4)) + (1 * 4 + 2 * (1 * 3 + 2 * 1 * 3 * 4)))


def test_schedule_caps_small_shapes():
    """Non-causal tile-aligned attention has cap 1; causal skipping at output-tile granularity
    beats whole-block skipping; each DPE's busy cycles never undercut the useful MACs."""
    full = ursc.pipeflash_schedule(SMALL, sq=256, sk=256, hq=1, d=64)
    assert full["cap"] == 1.0 and full["dpe0_busy"] == full["dpe1_busy"]
    causal = ursc.pipeflash_schedule(SMALL, sq=256, sk=256, hq=1, d=64, causal=True)
    blocks = 2 * 3 * 128 * 128 * 64  # 3 visited blocks of 128 x 128, both matmuls
    assert causal["useful_macs"] / blocks < causal["cap"] <= 1.0
    for kw in (dict(sq=37, sk=91, hq=4, hkv=1, d=96, causal=True, block_q=16, block_k=32),
               dict(sq=1, sk=100, hq=2, d=128)):
        r = ursc.pipeflash_schedule(TINY, **kw)
        assert 0 < r["utilization"] <= r["cap"] <= 1.0
    r = ursc.pipessd_schedule(TINY, L=37, h=3, g=1, p=5, n=7, chunk=16)
    assert 0 < r["utilization"] <= r["cap"] <= 1.0


def test_schedule_ssd_target_splits():
    """The SSD target shape on ursc-small: the whole-matmul split is capped at ~0.81 (DPE1
    holds the chunk states and Y_off, 2 of the 3 per-head matmuls), the balanced split
    reaches >= 0.90."""
    shape = dict(L=2048, h=8, g=1, p=64, n=128, chunk=256)
    whole = ursc.pipessd_schedule(SMALL, split="whole", **shape)
    balanced = ursc.pipessd_schedule(SMALL, split="balanced", **shape)
    print(whole, balanced)
    assert 0.80 < whole["cap"] < 0.82
    assert balanced["utilization"] >= 0.90
    assert abs(balanced["dpe0_busy"] - balanced["dpe1_busy"]) < 0.01 * balanced["dpe0_busy"]


def test_dpe_matmul_special_values():
    """The float32 fast path of dpe_matmul equals dot_bf16_accumulate on every kind of bf16:
    subnormals, signed zeros, infinities, NaNs, products below 2^-126 and overflowing sums."""
    print(f"SEED={SEED}")
    rng = np.random.default_rng(SEED)
    special = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x0080, 0x8080, 0x7F80, 0xFF80,
                        0x7FC0, 0xFFC1, 0x7F7F, 0xFF7F, 0x3F80, 0xBF80, 0x0100, 0x1F80, 0x2000,
                        0x2080, 0x5F80, 0x6000, 0xE000], np.uint16)
    for trial in range(12):
        a = special[rng.integers(0, special.size, (5, 37))] if trial % 2 else \
            rng.integers(0, 1 << 16, (5, 37)).astype(np.uint16)
        b = special[rng.integers(0, special.size, (37, 6))] if trial % 3 else \
            rng.integers(0, 1 << 16, (37, 6)).astype(np.uint16)
        for mults in (1, 4, 16):
            expect = dot_bf16_accumulate(a[:, None, :], b.T[None, :, :], mults)
            assert np.array_equal(ursc.dpe_matmul(a, b, mults), expect), (trial, mults)
