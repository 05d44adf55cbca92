"""rtl/decode/ssm_lane.py SsmLane (Amaranth simulator): bit-exact against the decode step's
order (golden/decode.py ssm_step) for the state update and the row sums, with random clock
enables; a row with a masked tail."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hybridgen.golden.numerics import fp32_add, fp32_mul, fp32_to_bits, vector_rowsum
from hybridgen.rtl.decode.ssm_lane import SsmLane

SEED = 20261203


def _fp32(rng, shape):
    return fp32_to_bits(rng.standard_normal(shape).astype(np.float32))


def _expected(s, da, u, b, c, mask):
    """s' and the row sums of the module docstring (rows [R, K chunks, W])."""
    s_new = fp32_add(fp32_mul(s, da[:, None, None]), fp32_mul(u[:, None, None], b))
    q = np.where(mask, fp32_mul(s_new, c), np.uint32(0)).astype(np.uint32)
    sums = vector_rowsum(q)  # [R, K]
    acc = sums[:, 0]
    for k in range(1, sums.shape[1]):
        acc = fp32_add(acc, sums[:, k])
    return s_new, acc


@pytest.mark.parametrize("width,interleave,latency", [(4, 4, 3), (2, 4, 2)])
def test_ssm_lane(width, interleave, latency):
    print(f"SEED={SEED}")
    rng = np.random.default_rng([SEED, width, interleave, latency])
    groups, K = 3, 3
    R = groups * interleave
    s, b, c = (_fp32(rng, (R, K, width)) for _ in range(3))
    da = fp32_to_bits(rng.uniform(0.2, 1.0, R).astype(np.float32))
    u = _fp32(rng, R)
    mask = np.ones((R, K, width), bool)
    mask[:, K - 1, width // 2:] = False   # n = (K - 1) * width + width / 2
    s_exp, acc_exp = _expected(s, da, u, b, c, mask)
    # feed: group-major, chunk, row; then `interleave` flush chunks (first, nothing live)
    feed = [(g * interleave + j, k) for g in range(groups) for k in range(K)
            for j in range(interleave)] + [(None, 0)] * interleave
    dut = SsmLane(width=width, interleave=interleave, adder_latency=latency)
    got_s, got_acc = {}, []

    async def bench(ctx):
        history = []   # feed index of each enabled cycle
        for index, (row, k) in enumerate(feed + [(None, 1)] * (dut.latency + 1)):
            while rng.random() < 0.3:
                ctx.set(dut.en, 0)
                await ctx.tick()
            ctx.set(dut.en, 1)
            live = row is not None
            for name, array in (("s", s), ("b", b), ("c", c)):
                port = getattr(dut, name)
                for lane in range(width):
                    ctx.set(port[lane], int(array[row, k, lane]) if live else 0)
            ctx.set(dut.da, int(da[row]) if live else 0)
            ctx.set(dut.u, int(u[row]) if live else 0)
            ctx.set(dut.mask, int(sum(1 << i for i in range(width) if mask[row, k, i]))
                    if live else 0)
            ctx.set(dut.first, k == 0)
            history.append((row, k))
            e = len(history) - 1 - dut.latency
            if e >= 0:
                row_e, k_e = history[e]
                if row_e is not None:
                    got_s[(row_e, k_e)] = [ctx.get(dut.o.s[lane]) for lane in range(width)]
                if k_e == 0 and e >= interleave and e - interleave < len(feed):
                    got_acc.append(ctx.get(dut.o.acc))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for (row, k), values in got_s.items():
        assert values == [int(v) for v in s_exp[row, k]], f"state row {row} chunk {k}"
    assert len(got_s) == R * K
    # finished sums leave in feed order of their rows' last occupancy: group by group
    assert got_acc == [int(v) for v in acc_exp], "row sums"
