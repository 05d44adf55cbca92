"""Tiny hybrid model: prefill / decode apart, disaggregated flow with a quantized KV cache."""

import numpy as np
import pytest

from hybridgen.golden.hybrid import (TINY_CONFIGS, HybridCache, HybridConfig, HybridModel,
                           disaggregated_decode, kv_cache_nbytes, ship_cache)

SEED = 90210
TOL = 1e-10
B, T, P = 2, 21, 13  # prompt of 13 (not a multiple of the chunk 8 nor of block_k 5), 8 decoded


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.fixture(scope="module", params=sorted(TINY_CONFIGS))
def setup(request):
    cfg = TINY_CONFIGS[request.param]
    model = HybridModel(cfg)
    tokens = np.random.default_rng(SEED).integers(0, cfg.vocab_size, (B, T))
    return request.param, model, tokens, model.forward(tokens)


def test_prefill_equals_forward(setup):
    name, model, tokens, full = setup
    logits, cache = model.prefill(tokens)
    err = _rel(logits, full)
    print(f"{name}: prefill vs forward rel err {err:.2e}")
    assert err <= TOL
    c = model.cfg
    assert cache.pos == T
    assert set(cache.kv) == {i for i, k in enumerate(c.pattern) if k in "*S"}
    assert set(cache.ssm) == set(cache.conv) == {i for i, k in enumerate(c.pattern) if k == "M"}
    for k, v in cache.kv.values():
        assert k.shape == v.shape == (B, T, c.n_kv_heads, c.head_dim)
    for i in cache.ssm:
        assert cache.ssm[i].shape == (B, c.nheads, c.headdim, c.d_state)
        assert cache.conv[i].shape == (B, c.d_conv - 1, c.conv_dim)


def test_decode_with_exact_cache_equals_forward(setup):
    name, model, tokens, full = setup
    logits = disaggregated_decode(model, tokens[:, :P], tokens[:, P:])
    err = _rel(logits, full[:, P:])
    print(f"{name}: prefill({P}) + decode({T - P}) vs forward rel err {err:.2e}")
    assert err <= TOL
    # a prompt shorter than the conv window, then decoding
    logits = disaggregated_decode(model, tokens[:, :2], tokens[:, 2:6])
    assert _rel(logits, full[:, 2:6]) <= TOL


# Deviation bound for a quantized KV cache, written before measuring (first principles):
# * A BFP datum is rounded to 1 lsb = 2^-(mb-1) of its block's 2^(E-127), where the block max
#   lies in [2^(E-127), 2^(E-126)): the per-element error is uniform within +-lsb/2 (saturation
#   costs at most 1 lsb on the largest element), so its RMS is lsb / sqrt(12).
# * K and V elements are ~N(0, 1) at this init; the max of 16 such values is ~2.5 sigma in
#   the worst common case, so lsb <= 2^-(mb-1) * 2.5 sigma and the relative RMS error of K and V
#   is eps = 2^-(mb-1) * 2.5 / sqrt(12): BFP8 (mb = 7) 0.0113, BFP4 (mb = 3) 0.180.
# * Each attention layer's output moves by at most ~2 eps relative (eps through V directly,
#   eps through the softmax of O(1) scores via K); the layer's contribution to the residual
#   stream is at most the whole stream, and the later layers (norms, residuals) do not amplify.
#   So the relative logit deviation is bounded by 2 * eps * n_attn (n_attn attention layers).
#   With n_attn <= 2 here: BFP8 <= 0.045, BFP4 <= 0.72.
# Measured (seed 90210, batch 2, 13-token prompt, 8 decoded tokens, four tiny configs):
# BFP8 7.2e-4 .. 1.5e-3, BFP4 9.1e-3 .. 2.2e-2 (a bf16 cache: 1.5e-4 .. 3.9e-4) - the bound
# is loose by ~30x, as expected of a worst-case argument.
_EPS = {fmt: 2.0 ** -(mb - 1) * 2.5 / np.sqrt(12) for fmt, mb in (("bfp8", 7), ("bfp4", 3))}


@pytest.mark.parametrize("fmt", ["bfp8", "bfp4"])
def test_quantized_kv_cache_deviation(setup, fmt):
    name, model, tokens, full = setup
    bound = 2 * _EPS[fmt] * model.cfg.n_attention_layers
    exact = disaggregated_decode(model, tokens[:, :P], tokens[:, P:])
    quant = disaggregated_decode(model, tokens[:, :P], tokens[:, P:], kv_format=fmt)
    dev = _rel(quant, exact)
    bf16 = _rel(disaggregated_decode(model, tokens[:, :P], tokens[:, P:], "bf16"), exact)
    print(f"{name}: {fmt} KV cache: logits rel deviation {dev:.2e} (bound {bound:.3f}; "
          f"bf16 cache {bf16:.2e})")
    assert 0 < dev <= bound


def test_ship_cache_and_sizes():
    model = HybridModel(TINY_CONFIGS["llama3"])
    tokens = np.random.default_rng(SEED + 1).integers(0, 97, (1, 40))
    _, cache = model.prefill(tokens)
    shipped = ship_cache(cache, "bfp8")
    k0, k1 = cache.kv[0][0], shipped.kv[0][0]
    assert k0 is not k1 and not np.array_equal(k0, k1)
    assert np.array_equal(ship_cache(cache).kv[0][0], k0)
    n = sum(k.size * 2 for k, _ in cache.kv.values())
    assert kv_cache_nbytes(cache) == 2 * n
    assert kv_cache_nbytes(cache, "bfp8") == n // 16 * 17  # 8.5 bits per value
    assert kv_cache_nbytes(cache, "bfp4") == n // 16 * 9  # 4.5 bits per value
    with pytest.raises(ValueError, match="kv_format"):
        ship_cache(cache, "int8")


def test_config_validation_and_cache_copy():
    with pytest.raises(ValueError, match="pattern"):
        HybridConfig(pattern="MX")
    with pytest.raises(ValueError, match="ngroups"):
        HybridConfig(ngroups=3)
    c = HybridCache(pos=1, kv={0: (np.zeros(2), np.zeros(2))})
    d = c.copy()
    d.kv[0][0][0] = 1
    assert c.kv[0][0][0] == 0
