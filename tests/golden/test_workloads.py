"""Workload tables of the real models: internal consistency of shapes, parameters and costs."""

import pytest

from hybridgen.golden.workloads import MODELS, layer_cost, layer_params, model_cost

EXPECTED_LAYERS = {  # (mamba2, attention invocations, mlp invocations)
    "nemotron-h-56b": (54, 10, 54), "zamba2-7b": (81, 13, 13), "llama3-8b": (0, 32, 32),
    "mamba2attn-2.7b": (58, 6, 0), "qwen3-4b": (0, 36, 36), "qwen3-8b": (0, 36, 36),
    "qwen3-14b": (0, 40, 40), "qwen3-32b": (0, 64, 64),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layer_counts_and_param_count(name):
    m = MODELS[name]
    assert (m.count("mamba2"), m.count("attention"), m.count("mlp")) == EXPECTED_LAYERS[name]
    ratio = m.params / m.nominal_params
    print(f"{name}: {m.params / 1e9:.3f} B parameters (nominal {m.nominal_params / 1e9:g} B)")
    assert 0.95 <= ratio <= 1.1  # names round down (Qwen3-14B has 14.8 B)


def test_known_figures():
    assert abs(MODELS["llama3-8b"].params - 8.03e9) < 0.01e9
    # Llama3-8B KV cache: 32 layers x 2 x 8 heads x 128 x 2 bytes = 128 KiB per token
    kv = sum(layer_cost(ly, "prefill", 1).cache_bytes for ly in MODELS["llama3-8b"].layers)
    assert kv == 128 * 1024
    # Nemotron-H-56B Mamba layer: in_proj 8192 x (2*16384 + 2*8*256 + 256), out_proj 16384 x 8192
    ly = next(ly for ly in MODELS["nemotron-h-56b"].layers if ly.kind == "mamba2")
    assert ly.d_inner == 16384 and ly.conv_dim == 16384 + 4096
    assert layer_params(ly) > 8192 * 37120 + 16384 * 8192


@pytest.mark.parametrize("name", sorted(MODELS))
def test_dense_flops_are_2_params_per_token(name):
    """Linear layers cost exactly 2 FLOPs per parameter per token; whole-model prefill FLOPs
    minus attention cores and SSD/conv work equal 2 x (non-embedding parameters per pass) x L."""
    m = MODELS[name]
    L, b = 512, 2
    dense = 0.0
    extra = 0.0
    for ly, c in m.costs("prefill", L, batch=b):
        if ly.kind == "mlp":
            assert c.flops == 2 * layer_params(ly) * b * L - 2 * ly.d_model * b * L  # minus norm
        if ly.kind in ("mlp", "attention", "mamba2"):
            dense += 2.0 * (layer_params(ly) - _non_matmul(ly)) * b * L
            extra += c.flops - 2.0 * (layer_params(ly) - _non_matmul(ly)) * b * L
    total = m.total("prefill", L, batch=b).flops
    head = 2.0 * m.d_model * m.vocab * b
    assert total == pytest.approx(dense + extra + head, rel=1e-12)
    assert extra >= 0
    print(f"{name}: prefill L={L}: {total / 1e12:.1f} TFLOP, dense {dense / total:.1%}")


def _non_matmul(ly):
    d = ly.d_model
    if ly.kind == "attention":
        return (ly.d_in or d) + (2 * ly.head_dim if ly.qk_norm else 0)
    if ly.kind == "mamba2":
        return ly.conv_dim * (ly.d_conv + 1) + 3 * ly.nheads + ly.d_inner + d
    return d


@pytest.mark.parametrize("name", sorted(MODELS))
def test_decode_scaling(name):
    """Decode: weights read once per pass; attention FLOPs and KV bytes linear in L; Mamba
    state independent of L; FLOPs ~ 2 x params at short context."""
    m = MODELS[name]
    c1, c2, c4 = (m.total("decode", L) for L in (1024, 2048, 4096))
    assert c1.weight_bytes == c2.weight_bytes
    # the part that grows with L is linear in L
    assert (c4.flops - c2.flops) == pytest.approx(2 * (c2.flops - c1.flops), rel=1e-12)
    assert (c4.cache_bytes - c2.cache_bytes) == pytest.approx(
        2 * (c2.cache_bytes - c1.cache_bytes), rel=1e-12)
    n_attn = sum(ly.n_kv_heads * ly.head_dim for ly in m.layers if ly.kind == "attention")
    assert c2.cache_bytes - c1.cache_bytes == 2 * 1024 * n_attn * 2
    short = m.total("decode", 1)
    unique_or_invoked = sum(layer_params(ly) for ly in m.layers if ly.kind != "embed")
    # plus the SSD step (5 h p n), the conv and the attention over 1 key; norms etc. are in the
    # parameter count but not in the FLOPs: < 1% difference
    recur = sum(5 * ly.nheads * ly.headdim * ly.d_state + 2 * ly.d_conv * ly.conv_dim
                if ly.kind == "mamba2" else 4 * ly.n_heads * ly.head_dim
                for ly in m.layers if ly.kind in ("mamba2", "attention"))
    assert short.flops == pytest.approx(2 * unique_or_invoked + recur, rel=0.01)
    # decode is memory bound: < 10 FLOP/byte at batch 1; prefill is compute bound
    assert c2.intensity < 10 and m.total("prefill", 2048).intensity > 100


def test_prefill_attention_quadratic_mamba_linear():
    m = MODELS["mamba2attn-2.7b"]
    att = next(ly for ly in m.layers if ly.kind == "attention")
    mam = next(ly for ly in m.layers if ly.kind == "mamba2")
    a1, a2 = (layer_cost(att, "prefill", L).flops for L in (4096, 8192))
    s1, s2 = (layer_cost(mam, "prefill", L).flops for L in (4096, 8192))
    assert 2 < a2 / a1 < 4  # linear part + quadratic core
    assert s2 / s1 == pytest.approx(2, rel=1e-12)  # chunk 256 < L: linear in L
    assert model_cost("llama3-8b", "decode", 10).flops > 0
    with pytest.raises(ValueError, match="mode"):
        layer_cost(att, "train", 1)
