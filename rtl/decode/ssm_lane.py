"""The datapath of the Mamba-2 decode step (``ssm-step``): one chunk of ``width`` fp32 state
values of one row per enabled cycle, the state update and the row's ``y`` accumulation.

Order of operations (bit-exact model: :func:`hybridgen.golden.decode.ssm_step`), lane k of a
chunk of row p (head h, group of h):

* ``s'_k = fp32_add(fp32_mul(s_k, dA), fp32_mul(u, B_k))`` (``u = fp32_mul(x_p, dt)`` and
  ``dA = fp32_exp(fp32_mul(dt, A))`` are per row / per head, computed before the chunk);
* ``q_k = fp32_mul(s'_k, C_k)``, forced to +0 where ``mask`` is low (lanes past n);
* ``t = vector_rowsum(q)`` (pairwise tree, level 1 adds lanes (0, 1), (2, 3), ...);
* the row's accumulator: ``acc = t_0`` (a chunk with ``first``), then ``fp32_add(acc, t_c)``
  in chunk order. Rows take turns in an accumulator ring of ``interleave`` slots: chunk
  ``e`` (counting enabled cycles) belongs to slot ``e mod interleave``, so the chunks of
  ``interleave`` rows are fed interleaved (chunk c of rows r0, r0+1, ..., then chunk c+1 ...)
  and the adder takes one chunk per cycle without waiting for its own result.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.rtl.arith.fp32 import Fp32Add
from hybridgen.rtl.arith.fp32_mul import Fp32Mul
from hybridgen.rtl.arith.pipeline import pipeline_delay

__all__ = ["SsmLane", "ssm_lane_output"]

NEG_ZERO_FP32 = 0x8000_0000
MUL_LATENCY = 3


def ssm_lane_output(width):
    """``o`` of :class:`SsmLane`: the updated chunk ``s`` and a finished row sum ``acc``."""
    return data.StructLayout({"s": data.ArrayLayout(32, width), "acc": 32})


class SsmLane(wiring.Component):
    """See the module docstring.

    Pipelined-datapath convention (:mod:`hybridgen.rtl.arith.pipeline`): every register
    advances only when ``en`` is 1, one chunk per enabled cycle. The chunk taken at enabled
    cycle ``e`` shows its updated values on ``o.s`` at ``e + latency``. If its ``first`` is set,
    ``o.acc`` at ``e + latency`` is the finished sum of the row that held its ring slot before
    (``interleave`` chunks earlier in the feed order); otherwise ``o.acc`` is unspecified.

    Parameters
    ----------
    width : int
        fp32 values per chunk (a power of two >= 2).
    interleave : int
        Ring slots, >= ``adder_latency``.
    adder_latency : int
    library : gen.hierarchy.ModuleLibrary, optional
        Where the multipliers and adders are converted once.

    Members
    -------
    en : In(1)
    s, b, c : In(ArrayLayout(32, width))   state, B and C chunks (fp32)
    da, u : In(32)                          dA of the row's head, u of the row
    mask : In(width)                        lanes that hold a value of n (others add +0)
    first : In(1)                           chunk 0 of its row
    o : Out(ssm_lane_output(width))
    """

    def __init__(self, *, width, interleave, adder_latency, library=None):
        if width < 2 or width & (width - 1):
            raise ValueError(f"width must be a power of two >= 2, not {width!r}")
        if interleave < adder_latency:
            raise ValueError(f"interleave must be >= adder_latency = {adder_latency}, "
                             f"not {interleave!r}")
        self._width, self._interleave = width, interleave
        self._adder_latency, self._library = adder_latency, library
        vec = data.ArrayLayout(32, width)
        super().__init__({
            "en": In(1), "s": In(vec), "b": In(vec), "c": In(vec), "da": In(32), "u": In(32),
            "mask": In(width), "first": In(1), "o": Out(ssm_lane_output(width)),
        })

    @property
    def update_latency(self):
        """Enabled cycles from a chunk to its updated state values (mul, add)."""
        return MUL_LATENCY + self._adder_latency

    @property
    def sum_latency(self):
        """Enabled cycles from a chunk to its tree sum at the accumulator's input."""
        return self.update_latency + MUL_LATENCY + exact_log2(self._width) * self._adder_latency

    @property
    def latency(self):
        return self.sum_latency + 1

    def _unit(self, m, name, kind):
        L = self._adder_latency
        make = (lambda: Fp32Mul()) if kind == "mul" else (lambda: Fp32Add(latency=L))
        key = "fp32_mul" if kind == "mul" else f"fp32_add_l{L}"
        if self._library is None:
            unit = make()
            m.submodules[name] = unit
            return unit
        return self._library.instantiate(m, name, key, make, no_inline=True)

    def _en(self, m, unit):
        m.d.comb += unit.en.eq(self.en)
        return unit

    def elaborate(self, platform):
        m = Module()
        W, en = self._width, self.en
        # s' = s * dA + u * B
        c_d = data.View(data.ArrayLayout(32, W),
                        pipeline_delay(m, en, self.c, self.update_latency, name="c"))
        mask_d = pipeline_delay(m, en, self.mask, self.update_latency + MUL_LATENCY,
                                name="mask")
        updated, products = [], []
        for k in range(W):
            decay = self._en(m, self._unit(m, f"decay{k}", "mul"))
            inject = self._en(m, self._unit(m, f"inject{k}", "mul"))
            update = self._en(m, self._unit(m, f"update{k}", "add"))
            proj = self._en(m, self._unit(m, f"proj{k}", "mul"))
            m.d.comb += [decay.a.eq(self.s[k]), decay.b.eq(self.da),
                         inject.a.eq(self.u), inject.b.eq(self.b[k]),
                         update.a.eq(decay.o), update.b.eq(inject.o),
                         proj.a.eq(update.o), proj.b.eq(c_d[k])]
            updated.append(update.o)
            products.append(Mux(mask_d[k], proj.o, 0))
        # the pairwise tree of the products
        level = products
        depth = 0
        while len(level) > 1:
            nxt = []
            for k in range(0, len(level), 2):
                adder = self._en(m, self._unit(m, f"tree{depth}_{k // 2}", "add"))
                m.d.comb += [adder.a.eq(level[k]), adder.b.eq(level[k + 1])]
                nxt.append(adder.o)
            level, depth = nxt, depth + 1
        total = level[0]
        # the ring: adder output -> (interleave - adder_latency) registers -> adder input
        first = pipeline_delay(m, en, self.first, self.sum_latency, name="first")
        acc = self._en(m, self._unit(m, "acc", "add"))
        back = acc.o
        for stage in range(self._interleave - self._adder_latency):
            held = Signal(32, name=f"ring{stage}")
            with m.If(en):
                m.d.sync += held.eq(back)
            back = held
        m.d.comb += [acc.a.eq(total), acc.b.eq(Mux(first, Const(NEG_ZERO_FP32, 32), back))]
        s_out = pipeline_delay(m, en, data.View(data.ArrayLayout(32, W), Cat(*updated)),
                               self.latency - self.update_latency, name="s")
        finished = pipeline_delay(m, en, back, 1, name="finished")
        m.d.comb += [self.o.s.eq(s_out), self.o.acc.eq(finished)]
        return m

