"""A tiny hybrid Mamba-2 / attention language model in numpy, with prefill and decode apart.

The model is a stack of pre-norm residual layers chosen by a pattern string (the
``hybrid_override_pattern`` convention of Nemotron-H):

* ``M`` - Mamba-2 mixer: ``in_proj -> [z | xBC | dt]``; causal depthwise conv1d (width ``d_conv``,
  with bias) + silu on ``xBC``; split into ``x, B, C``; SSD (:mod:`hybridgen.golden.ssd`) with
  ``A = -exp(A_log)``, ``D``, ``dt = softplus(dt + dt_bias)``; gated RMSNorm
  ``rmsnorm(y * silu(z))`` per group of ``d_inner / ngroups`` channels; ``out_proj``.
* ``*`` - GQA attention (:mod:`hybridgen.golden.attention`), causal, optional RoPE (rotate-half).
* ``-`` - MLP: ``relu2`` (squared ReLU, Nemotron-H) or ``swiglu`` (Llama 3, Qwen3).
* ``S`` - a shared transformer block (attention then MLP, each pre-norm residual) whose weights
  are shared by every ``S`` in the pattern while each occurrence keeps its own KV cache - a
  simplified Zamba2 shared block (no embedding concatenation, no per-call LoRA).

Each layer computes ``h = h + mixer(rmsnorm(h))``; a final RMSNorm and an untied LM head give the
logits. Weights are float64, drawn from ``numpy.random.default_rng(cfg.seed)``.

Three execution paths over the same weights:

* :meth:`HybridModel.forward` - the reference: :func:`~hybridgen.golden.ssd.ssd_recurrent` and
  :func:`~hybridgen.golden.attention.attention` over the whole sequence.
* :meth:`HybridModel.prefill` - what the prefill side runs: :func:`~hybridgen.golden.ssd.ssd_chunked` and
  :func:`~hybridgen.golden.attention.flash_attention`; returns the logits and a :class:`HybridCache`.
* :meth:`HybridModel.decode` - one token per call: :func:`~hybridgen.golden.ssd.ssd_step`, a conv-state
  window and :func:`~hybridgen.golden.attention.decode_attention` on the KV cache.

Disaggregated flow: ``prefill`` on one side, :func:`ship_cache` (optionally BFP8/BFP4-quantize
the KV cache with :mod:`hybridgen.golden.kvquant` and dequantize on arrival), ``decode`` N tokens on the
other (:func:`disaggregated_decode`). Only the shipped KV prefix is quantized; KV entries of the
decoded tokens and all Mamba states (SSM state, conv state) stay exact.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np

from hybridgen.golden.attention import attention, decode_attention, flash_attention
from hybridgen.golden.kvquant import bfp_quantize, bfp_dequantize
from hybridgen.golden.ssd import silu, ssd_chunked, ssd_recurrent, ssd_step

__all__ = ["HybridConfig", "HybridCache", "HybridModel", "TINY_CONFIGS", "ship_cache",
           "disaggregated_decode", "kv_cache_nbytes"]

_LAYER_KINDS = "M*-S"


@dataclass(frozen=True)
class HybridConfig:
    """Configuration of the tiny hybrid model.

    Attributes
    ----------
    pattern : str
        One character per layer from ``"M*-S"`` (see the module docstring).
    d_model, vocab_size : int
    d_state, headdim, expand, ngroups, d_conv, chunk_size : int
        Mamba-2: ``d_inner = expand * d_model``, ``nheads = d_inner // headdim``; ``chunk_size``
        is the prefill SSD chunk.
    n_heads, n_kv_heads, head_dim : int
        Attention (GQA when ``n_kv_heads < n_heads``).
    rope_theta : float or None
        RoPE base; None for no positional encoding (Nemotron-H's attention layers).
    block_k : int
        Key block of the prefill flash attention.
    d_ff : int
    mlp_act : {"relu2", "swiglu"}
    rms_eps : float
    seed : int
    """

    name: str = "tiny-hybrid"
    pattern: str = "M*M-"
    d_model: int = 64
    vocab_size: int = 97
    d_state: int = 16
    headdim: int = 16
    expand: int = 2
    ngroups: int = 2
    d_conv: int = 4
    chunk_size: int = 8
    n_heads: int = 4
    n_kv_heads: int = 2
    head_dim: int = 32
    rope_theta: float | None = 10000.0
    block_k: int = 5
    d_ff: int = 128
    mlp_act: str = "swiglu"
    rms_eps: float = 1e-5
    seed: int = 0

    def __post_init__(self):
        bad = set(self.pattern) - set(_LAYER_KINDS)
        if not self.pattern or bad:
            raise ValueError(f"pattern {self.pattern!r}: characters must be from {_LAYER_KINDS!r}")
        if self.d_inner % self.headdim:
            raise ValueError(f"d_inner {self.d_inner} not divisible by headdim {self.headdim}")
        if self.nheads % self.ngroups:
            raise ValueError(f"nheads {self.nheads} not divisible by ngroups {self.ngroups}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} not divisible by n_kv_heads "
                             f"{self.n_kv_heads}")
        if self.mlp_act not in ("relu2", "swiglu"):
            raise ValueError(f"mlp_act {self.mlp_act!r}: must be 'relu2' or 'swiglu'")
        if self.rope_theta is not None and self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for RoPE")

    @property
    def d_inner(self):
        return self.expand * self.d_model

    @property
    def nheads(self):
        return self.d_inner // self.headdim

    @property
    def conv_dim(self):
        return self.d_inner + 2 * self.ngroups * self.d_state

    @property
    def n_attention_layers(self):
        return sum(c in "*S" for c in self.pattern)


#: Tiny configurations shaped like the real models (layer mix, GQA, MLP type, ngroups, RoPE).
TINY_CONFIGS = {
    "nemotron_h": HybridConfig(name="tiny-nemotron-h", pattern="M-M*-M-", ngroups=2,
                               n_heads=4, n_kv_heads=1, rope_theta=None, mlp_act="relu2"),
    "zamba2": HybridConfig(name="tiny-zamba2", pattern="MMSMMS", ngroups=2, n_heads=4,
                           n_kv_heads=4, mlp_act="swiglu"),
    "llama3": HybridConfig(name="tiny-llama3", pattern="*-*-", n_heads=4, n_kv_heads=2,
                           mlp_act="swiglu"),
    "mamba2attn": HybridConfig(name="tiny-mamba2attn", pattern="MM*MM*", ngroups=1,
                               n_heads=4, n_kv_heads=4),
}


@dataclass
class HybridCache:
    """Inference state after ``pos`` tokens.

    Attributes
    ----------
    pos : int
        Tokens processed so far (the position of the next token).
    kv : dict[int, tuple[ndarray, ndarray]]
        Per attention layer index: keys (after RoPE) and values, each (b, pos, n_kv_heads,
        head_dim).
    ssm : dict[int, ndarray]
        Per Mamba layer index: SSD state (b, nheads, headdim, d_state).
    conv : dict[int, ndarray]
        Per Mamba layer index: the last ``d_conv - 1`` conv inputs (b, d_conv - 1, conv_dim),
        oldest first (zeros before the start of the sequence).
    """

    pos: int = 0
    kv: dict = field(default_factory=dict)
    ssm: dict = field(default_factory=dict)
    conv: dict = field(default_factory=dict)

    def copy(self):
        return copy.deepcopy(self)


def _rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope(x, pos, theta):
    """Rotate-half RoPE. x (b, L, h, d), pos (L,) integer positions."""
    if theta is None:
        return x
    d = x.shape[-1]
    inv = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # (d/2,)
    ang = np.asarray(pos, np.float64)[:, None] * inv[None, :]  # (L, d/2)
    cos = np.concatenate([np.cos(ang)] * 2, axis=-1)[None, :, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, axis=-1)[None, :, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + np.concatenate([-x2, x1], axis=-1) * sin


class HybridModel:
    """The tiny hybrid model (weights from ``cfg.seed``); see the module docstring."""

    def __init__(self, cfg: HybridConfig = HybridConfig()):
        self.cfg = cfg
        self.weights = self._init_weights()

    # ------------------------------------------------------------------ weights
    def _init_weights(self):
        c = self.cfg
        rng = np.random.default_rng(c.seed)
        nl = len(c.pattern)
        out_scale = 1.0 / np.sqrt(2 * nl)

        def lin(fan_in, fan_out, scale=1.0):
            return rng.standard_normal((fan_in, fan_out)) * (scale / np.sqrt(fan_in))

        def norm_w(d):
            return 1.0 + 0.1 * rng.standard_normal(d)

        def attn_w():
            hd = c.head_dim
            return {"norm": norm_w(c.d_model),
                    "wq": lin(c.d_model, c.n_heads * hd), "wk": lin(c.d_model, c.n_kv_heads * hd),
                    "wv": lin(c.d_model, c.n_kv_heads * hd),
                    "wo": lin(c.n_heads * hd, c.d_model, out_scale)}

        def mlp_w():
            w = {"norm": norm_w(c.d_model), "up": lin(c.d_model, c.d_ff),
                 "down": lin(c.d_ff, c.d_model, out_scale)}
            if c.mlp_act == "swiglu":
                w["gate"] = lin(c.d_model, c.d_ff)
            return w

        def mamba_w():
            h = c.nheads
            dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), h))
            return {"norm": norm_w(c.d_model),
                    "in_proj": lin(c.d_model, 2 * c.d_inner + 2 * c.ngroups * c.d_state + h),
                    "conv_w": rng.standard_normal((c.d_conv, c.conv_dim)) / np.sqrt(c.d_conv),
                    "conv_b": 0.1 * rng.standard_normal(c.conv_dim),
                    "dt_bias": dt + np.log(-np.expm1(-dt)),  # softplus^-1(dt)
                    "A_log": np.log(rng.uniform(1, 16, h)),
                    "D": 1.0 + 0.1 * rng.standard_normal(h),
                    "gnorm": norm_w(c.d_inner),
                    "out_proj": lin(c.d_inner, c.d_model, out_scale)}

        w = {"embed": rng.standard_normal((c.vocab_size, c.d_model)), "layers": []}
        for kind in c.pattern:
            w["layers"].append({"M": mamba_w, "*": attn_w, "-": mlp_w, "S": lambda: None}[kind]())
        if "S" in c.pattern:
            w["shared"] = {"attn": attn_w(), "mlp": mlp_w()}
        w["norm_f"] = norm_w(c.d_model)
        w["lm_head"] = lin(c.d_model, c.vocab_size)
        return w

    # ------------------------------------------------------------------ mixers
    def _mlp(self, w, h):
        u = _rmsnorm(h, w["norm"], self.cfg.rms_eps)
        if self.cfg.mlp_act == "relu2":
            a = np.maximum(u @ w["up"], 0) ** 2
        else:
            a = silu(u @ w["gate"]) * (u @ w["up"])
        return h + a @ w["down"]

    def _qkv(self, w, u, pos):
        c = self.cfg
        lead = u.shape[:-1]
        q = (u @ w["wq"]).reshape(lead + (c.n_heads, c.head_dim))
        k = (u @ w["wk"]).reshape(lead + (c.n_kv_heads, c.head_dim))
        v = (u @ w["wv"]).reshape(lead + (c.n_kv_heads, c.head_dim))
        return _rope(q, pos, c.rope_theta), _rope(k, pos, c.rope_theta), v

    def _attn_seq(self, w, h, ref):
        c = self.cfg
        b, L, _ = h.shape
        q, k, v = self._qkv(w, _rmsnorm(h, w["norm"], c.rms_eps), np.arange(L))
        if ref:
            o = attention(q, k, v, causal=True)
        else:
            o, _ = flash_attention(q, k, v, causal=True, block_k=c.block_k)
        return h + o.reshape(b, L, -1) @ w["wo"], (k, v)

    def _attn_step(self, w, h, kv, pos):
        c = self.cfg
        b = h.shape[0]
        q, k, v = self._qkv(w, _rmsnorm(h, w["norm"], c.rms_eps)[:, None], np.array([pos]))
        kc = np.concatenate([kv[0], k], axis=1)
        vc = np.concatenate([kv[1], v], axis=1)
        o = decode_attention(q, kc, vc, cache_len=pos + 1)
        return h + o.reshape(b, -1) @ w["wo"], (kc, vc)

    def _mamba_split(self, zxbcdt):
        c = self.cfg
        di, gn = c.d_inner, c.ngroups * c.d_state
        return zxbcdt[..., :di], zxbcdt[..., di:2 * di + 2 * gn], zxbcdt[..., 2 * di + 2 * gn:]

    def _mamba_out(self, w, y, z):
        c = self.cfg
        lead = y.shape[:-1]
        g = (y * silu(z)).reshape(lead + (c.ngroups, -1))
        g = g / np.sqrt(np.mean(g * g, axis=-1, keepdims=True) + c.rms_eps)
        return (g.reshape(lead + (c.d_inner,)) * w["gnorm"]) @ w["out_proj"]

    def _ssd_args(self, w, xbc, dt):
        c = self.cfg
        lead = xbc.shape[:-1]
        di, gn = c.d_inner, c.ngroups * c.d_state
        x = xbc[..., :di].reshape(lead + (c.nheads, c.headdim))
        B = xbc[..., di:di + gn].reshape(lead + (c.ngroups, c.d_state))
        C = xbc[..., di + gn:].reshape(lead + (c.ngroups, c.d_state))
        return dict(x=x, dt=dt, A=-np.exp(w["A_log"]), B=B, C=C, D=w["D"], dt_bias=w["dt_bias"],
                    dt_softplus=True)

    def _mamba_seq(self, w, h, ref):
        c = self.cfg
        b, L, _ = h.shape
        z, xbc, dt = self._mamba_split(_rmsnorm(h, w["norm"], c.rms_eps) @ w["in_proj"])
        xpad = np.concatenate([np.zeros((b, c.d_conv - 1, c.conv_dim)), xbc], axis=1)
        conv = sum(xpad[:, k:k + L] * w["conv_w"][k] for k in range(c.d_conv)) + w["conv_b"]
        args = self._ssd_args(w, silu(conv), dt)
        if ref:
            y, state = ssd_recurrent(**args)
        else:
            y, state = ssd_chunked(**args, chunk_size=c.chunk_size)
        out = self._mamba_out(w, y.reshape(b, L, c.d_inner), z)
        return h + out, state, xpad[:, L:]

    def _mamba_step(self, w, h, state, conv_state):
        c = self.cfg
        z, xbc, dt = self._mamba_split(_rmsnorm(h, w["norm"], c.rms_eps) @ w["in_proj"])
        window = np.concatenate([conv_state, xbc[:, None]], axis=1)  # (b, d_conv, conv_dim)
        conv = np.sum(window * w["conv_w"], axis=1) + w["conv_b"]
        args = self._ssd_args(w, silu(conv), dt)
        y, state = ssd_step(state, **args)
        return h + self._mamba_out(w, y.reshape(h.shape[0], c.d_inner), z), state, window[:, 1:]

    # ------------------------------------------------------------------ paths
    def _layer_weights(self, i):
        return self.weights["layers"][i]

    def _head(self, h):
        return _rmsnorm(h, self.weights["norm_f"], self.cfg.rms_eps) @ self.weights["lm_head"]

    def _check_tokens(self, tokens):
        t = np.asarray(tokens)
        if t.ndim != 2 or t.shape[1] < 1 or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"tokens must be an integer array (b, L) with L >= 1, got {t.shape}")
        if t.min() < 0 or t.max() >= self.cfg.vocab_size:
            raise ValueError(f"token ids must be in [0, {self.cfg.vocab_size})")
        return t

    def _run_seq(self, tokens, ref):
        tokens = self._check_tokens(tokens)
        h = self.weights["embed"][tokens]
        cache = HybridCache(pos=tokens.shape[1])
        for i, kind in enumerate(self.cfg.pattern):
            w = self._layer_weights(i)
            if kind == "M":
                h, cache.ssm[i], cache.conv[i] = self._mamba_seq(w, h, ref)
            elif kind == "*":
                h, cache.kv[i] = self._attn_seq(w, h, ref)
            elif kind == "-":
                h = self._mlp(w, h)
            else:  # "S"
                sw = self.weights["shared"]
                h, cache.kv[i] = self._attn_seq(sw["attn"], h, ref)
                h = self._mlp(sw["mlp"], h)
        return self._head(h), cache

    def forward(self, tokens):
        """Reference forward over a whole sequence (recurrent SSD, plain attention).

        Parameters
        ----------
        tokens : int array, shape (b, L)

        Returns
        -------
        logits : ndarray, shape (b, L, vocab_size)
        """
        return self._run_seq(tokens, ref=True)[0]

    def prefill(self, tokens):
        """Prefill (chunked SSD, flash attention).

        Parameters
        ----------
        tokens : int array, shape (b, L)

        Returns
        -------
        logits : ndarray, shape (b, L, vocab_size)
        cache : HybridCache
            ``pos == L``; KV (b, L, hkv, head_dim) per attention layer, SSM and conv state per
            Mamba layer.
        """
        return self._run_seq(tokens, ref=False)

    def decode(self, token, cache):
        """Decode one token at position ``cache.pos``.

        Parameters
        ----------
        token : int array, shape (b,)
        cache : HybridCache
            Not modified.

        Returns
        -------
        logits : ndarray, shape (b, vocab_size)
        cache : HybridCache
            A new cache with ``pos + 1``.
        """
        token = self._check_tokens(np.asarray(token)[:, None])[:, 0]
        h = self.weights["embed"][token]
        new = HybridCache(pos=cache.pos + 1)
        for i, kind in enumerate(self.cfg.pattern):
            w = self._layer_weights(i)
            if kind == "M":
                h, new.ssm[i], new.conv[i] = self._mamba_step(w, h, cache.ssm[i], cache.conv[i])
            elif kind == "*":
                h, new.kv[i] = self._attn_step(w, h, cache.kv[i], cache.pos)
            elif kind == "-":
                h = self._mlp(w, h)
            else:
                sw = self.weights["shared"]
                h, new.kv[i] = self._attn_step(sw["attn"], h, cache.kv[i], cache.pos)
                h = self._mlp(sw["mlp"], h)
        return self._head(h), new


def _ship_array(a, kv_format):
    if kv_format is None:
        return a.copy()
    if kv_format == "bf16":
        return a.astype(ml_dtypes.bfloat16).astype(a.dtype)
    return bfp_dequantize(bfp_quantize(a, kv_format, axis=-1)).astype(a.dtype)


def ship_cache(cache, kv_format=None):
    """Ship a cache from prefill to decode.

    Parameters
    ----------
    cache : HybridCache
    kv_format : {None, "bf16", "bfp8", "bfp4"}
        None ships exactly. "bfp8"/"bfp4": every K and V is quantized with
        :func:`hybridgen.golden.kvquant.bfp_quantize` along the head dimension (blocks of 16 along
        ``head_dim``; the values are rounded to float32 first) and dequantized on arrival.
        "bf16": K and V rounded to bf16 (ml_dtypes, RNE). SSM and conv states always ship exact.

    Returns
    -------
    HybridCache
        A new cache; the input is not modified.
    """
    if kv_format not in (None, "bf16", "bfp8", "bfp4"):
        raise ValueError(f"kv_format must be None, 'bf16', 'bfp8' or 'bfp4', got {kv_format!r}")
    out = cache.copy()
    out.kv = {i: (_ship_array(k, kv_format), _ship_array(v, kv_format))
              for i, (k, v) in cache.kv.items()}
    return out


def kv_cache_nbytes(cache, kv_format=None):
    """Bytes of the KV part of a cache on the link: 2 per value for None/"bf16", and per
    16-value block 1 exponent byte + 16 (BFP8) or 8 (BFP4) data bytes."""
    n = sum(k.size + v.size for k, v in cache.kv.values())
    blocks = sum(2 * (k.size // k.shape[-1]) * -(-k.shape[-1] // 16) for k, _ in cache.kv.values())
    if kv_format in (None, "bf16"):
        return 2 * n
    return blocks * (17 if kv_format == "bfp8" else 9)


def disaggregated_decode(model, prompt, next_tokens, kv_format=None):
    """Prefill ``prompt``, ship the cache (see :func:`ship_cache`), decode ``next_tokens``.

    Parameters
    ----------
    model : HybridModel
    prompt : int array (b, P)
    next_tokens : int array (b, N)
        Fed one by one (teacher forcing).
    kv_format : see :func:`ship_cache`

    Returns
    -------
    logits : ndarray, shape (b, N, vocab_size)
        Logits after each decoded token (positions P .. P+N-1).
    """
    _, cache = model.prefill(prompt)
    cache = ship_cache(cache, kv_format)
    out = []
    for t in np.asarray(next_tokens).T:
        logits, cache = model.decode(t, cache)
        out.append(logits)
    return np.stack(out, axis=1)
