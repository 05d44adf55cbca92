"""Real models as layer lists, with FLOP and byte counts per layer for prefill and decode.

Models and sources (hyperparameters from the public ``config.json`` files / model cards and the
papers cited with each model):

* ``nemotron-h-56b`` - NVIDIA Nemotron-H-56B-Base (arXiv:2504.03624; HF
  ``nvidia/Nemotron-H-56B-Base-8K`` config.json): hidden 8192, 118 layers = 54 Mamba-2 + 54 MLP +
  10 attention; attention 64 q / 8 kv heads x 128, no RoPE; Mamba-2 256 heads x 64 (expand 2),
  d_state 256, ngroups 8, conv 4, chunk 128; MLP squared-ReLU, 32768; vocab 131072, untied.
  The positions of the attention layers in the pattern here are spread evenly (the model's
  ``hybrid_override_pattern`` places them similarly; positions do not change per-layer costs).
* ``zamba2-7b`` - Zyphra Zamba2-7B (HF ``Zyphra/Zamba2-7B`` config.json, model card): hidden 3584,
  81 Mamba-2 layers (112 heads x 64, d_state 64, ngroups 2, conv 4, chunk 256) and 2 shared
  transformer blocks invoked alternately at 13 points. A shared block's attention reads the
  concatenation of hidden state and input embedding (7168 wide): 32 heads (kv 32) x 224, o_proj
  back to 3584; its MLP is gated (GELU), 3584 -> 2 x 14336 -> 3584; each invocation adds its own
  3584 x 3584 linear. The per-invocation LoRA adapters (rank 128) are omitted (< 1% of FLOPs).
  Invocation points are spread evenly. Vocab 32000, tied.
* ``llama3-8b`` - Meta Llama 3 8B (HF ``meta-llama/Meta-Llama-3-8B`` config.json): hidden 4096,
  32 layers, 32 q / 8 kv heads x 128, SwiGLU 14336, vocab 128256, untied.
* ``mamba2attn-2.7b`` - state-spaces ``mamba2attn-2.7b`` (config.json; HLX evaluation model):
  d_model 2560, 64 layers = 58 Mamba-2 + 6 attention at indices 9, 18, 27, 36, 45, 56; Mamba-2
  80 heads x 64, d_state 128, ngroups 1, conv 4, chunk 256; attention 30 heads (kv 30) x 128; no
  MLP; vocab 50277 padded to 50288, tied.
* ``qwen3-{4,8,14,32}b`` - Qwen3 model cards / config.json (``Qwen/Qwen3-4B`` ...), all
  head_dim 128, 8 kv heads, SwiGLU, vocab 151936:
  4B: hidden 2560, 36 layers, 32 q heads, FFN 9728, tied;
  8B: hidden 4096, 36 layers, 32 q heads, FFN 12288, untied;
  14B: hidden 5120, 40 layers, 40 q heads, FFN 17408, untied;
  32B: hidden 5120, 64 layers, 64 q heads, FFN 25600, untied.
  (q_norm / k_norm weights are counted; their FLOPs are ignored like all norms.)

Cost conventions (:func:`layer_cost`):

* FLOPs: 2 per multiply-accumulate, matmul-class work only (norms, activations, softmax, RoPE,
  exp of decays and gating are not counted).
* Prefill of ``L`` tokens, ``batch`` sequences, ``T = batch * L`` tokens: linear layers
  ``2 * P_linear * T``; attention core ``4 * hq * head_dim * batch * L (L + 1) / 2`` (causal
  triangle, QK^T and PV); Mamba-2 conv ``2 * d_conv * conv_dim * T``; chunked SSD with chunk
  ``Q = min(chunk, L)`` per token: ``2 Q n g`` (C B^T) + ``2 Q p h`` (diagonal blocks, the dense
  masked block counted) + ``2 p n h`` (chunk states) + ``2 p n h`` (state to output) +
  ``2 p n h / Q`` (inter-chunk). The LM head runs on the last token of each sequence only; the
  embedding is a gather (0 FLOPs).
* Decode of one token per sequence at context length ``L`` (the new token attends to ``L``
  keys, its own included): linear ``2 * P_linear * batch``; attention core
  ``4 * hq * head_dim * L * batch``; SSD step ``5 * h * p * n * batch`` (decay multiply,
  outer-product multiply and add, C contraction); conv ``2 * d_conv * conv_dim * batch``.
* Bytes: ``weight_bytes`` = parameters x ``w_bytes`` (read once per pass); ``act_bytes`` = layer
  input + output activations x ``a_bytes``; ``cache_bytes`` = KV written (prefill: 2 T hkv hd) or
  read + the new entry written (decode: 2 (L - 1) hkv hd read + 2 hkv hd written per sequence)
  x ``kv_bytes``, and Mamba state written (prefill) or read + written (decode): SSM state
  ``h p n`` x ``state_bytes`` and conv state ``(d_conv - 1) conv_dim`` x ``a_bytes``.
  Shared-block weights are counted at every invocation (they are read each time) but once in
  :attr:`ModelSpec.params`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Layer", "Cost", "ModelSpec", "MODELS", "layer_params", "layer_cost", "model_cost"]


@dataclass(frozen=True)
class Layer:
    """One layer (or shared-block invocation) of a model.

    ``kind`` is one of ``"embed"``, ``"mamba2"``, ``"attention"``, ``"mlp"``, ``"lm_head"``.
    ``d_in`` is the width the layer reads (``d_model`` except Zamba2's shared attention, which
    reads 2 x d_model). ``shared_id`` names a weight set shared by several invocations (None
    for ordinary layers); ``extra_params`` are non-shared parameters of an invocation (Zamba2's
    per-invocation linear), costed like a linear layer.
    """

    kind: str
    index: int
    d_model: int
    d_in: int = 0
    vocab: int = 0
    # attention
    n_heads: int = 0
    n_kv_heads: int = 0
    head_dim: int = 0
    qk_norm: bool = False
    # mamba-2
    nheads: int = 0
    headdim: int = 0
    d_state: int = 0
    ngroups: int = 0
    d_conv: int = 0
    chunk: int = 0
    # mlp
    d_ff: int = 0
    gated: bool = False
    shared_id: str | None = None
    extra_params: int = 0

    @property
    def d_inner(self):
        return self.nheads * self.headdim

    @property
    def conv_dim(self):
        return self.d_inner + 2 * self.ngroups * self.d_state


@dataclass(frozen=True)
class Cost:
    """FLOPs and bytes of one layer for one pass (see the module docstring)."""

    flops: float
    weight_bytes: float
    act_bytes: float
    cache_bytes: float

    @property
    def bytes(self):
        return self.weight_bytes + self.act_bytes + self.cache_bytes

    @property
    def intensity(self):
        """FLOPs per byte."""
        return self.flops / self.bytes if self.bytes else float("inf")

    def __add__(self, o):
        return Cost(self.flops + o.flops, self.weight_bytes + o.weight_bytes,
                    self.act_bytes + o.act_bytes, self.cache_bytes + o.cache_bytes)


def _linear_params(ly: Layer) -> int:
    """Parameters that are matmul weights (cost 2 FLOPs per token each)."""
    d = ly.d_model
    if ly.kind == "attention":
        di = ly.d_in or d
        return (di * (ly.n_heads + 2 * ly.n_kv_heads) * ly.head_dim
                + ly.n_heads * ly.head_dim * d + ly.extra_params)
    if ly.kind == "mamba2":
        return d * (2 * ly.d_inner + 2 * ly.ngroups * ly.d_state + ly.nheads) + ly.d_inner * d
    if ly.kind == "mlp":
        return d * ly.d_ff * (3 if ly.gated else 2)
    if ly.kind == "lm_head":
        return d * ly.vocab
    return 0


def layer_params(ly: Layer) -> int:
    """All parameters of a layer: matmul weights plus norms, conv, A_log, D, dt_bias, embedding."""
    d = ly.d_model
    p = _linear_params(ly)
    if ly.kind == "embed":
        return ly.vocab * d
    if ly.kind == "attention":
        p += ly.d_in or d
        p += 2 * ly.head_dim if ly.qk_norm else 0
    elif ly.kind == "mamba2":
        p += ly.conv_dim * (ly.d_conv + 1) + 3 * ly.nheads + ly.d_inner + d
    elif ly.kind == "mlp":
        p += d
    elif ly.kind == "lm_head":
        p += d
    return p


def layer_cost(ly: Layer, mode: str, L: int, batch: int = 1, w_bytes: float = 2,
               a_bytes: float = 2, kv_bytes: float = 2, state_bytes: float = 4) -> Cost:
    """FLOPs and bytes of one layer.

    Parameters
    ----------
    ly : Layer
    mode : {"prefill", "decode"}
    L : int
        Prefill length, or decode context length (keys attended, the new token included).
    batch : int
    w_bytes, a_bytes, kv_bytes, state_bytes : float
        Bytes per weight, activation, KV element, SSM state element.
    """
    if mode not in ("prefill", "decode"):
        raise ValueError(f"mode must be 'prefill' or 'decode', got {mode!r}")
    if L < 1 or batch < 1:
        raise ValueError(f"L and batch must be >= 1, got L={L}, batch={batch}")
    T = batch * L if mode == "prefill" else batch
    d = ly.d_model
    lin = _linear_params(ly)
    wb = layer_params(ly) * w_bytes
    flops = 2.0 * lin * T
    act = 2.0 * T * d * a_bytes
    cache = 0.0
    if ly.kind == "embed":
        flops, act = 0.0, T * d * a_bytes
    elif ly.kind == "lm_head":
        flops = 2.0 * lin * batch
        act = batch * (d + ly.vocab) * a_bytes
    elif ly.kind == "attention":
        hq, hkv, hd = ly.n_heads, ly.n_kv_heads, ly.head_dim
        act = T * ((ly.d_in or d) + d) * a_bytes
        if mode == "prefill":
            flops += 4.0 * hq * hd * batch * L * (L + 1) / 2
            cache = 2.0 * T * hkv * hd * kv_bytes
        else:
            flops += 4.0 * hq * hd * L * batch
            cache = 2.0 * L * hkv * hd * kv_bytes * batch
    elif ly.kind == "mamba2":
        h, p, n, g = ly.nheads, ly.headdim, ly.d_state, ly.ngroups
        flops += 2.0 * ly.d_conv * ly.conv_dim * T
        state = h * p * n * state_bytes + (ly.d_conv - 1) * ly.conv_dim * a_bytes
        if mode == "prefill":
            Q = min(ly.chunk, L)
            flops += T * (2.0 * Q * n * g + 2.0 * Q * p * h + 4.0 * p * n * h + 2.0 * p * n * h / Q)
            cache = state * batch
        else:
            flops += 5.0 * h * p * n * batch
            cache = 2.0 * state * batch
    return Cost(flops, wb, act, cache)


@dataclass(frozen=True)
class ModelSpec:
    """A model: ``layers`` in execution order (shared blocks appear at every invocation)."""

    name: str
    d_model: int
    vocab: int
    layers: tuple
    tied_embeddings: bool
    nominal_params: float
    source: str

    @property
    def params(self) -> int:
        """Unique parameters (shared weights once; tied embedding once)."""
        seen = set()
        total = 0
        for ly in self.layers:
            if ly.kind == "lm_head" and self.tied_embeddings:
                total += ly.d_model  # final norm only
                continue
            if ly.shared_id is not None:
                total += ly.extra_params
                if ly.shared_id in seen:
                    continue
                seen.add(ly.shared_id)
                total += layer_params(replace(ly, extra_params=0))
            else:
                total += layer_params(ly)
        return total

    def count(self, kind: str) -> int:
        return sum(ly.kind == kind for ly in self.layers)

    def costs(self, mode: str, L: int, **kw):
        """[(Layer, Cost)] for every layer in order; keywords as in :func:`layer_cost`."""
        return [(ly, layer_cost(ly, mode, L, **kw)) for ly in self.layers]

    def total(self, mode: str, L: int, **kw) -> Cost:
        out = Cost(0.0, 0.0, 0.0, 0.0)
        for _, c in self.costs(mode, L, **kw):
            out = out + c
        return out


def model_cost(name: str, mode: str, L: int, **kw) -> Cost:
    """Total cost of model ``name`` (a key of :data:`MODELS`)."""
    return MODELS[name].total(mode, L, **kw)


def _spread(n_total: int, n_special: int) -> set:
    """Indices of ``n_special`` positions spread evenly over ``n_total`` slots."""
    return {int((i + 0.5) * n_total / n_special) for i in range(n_special)}


def _finish(name, d, vocab, body, tied, nominal, source):
    layers = [Layer("embed", 0, d, vocab=vocab)]
    layers += [replace(ly, index=i + 1) for i, ly in enumerate(body)]
    layers.append(Layer("lm_head", len(layers), d, vocab=vocab))
    return ModelSpec(name, d, vocab, tuple(layers), tied, nominal, source)


def _transformer(name, d, n_layers, hq, hkv, hd, ffn, vocab, tied, nominal, source,
                 qk_norm=False):
    att = Layer("attention", 0, d, n_heads=hq, n_kv_heads=hkv, head_dim=hd, qk_norm=qk_norm)
    mlp = Layer("mlp", 0, d, d_ff=ffn, gated=True)
    return _finish(name, d, vocab, [att, mlp] * n_layers, tied, nominal, source)


def _nemotron_h_56b():
    d = 8192
    mamba = Layer("mamba2", 0, d, nheads=256, headdim=64, d_state=256, ngroups=8, d_conv=4,
                  chunk=128)
    att = Layer("attention", 0, d, n_heads=64, n_kv_heads=8, head_dim=128)
    mlp = Layer("mlp", 0, d, d_ff=32768, gated=False)
    attn_at = _spread(54, 10)
    body = []
    for i in range(54):
        body += [mamba] + ([att] if i in attn_at else []) + [mlp]
    return _finish("nemotron-h-56b", d, 131072, body, False, 56e9,
                   "arXiv:2504.03624; HF nvidia/Nemotron-H-56B-Base-8K config.json")


def _zamba2_7b():
    d = 3584
    mamba = Layer("mamba2", 0, d, nheads=112, headdim=64, d_state=64, ngroups=2, d_conv=4,
                  chunk=256)
    calls = _spread(81, 13)
    body = []
    k = 0
    for i in range(81):
        if i in calls:
            sid = f"shared{k % 2}"
            body.append(Layer("attention", 0, d, d_in=2 * d, n_heads=32, n_kv_heads=32,
                              head_dim=224, shared_id=sid + ".attn", extra_params=d * d))
            body.append(Layer("mlp", 0, d, d_ff=14336, gated=True, shared_id=sid + ".mlp"))
            k += 1
        body.append(mamba)
    return _finish("zamba2-7b", d, 32000, body, True, 7e9,
                   "HF Zyphra/Zamba2-7B config.json and model card")


def _mamba2attn_2_7b():
    d = 2560
    mamba = Layer("mamba2", 0, d, nheads=80, headdim=64, d_state=128, ngroups=1, d_conv=4,
                  chunk=256)
    att = Layer("attention", 0, d, n_heads=30, n_kv_heads=30, head_dim=128)
    attn_idx = {9, 18, 27, 36, 45, 56}
    body = [att if i in attn_idx else mamba for i in range(64)]
    return _finish("mamba2attn-2.7b", d, 50288, body, True, 2.7e9,
                   "HF state-spaces/mamba2attn-2.7b config.json; HLX (MICRO 2025)")


MODELS = {
    "nemotron-h-56b": _nemotron_h_56b(),
    "zamba2-7b": _zamba2_7b(),
    "llama3-8b": _transformer("llama3-8b", 4096, 32, 32, 8, 128, 14336, 128256, False, 8e9,
                              "HF meta-llama/Meta-Llama-3-8B config.json"),
    "mamba2attn-2.7b": _mamba2attn_2_7b(),
    "qwen3-4b": _transformer("qwen3-4b", 2560, 36, 32, 8, 128, 9728, 151936, True, 4e9,
                             "HF Qwen/Qwen3-4B model card / config.json", qk_norm=True),
    "qwen3-8b": _transformer("qwen3-8b", 4096, 36, 32, 8, 128, 12288, 151936, False, 8e9,
                             "HF Qwen/Qwen3-8B model card / config.json", qk_norm=True),
    "qwen3-14b": _transformer("qwen3-14b", 5120, 40, 40, 8, 128, 17408, 151936, False, 14e9,
                              "HF Qwen/Qwen3-14B model card / config.json", qk_norm=True),
    "qwen3-32b": _transformer("qwen3-32b", 5120, 64, 64, 8, 128, 25600, 151936, False, 32e9,
                              "HF Qwen/Qwen3-32B model card / config.json", qk_norm=True),
}
