"""golden/decode.py ssm_step: the decode array's Mamba-2 decode step against float64
golden/ssd.py ssd_step, and against the URSC step of the same order."""

import numpy as np
import pytest

from hybridgen.golden import ursc
from hybridgen.golden.decode import ssm_step, ssm_step_bytes, ssm_step_case
from hybridgen.golden.numerics import bf16_from_bits, fp32_to_float64
from hybridgen.golden.ssd import silu, ssd_step

SEED = 20261203
BF16_U = 2.0 ** -8


def _ratio(err, bound):
    positive = bound > 0
    return float(np.max(err[positive] / bound[positive])) if positive.any() else 0.0


def _args(case):
    return {k: case.get(k) for k in ("x", "dt", "A", "B", "C", "D", "dt_bias", "z")}


@pytest.mark.parametrize("state_dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("b,h,g,p,n,width,with_z,softplus_on", [
    (1, 4, 1, 6, 20, 4, True, True), (2, 4, 2, 5, 37, 8, False, True),
    (3, 8, 4, 3, 16, 16, True, False)])
def test_ssm_step_bound(state_dtype, b, h, g, p, n, width, with_z, softplus_on):
    """ssm_step against float64 ssd_step.

    All arithmetic fp32: the state carries one rounding per op (two products, one sum) plus
    the exp/softplus errors, below ``2^-20 * mag_s`` (mag_s the float64 update of |state|, |x|,
    |B|); y adds the chunk tree and the accumulation (log2 width + ceil(n / width) roundings)
    and the bf16 output rounding: ``|y - y_ref| <= 2^-18 * mag_y + 2^-8 (1 + 2^-7) |y_ref|``
    (mag_y the float64 step on the magnitudes, times |silu(z)|). A bf16 state adds
    ``2^-8 |s_ref|`` (its write rounding).
    """
    print(f"SEED={SEED}")
    rng = np.random.default_rng([SEED, b, h, g, p, n, width])
    case = ssm_step_case(rng, b, h, p, n, g, state_dtype=state_dtype, with_z=with_z,
                         softplus=softplus_on)
    y, s = ssm_step(case["state_in"], **_args(case), width=width, softplus=softplus_on,
                    state_dtype=state_dtype)
    assert y.shape == (b, h, p) and y.dtype == np.uint16
    assert s.shape == (b, h, p, n) and s.dtype == (np.uint32 if state_dtype == "fp32"
                                                   else np.uint16)
    f = {k: (None if v is None else fp32_to_float64(v) if k in ("A", "D", "dt_bias")
             or (k == "state_in" and state_dtype == "fp32") else bf16_from_bits(v))
         for k, v in case.items()}
    ref = dict(x=f["x"], dt=f["dt"], A=f["A"], B=f["B"], C=f["C"], D=f["D"],
               dt_bias=f["dt_bias"], dt_softplus=softplus_on)
    y_ref, s_ref = ssd_step(f["state_in"], z=f.get("z"), **ref)
    y_mag, s_mag = ssd_step(np.abs(f["state_in"]), **dict(
        ref, x=np.abs(f["x"]), B=np.abs(f["B"]), C=np.abs(f["C"]), D=np.abs(f["D"])))
    if with_z:
        y_mag = y_mag * np.abs(silu(f["z"]))
    s_got = fp32_to_float64(s) if state_dtype == "fp32" else bf16_from_bits(s)
    s_bound = 2.0 ** -20 * s_mag + (BF16_U * np.abs(s_ref) if state_dtype == "bf16" else 0)
    y_bound = 2.0 ** -18 * y_mag + BF16_U * (1 + 2.0 ** -7) * np.abs(y_ref)
    s_err, y_err = np.abs(s_got - s_ref), np.abs(bf16_from_bits(y) - y_ref)
    print(f"y error / bound = {_ratio(y_err, y_bound):.3f}, "
          f"state error / bound = {_ratio(s_err, s_bound):.3f}")
    assert np.all(s_err <= s_bound)
    assert np.all(y_err <= y_bound)


@pytest.mark.parametrize("state_dtype", ["fp32", "bf16"])
def test_ssm_step_is_the_ursc_order_at_the_chunk_width(state_dtype):
    """The same bits as the URSC step with its vector width = the chunk width (one kernel for
    both blocks); another width gives other y bits (the tree is part of the order): an exactly
    cancelling pair of 2^20-sized products at n = 0 and 8 (state and B equal there, C = +-2^20)
    absorbs the small products beside it in a different place."""
    rng = np.random.default_rng([SEED, 7])
    case = ssm_step_case(rng, 2, 4, 5, 45, 2, state_dtype=state_dtype, with_z=True)
    case["state_in"][..., 8] = case["state_in"][..., 0]
    case["B"][..., 8] = case["B"][..., 0]
    case["C"][..., 0], case["C"][..., 8] = 0x4980, 0xC980
    y, s = ssm_step(case["state_in"], **_args(case), width=8, state_dtype=state_dtype)
    y_u, s_u = ursc.ursc_ssd_step(case["state_in"], **_args(case), state_dtype=state_dtype,
                                  vector_width=8)
    assert np.array_equal(y, y_u) and np.array_equal(s, s_u)
    y4, s4 = ssm_step(case["state_in"], **_args(case), width=4, state_dtype=state_dtype)
    assert np.array_equal(s, s4) and np.any(y != y4)


def test_ssm_step_bad_inputs():
    rng = np.random.default_rng(SEED)
    case = ssm_step_case(rng, 1, 3, 2, 4, 1)
    with pytest.raises(ValueError, match="state_dtype must be one of"):
        ssm_step(case["state_in"], **_args(case), width=4, state_dtype="fp16")
    with pytest.raises(ValueError, match="width must be a power of two"):
        ssm_step(case["state_in"], **_args(case), width=3)
    bad = dict(_args(case), B=case["B"][:, :, :3])
    with pytest.raises(ValueError, match="must be"):
        ssm_step(case["state_in"], **bad, width=4)


def test_ssm_step_bytes():
    # target shape: 64 x 64 x 128 fp32 state read + written = 4 MiB
    assert ssm_step_bytes(1, 64, 64, 128, 8) == 2 * 64 * 64 * 128 * 4 + (
        2 * 64 * 64 * 2 + 2 * 64 + 4 * 8 * 128 + 12 * 64)
    assert ssm_step_bytes(2, 4, 3, 5, 2, "bf16", True) == 2 * 2 * 4 * 3 * 5 * 2 + (
        2 * 2 * 4 * 3 * 3 + 2 * 2 * 4 + 4 * 2 * 2 * 5 + 12 * 4)


@pytest.mark.parametrize("state_dtype", ["fp32", "bf16"])
def test_ssm_layout_round_trip(state_dtype):
    """pack_state / unpack_state are inverse; chunk (q*K + c)*I + j of a head is
    state[q*I + j, c*W : c*W + W]; records hold the head's scalars, x and B/C of its group."""
    from hybridgen.rtl.decode import DecodeGeometry
    from hybridgen.rtl.decode.ssm_layout import SsmLayout
    g = DecodeGeometry(units=2, width=4, dot=8, channels=2, bus_bytes=16, addr_bits=32,
                       outstanding=8, max_batch=4, x_kib=2)
    rng = np.random.default_rng([SEED, 9])
    case = ssm_step_case(rng, 2, 3, 5, 7, 3, state_dtype=state_dtype, with_z=True)
    lay = SsmLayout(g, batch=2, heads=3, headdim=5, dstate=7, groups=3,
                    state_dtype=state_dtype, with_z=True)
    assert (lay.W, lay.I, lay.K, lay.Pq) == (4, 4, 2, 2)
    mem = lay.pack_state(case["state_in"])
    assert [len(m) for m in mem] == [3 * lay.head_state_bytes, 3 * lay.head_state_bytes]
    assert np.array_equal(lay.unpack_state(mem), case["state_in"])
    es = lay.esize
    dtype = "<u4" if es == 4 else "<u2"
    chunks = np.frombuffer(mem[1][:lay.head_state_bytes], dtype).reshape(-1, 4)
    q, c, j = 1, 1, 0   # head e = 1 (b 0, h 1): row 4, values 4..6 (and a zero pad)
    assert list(chunks[(q * lay.K + c) * lay.I + j]) == list(case["state_in"][0, 1, 4, 4:7]) + [0]
    rec = lay.pack_records(**{k: case[k] for k in ("x", "dt", "A", "D", "dt_bias", "B", "C",
                                                   "z")})
    assert len(rec[0]) == 3 * lay.record_beats * 16
    words = np.frombuffer(rec[1][:16], "<u4")
    assert list(words) == [case["dt"][0, 1], case["dt_bias"][1], case["A"][1], case["D"][1]]
    beat = lambda k: np.frombuffer(rec[1][16 * k:16 * k + 16], "<u2")
    assert list(beat(1)[:5]) == list(case["x"][0, 1]) and not beat(1)[5:].any()
    base = 1 + lay.x_beats + lay.z_beats
    assert list(beat(base)[:7]) == list(case["B"][0, 1]) and beat(base)[7] == 0
    assert list(beat(base + lay.bc_beats)[:7]) == list(case["C"][0, 1])
