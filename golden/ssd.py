"""Mamba-2 structured state-space duality (SSD): float reference models.

Three forms of the same operator, all pure numpy:

* :func:`ssd_recurrent` - the sequential recurrence, token by token. This is the definition.
* :func:`ssd_chunked` - the four-step chunked algorithm that prefill hardware runs (intra-chunk
  diagonal blocks, chunk states, inter-chunk state passing, state to output).
* :func:`ssd_step` - the single-token decode update.

Notation (Mamba-2 paper, ``state-spaces/mamba``): ``b`` batch, ``L`` sequence length, ``h`` heads,
``p`` head dimension, ``g`` groups (ngroups), ``n`` state size. Head ``i`` uses group
``i // (h // g)``. The recurrence per head is::

    dA_t = exp(dt_t * A_h)
    s_t  = dA_t * s_{t-1} + dt_t * outer(x_t, B_t)          # s: (p, n)
    y_t  = s_t @ C_t + D_h * x_t
    y_t *= silu(z_t)                                          # if z is given

with ``dt = softplus(dt + dt_bias)`` when ``dt_softplus`` (softplus(x) = x for x > 20, as in the
public kernels).

Numerics: the computation runs in ``numpy.result_type`` of the floating inputs (float64 when all
inputs are float64 or integer). The chunked and recurrent forms agree to ~1e-15 of the output norm
in float64; the tests require 1e-10.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softplus", "silu", "segsum", "ssd_recurrent", "ssd_chunked", "ssd_step"]


def softplus(x):
    """``log(1 + exp(x))`` computed stably; exactly ``x`` for ``x > 20`` (public-kernel rule)."""
    x = np.asarray(x)
    with np.errstate(over="ignore"):
        soft = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    return np.where(x > 20, x, soft).astype(x.dtype, copy=False)


def silu(x):
    """``x * sigmoid(x)``, computed through tanh so that no intermediate overflows."""
    x = np.asarray(x)
    return x * (0.5 * (1.0 + np.tanh(0.5 * x)))


def segsum(a):
    """Stable segment sums along the last axis.

    Parameters
    ----------
    a : ndarray, shape (..., T)

    Returns
    -------
    ndarray, shape (..., T, T)
        ``out[..., i, j] = sum(a[..., j+1 : i+1])`` for ``j <= i`` and ``-inf`` above the
        diagonal, so ``exp(out)`` is the lower-triangular decay matrix. Each entry is a direct
        sum of the segment (a masked cumsum), not a difference of two prefix sums, so there is
        no cancellation for long sequences.
    """
    a = np.asarray(a)
    t = a.shape[-1]
    rep = np.broadcast_to(a[..., None, :], a.shape[:-1] + (t, t))  # rep[..., i, j] = a[j]
    # keep a[i] at row i for all columns j < i, then cumsum down the rows
    below = np.tril(np.ones((t, t), dtype=bool), k=-1)
    x = np.where(below, rep.swapaxes(-1, -2), 0)  # x[..., i, j] = a[i] if j < i
    out = np.cumsum(x, axis=-2)
    return np.where(np.tril(np.ones((t, t), dtype=bool)), out, -np.inf)


def _dtype(*arrays):
    dts = [np.asarray(a).dtype for a in arrays if a is not None]
    dt = np.result_type(*dts)
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float64)


def _prep(x, dt, A, B, C, D, z, dt_bias, dt_softplus):
    """Validate shapes, cast, apply dt bias/softplus, expand B and C from groups to heads."""
    ft = _dtype(x, dt, A, B, C, D, z, dt_bias)
    x = np.asarray(x, ft)
    dt = np.asarray(dt, ft)
    A = np.asarray(A, ft)
    B = np.asarray(B, ft)
    C = np.asarray(C, ft)
    h = x.shape[-2]
    g = B.shape[-2]
    if A.shape != (h,):
        raise ValueError(f"A must have shape ({h},), got {A.shape}")
    if h % g != 0:
        raise ValueError(f"nheads {h} must be divisible by ngroups {g}")
    if B.shape != C.shape or B.shape[:-2] != x.shape[:-2]:
        raise ValueError(f"B {B.shape} and C {C.shape} must match x {x.shape} up to (g, n)")
    if dt.shape != x.shape[:-1]:
        raise ValueError(f"dt must have shape {x.shape[:-1]}, got {dt.shape}")
    if dt_bias is not None:
        dt = dt + np.asarray(dt_bias, ft)
    if dt_softplus:
        dt = softplus(dt)
    rep = h // g
    Bh = np.repeat(B, rep, axis=-2)  # head i -> group i // rep
    Ch = np.repeat(C, rep, axis=-2)
    if D is not None:
        D = np.asarray(D, ft)
        if D.shape == (h,):
            D = D[:, None]
        elif D.shape != (h, x.shape[-1]):
            raise ValueError(f"D must have shape ({h},) or ({h}, {x.shape[-1]}), got {D.shape}")
    if z is not None:
        z = np.asarray(z, ft)
        if z.shape != x.shape:
            raise ValueError(f"z must have shape {x.shape}, got {z.shape}")
    return ft, x, dt, A, Bh, Ch, D, z


def _init_state(initial_state, x, n, ft):
    b, h, p = x.shape[0], x.shape[-2], x.shape[-1]
    if initial_state is None:
        return np.zeros((b, h, p, n), ft)
    s = np.asarray(initial_state, ft)
    if s.shape != (b, h, p, n):
        raise ValueError(f"state must have shape {(b, h, p, n)}, got {s.shape}")
    return s


def _finish(y, x, D, z):
    if D is not None:
        y = y + x * D
    if z is not None:
        y = y * silu(z)
    return y


def ssd_recurrent(x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False,
                  initial_state=None):
    """Sequential SSD recurrence (the definition).

    Parameters
    ----------
    x : ndarray, shape (b, L, h, p)
    dt : ndarray, shape (b, L, h)
        Raw step sizes; ``dt + dt_bias`` then softplus if ``dt_softplus``.
    A : ndarray, shape (h,)
        Per-head scalar decay (negative for a stable model).
    B, C : ndarray, shape (b, L, g, n)
        Input and output projections; ``h % g == 0``; head ``i`` uses group ``i // (h // g)``.
    D : ndarray, shape (h,) or (h, p), optional
        Skip connection ``y += D * x``.
    z : ndarray, shape (b, L, h, p), optional
        Gate: ``y *= silu(z)`` (after the D term).
    dt_bias : ndarray, shape (h,), optional
    dt_softplus : bool
    initial_state : ndarray, shape (b, h, p, n), optional
        Zero when omitted.

    Returns
    -------
    y : ndarray, shape (b, L, h, p)
    final_state : ndarray, shape (b, h, p, n)
        State after the last token.
    """
    ft, x, dt, A, Bh, Ch, D, z = _prep(x, dt, A, B, C, D, z, dt_bias, dt_softplus)
    L = x.shape[1]
    state = _init_state(initial_state, x, Bh.shape[-1], ft)
    y = np.empty_like(x)
    dA = np.exp(dt * A)  # (b, L, h)
    dtx = dt[..., None] * x  # (b, L, h, p)
    for t in range(L):
        state = (state * dA[:, t, :, None, None]
                 + dtx[:, t, :, :, None] * Bh[:, t, :, None, :])
        y[:, t] = np.einsum("bhpn,bhn->bhp", state, Ch[:, t])
    return _finish(y, x, D, z), state


def ssd_chunked(x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False,
                initial_state=None, chunk_size=64):
    """Chunked SSD (the algorithm of the Mamba-2 paper, section 6), same contract as
    :func:`ssd_recurrent`.

    The sequence is split into chunks of ``chunk_size`` tokens; the last chunk is padded with
    ``x = 0, dt = 0`` (after softplus), which leaves outputs and the final state unchanged. With
    ``Q = chunk_size`` and per-chunk cumulative decays ``a = cumsum(dt * A)``:

    1. intra-chunk (diagonal blocks): ``Y_diag = (C B^T * exp(segsum(dt A))) (dt x)``;
    2. chunk states: ``S_c = sum_s exp(a_last - a_s) dt_s x_s B_s^T``;
    3. inter-chunk recurrence over chunk states (segment sums of the chunk totals, starting
       from ``initial_state``);
    4. state to output: ``Y_off = exp(a_t) C_t S_{c-1}``.

    B and C are expanded from groups to heads before step 1, so any ngroups works.

    Returns
    -------
    y : ndarray, shape (b, L, h, p)
    final_state : ndarray, shape (b, h, p, n)
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    ft, x, dt, A, Bh, Ch, D, z = _prep(x, dt, A, B, C, D, z, dt_bias, dt_softplus)
    b, L, h, p = x.shape
    n = Bh.shape[-1]
    state0 = _init_state(initial_state, x, n, ft)
    Q = int(chunk_size)
    nc = max(1, -(-L // Q))
    pad = nc * Q - L

    def chunks(a):
        a = np.pad(a, [(0, 0), (0, pad)] + [(0, 0)] * (a.ndim - 2))
        return a.reshape((b, nc, Q) + a.shape[2:])

    X = chunks(dt[..., None] * x)  # (b, c, l, h, p), dt folded into x
    Bc = chunks(Bh)  # (b, c, l, h, n)
    Cc = chunks(Ch)
    Adt = chunks(dt * A).transpose(0, 3, 1, 2)  # (b, h, c, l)
    a_cum = np.cumsum(Adt, axis=-1)
    Lmat = np.exp(segsum(Adt))  # (b, h, c, l, s)

    # 1. diagonal blocks
    CB = np.einsum("bclhn,bcshn->bhcls", Cc, Bc)
    Y_diag = np.einsum("bhcls,bcshp->bclhp", CB * Lmat, X)

    # 2. chunk states; decay to the chunk end is the last row of Lmat (a direct segment sum)
    decay_states = Lmat[..., -1, :]  # (b, h, c, l)
    states = np.einsum("bclhn,bhcl,bclhp->bchpn", Bc, decay_states, X, optimize=True)

    # 3. inter-chunk recurrence
    states = np.concatenate([state0[:, None], states], axis=1)  # (b, c+1, h, p, n)
    chunk_tot = np.pad(a_cum[..., -1], [(0, 0), (0, 0), (1, 0)])  # (b, h, c+1)
    decay_chunk = np.exp(segsum(chunk_tot))  # (b, h, c+1, c+1)
    new_states = np.einsum("bhzc,bchpn->bzhpn", decay_chunk, states, optimize=True)
    prev_states, final_state = new_states[:, :-1], new_states[:, -1]

    # 4. state -> output
    Y_off = np.einsum("bclhn,bchpn,bhcl->bclhp", Cc, prev_states, np.exp(a_cum), optimize=True)

    y = (Y_diag + Y_off).reshape(b, nc * Q, h, p)[:, :L]
    return _finish(y, x, D, z), final_state


def ssd_step(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False):
    """Single-token SSD decode update.

    Parameters
    ----------
    state : ndarray, shape (b, h, p, n)
    x : ndarray, shape (b, h, p)
    dt : ndarray, shape (b, h)
    A : ndarray, shape (h,)
    B, C : ndarray, shape (b, g, n)
    D, z, dt_bias, dt_softplus
        As in :func:`ssd_recurrent` (z of shape (b, h, p)).

    Returns
    -------
    y : ndarray, shape (b, h, p)
    state : ndarray, shape (b, h, p, n)
        The updated state (a new array; the input is not modified).
    """
    ft, x, dt, A, Bh, Ch, D, z = _prep(x, dt, A, B, C, D, z, dt_bias, dt_softplus)
    state = _init_state(state, x, Bh.shape[-1], ft)
    dA = np.exp(dt * A)  # (b, h)
    state = state * dA[..., None, None] + (dt[..., None] * x)[..., None] * Bh[:, :, None, :]
    y = np.einsum("bhpn,bhn->bhp", state, Ch)
    return _finish(y, x, D, z), state
