"""Mamba-2 SSD golden models: chunked == recurrent, decode steps == recurrent."""

import numpy as np
import pytest

from hybridgen.golden.ssd import segsum, softplus, ssd_chunked, ssd_recurrent, ssd_step

SEED = 20240611
TOL = 1e-10


def _rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def _case(rng, b, L, h, p, g, n, with_D="h", with_z=True, with_init=True):
    x = rng.standard_normal((b, L, h, p))
    dt = rng.standard_normal((b, L, h)) - 1.0
    A = -np.exp(rng.uniform(-1, 1.5, h))
    B = rng.standard_normal((b, L, g, n))
    C = rng.standard_normal((b, L, g, n))
    D = {"h": rng.standard_normal(h), "hp": rng.standard_normal((h, p)), None: None}[with_D]
    z = rng.standard_normal((b, L, h, p)) if with_z else None
    s0 = rng.standard_normal((b, h, p, n)) if with_init else None
    return dict(x=x, dt=dt, A=A, B=B, C=C, D=D, z=z, dt_bias=rng.standard_normal(h),
                dt_softplus=True, initial_state=s0)


def _random_cases(n_cases):
    rng = np.random.default_rng(SEED)
    for i in range(n_cases):
        h_g = [(1, 1), (4, 1), (4, 2), (6, 3), (8, 4), (8, 8), (12, 2)][i % 7]
        yield i, dict(b=int(rng.integers(1, 3)), L=int(rng.integers(1, 80)), h=h_g[0],
                      p=int(rng.integers(1, 9)), g=h_g[1], n=int(rng.integers(1, 17)),
                      with_D=[None, "h", "hp"][i % 3], with_z=bool(i % 2),
                      with_init=bool((i // 2) % 2)), int(rng.choice([1, 3, 8, 16, 64]))


def test_chunked_equals_recurrent_random_shapes():
    print(f"seed={SEED}")
    rng = np.random.default_rng(SEED + 1)
    worst_y = worst_s = 0.0
    for i, shape, chunk in _random_cases(42):
        args = _case(rng, **shape)
        y1, s1 = ssd_recurrent(**args)
        y2, s2 = ssd_chunked(**args, chunk_size=chunk)
        ey, es = _rel(y2, y1), _rel(s2, s1)
        worst_y, worst_s = max(worst_y, ey), max(worst_s, es)
        assert ey <= TOL and es <= TOL, (i, shape, chunk, ey, es)
    print(f"chunked vs recurrent: max rel err y {worst_y:.2e}, final state {worst_s:.2e}")


def test_recurrent_matches_scalar_definition():
    """Independent scalar loops (head i reads group i // (h/g)) against ssd_recurrent."""
    rng = np.random.default_rng(SEED + 2)
    b, L, h, p, g, n = 2, 7, 6, 3, 3, 4
    a = _case(rng, b, L, h, p, g, n, with_D="hp")
    y, s = ssd_recurrent(**a)
    dt = softplus(a["dt"] + a["dt_bias"])
    ref = np.zeros_like(y)
    for bi in range(b):
        for hi in range(h):
            gi = hi // (h // g)
            st = a["initial_state"][bi, hi].copy()
            for t in range(L):
                st = np.exp(dt[bi, t, hi] * a["A"][hi]) * st + dt[bi, t, hi] * np.outer(
                    a["x"][bi, t, hi], a["B"][bi, t, gi])
                yt = st @ a["C"][bi, t, gi] + a["D"][hi] * a["x"][bi, t, hi]
                zt = a["z"][bi, t, hi]
                ref[bi, t, hi] = yt * zt / (1 + np.exp(-zt))
            assert np.allclose(st, s[bi, hi], rtol=1e-12, atol=1e-12)
    assert _rel(y, ref) < 1e-13


def test_group_mapping():
    """Only group j nonzero -> only heads j*(h/g) .. (j+1)*(h/g)-1 respond."""
    rng = np.random.default_rng(SEED + 3)
    b, L, h, p, g, n = 1, 5, 8, 2, 4, 3
    a = _case(rng, b, L, h, p, g, n, with_D=None, with_z=False, with_init=False)
    a["B"][:] = 0
    a["B"][:, :, 2] = 1.0
    for fn in (ssd_recurrent, lambda **k: ssd_chunked(**k, chunk_size=2)):
        y, _ = fn(**a)
        live = np.abs(y).sum(axis=(0, 1, 3)) > 0
        assert live.tolist() == [False] * 4 + [True] * 2 + [False] * 2


def test_prefill_then_steps_equals_recurrent():
    rng = np.random.default_rng(SEED + 4)
    for b, L, P, h, p, g, n, chunk in [(2, 40, 23, 8, 4, 2, 8, 8), (1, 17, 1, 4, 3, 4, 5, 4),
                                       (3, 30, 16, 6, 2, 1, 6, 16)]:
        a = _case(rng, b, L, h, p, g, n, with_D="h")
        y_full, s_full = ssd_recurrent(**a)
        pre = {k: (v[:, :P] if k in ("x", "dt", "B", "C", "z") else v) for k, v in a.items()}
        y_pre, state = ssd_chunked(**pre, chunk_size=chunk)
        ys = [y_pre]
        for t in range(P, L):
            yt, state = ssd_step(state, a["x"][:, t], a["dt"][:, t], a["A"], a["B"][:, t],
                                 a["C"][:, t], D=a["D"], z=a["z"][:, t], dt_bias=a["dt_bias"],
                                 dt_softplus=True)
            ys.append(yt[:, None])
        y = np.concatenate(ys, axis=1)
        err = _rel(y, y_full)
        print(f"prefill({P}) + {L - P} steps vs recurrent: rel err {err:.2e}")
        assert err <= TOL and _rel(state, s_full) <= TOL


def test_chunked_stable_under_strong_decay():
    """Decays down to exp(-30000) per chunk: everything stays finite and equal."""
    rng = np.random.default_rng(SEED + 5)
    b, L, h, p, g, n = 1, 300, 2, 2, 1, 2
    a = _case(rng, b, L, h, p, g, n, with_D=None, with_z=False)
    a.update(A=np.array([-80.0, -5.0]), dt=np.full((b, L, h), 3.0), dt_softplus=False,
             dt_bias=None)
    y1, s1 = ssd_recurrent(**a)
    y2, s2 = ssd_chunked(**a, chunk_size=128)
    assert np.all(np.isfinite(y2)) and _rel(y2, y1) <= TOL and _rel(s2, s1) <= TOL


def test_segsum_and_softplus():
    s = segsum(np.array([1.0, 2.0, 3.0]))
    assert s[2, 0] == 5.0 and s[1, 1] == 0.0 and s[0, 2] == -np.inf
    assert softplus(np.array(21.0)) == 21.0
    assert softplus(np.array(20.0)) == np.log1p(np.exp(20.0))
    assert softplus(np.array(-800.0)) == 0.0


def test_float32_and_validation():
    rng = np.random.default_rng(SEED + 6)
    a = _case(rng, 1, 9, 4, 2, 2, 3)
    a32 = {k: (v.astype(np.float32) if isinstance(v, np.ndarray) else v) for k, v in a.items()}
    y, s = ssd_chunked(**a32, chunk_size=4)
    assert y.dtype == np.float32 and s.dtype == np.float32
    assert _rel(y.astype(np.float64), ssd_recurrent(**a)[0]) < 1e-5
    with pytest.raises(ValueError, match="divisible"):
        ssd_recurrent(a["x"][:, :, :3], a["dt"][:, :, :3], a["A"][:3], a["B"], a["C"])
