"""The split-KV combine of decode attention (docs/decode.md, "Decode attention"): the partial
``(m, l, O)`` triples of one q head from units ``0, 1, ..., units - 1`` in, folded in that
order by rescaling (there is no log unit), normalized into the bf16 output row.

Order of operations (bit-exact :func:`hybridgen.golden.decode_attn.combine_partials`): a
partial with ``m = -inf`` (a unit that read no tile) is skipped; the first present one is
taken as it is; each further one: ``mm = fp32_max(m_acc, m_u)``, ``a = fp32_exp(m_acc - mm)``,
``b = fp32_exp(m_u - mm)``, ``l = fp32_add(fp32_mul(a, l_acc), fp32_mul(b, l_u))``,
``O[e] = fp32_add(fp32_mul(a, O_acc[e]), fp32_mul(b, O_u[e]))``; after the partial marked
``last``: ``o[e] = fp32_to_bf16(fp32_mul(O[e], fp32_reciprocal(l)))``, or ``+0`` when no
partial was present (a cache length of 0).

One of each unit of :mod:`hybridgen.rtl.arith` (max, subtract, exp, reciprocal, rounding),
two multipliers and an adder, one element per cycle: a fold takes about ``d + 20`` cycles, the
normalization ``d + 20``. (In the array the combine of a kv head runs while the channels
stream the next one; spreading the elements over the lanes is the faster variant.)
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics
from hybridgen.rtl.arith.compare import Fp32MinMax
from hybridgen.rtl.arith.convert import Fp32ToBf16
from hybridgen.rtl.arith.exp import Fp32Exp
from hybridgen.rtl.arith.fp32 import Fp32Add
from hybridgen.rtl.arith.fp32_mul import Fp32Mul
from hybridgen.rtl.arith.leaf import place
from hybridgen.rtl.arith.reciprocal import Fp32Reciprocal
from hybridgen.rtl.vector.lane import lane_unit_latencies

from .select import write_one
from .softmax import exp_leaf_key

__all__ = ["PartialCombine", "partial_layout", "row_layout"]

NEG_INF = 0xFF80_0000
SIGN = 0x8000_0000


def partial_layout(dims):
    """One unit's partial of one q head: ``m``, ``l``, ``o`` [dims] fp32, ``last``."""
    return data.StructLayout({"m": 32, "l": 32, "o": data.ArrayLayout(32, dims), "last": 1})


def row_layout(dims):
    """The bf16 output row ``o`` [dims]."""
    return data.StructLayout({"o": data.ArrayLayout(16, dims)})


class PartialCombine(wiring.Component):
    """Fold partial triples and normalize (module docstring).

    Parameters
    ----------
    dims : int
        Elements of O (the largest d).
    params : golden.numerics.SfuParams or config
    library : hybridgen.gen.hierarchy.ModuleLibrary, optional
        The fp32 adders and multipliers as the design's shared leaves (converted once).

    Members
    -------
    i : In(stream.Signature(partial_layout(dims)))
    o : Out(stream.Signature(row_layout(dims)))
        One row per partial marked ``last``; ``o.payload`` is a register.
    """

    def __init__(self, *, dims, params=None, library=None):
        if not isinstance(dims, int) or dims < 1:
            raise ValueError(f"dims must be a positive integer, not {dims!r}")
        self._dims, self._library = dims, library
        self._params = numerics.SfuParams.of(params)
        super().__init__({"i": In(stream.Signature(partial_layout(dims))),
                          "o": Out(stream.Signature(row_layout(dims)))})

    def elaborate(self, platform):
        m = Module()
        n, A = self._dims, 3
        m.submodules.max = mx = Fp32MinMax()
        lib = self._library
        sub = place(m, lib, "sub", f"fp32_add_l{A}", lambda: Fp32Add(latency=A))
        ex = place(m, lib, "exp", exp_leaf_key(self._params), lambda: Fp32Exp(self._params))
        m.submodules.recip = rc = Fp32Reciprocal(self._params)
        mul1 = place(m, lib, "mul1", "fp32_mul", Fp32Mul)
        mul2 = place(m, lib, "mul2", "fp32_mul", Fp32Mul)
        add = place(m, lib, "add", f"fp32_add_l{A}", lambda: Fp32Add(latency=A))
        m.submodules.round = rnd = Fp32ToBf16()
        for u in (mx, sub, ex, rc, mul1, mul2, add, rnd):
            m.d.comb += u.en.eq(1)
        m.d.comb += [ex.natural.eq(1), mx.minimum.eq(0)]
        Le, Lr = lane_unit_latencies(self._params)["exp"], rc.latency
        assert lib is not None or ex.latency == Le

        acc_m, acc_l = Signal(32, init=NEG_INF), Signal(32)
        # O as one signal of n fp32 words (one register of Verilog, not n: the same flops)
        acc_all = Signal(data.ArrayLayout(32, n), name="acc_o")
        acc_o = [acc_all[e] for e in range(n)]
        have = Signal()
        part = Signal(partial_layout(n))
        mm, a, b, r = Signal(32), Signal(32), Signal(32), Signal(32)
        row = Signal(row_layout(n))
        t = Signal(range(n + Le + Lr + 40))

        t0 = 7 + Le                                          # first element item of a fold
        fold_end = t0 + n + 7
        t1 = Lr + 1                                          # first element of the normalization
        norm_end = t1 + n + 4

        with m.FSM():
            with m.State("TAKE"):
                m.d.comb += self.i.ready.eq(~self.o.valid)
                with m.If(self.i.valid & self.i.ready):
                    p = self.i.payload
                    m.d.sync += [part.eq(p), t.eq(0)]
                    with m.If(p.m == NEG_INF):                     # empty: skipped
                        with m.If(p.last):
                            m.next = "NORM"
                    with m.Elif(~have):                            # first present: taken
                        m.d.sync += [acc_m.eq(p.m), acc_l.eq(p.l), have.eq(1)]
                        m.d.sync += acc_all.eq(p.o)
                        with m.If(p.last):
                            m.next = "NORM"
                    with m.Else():
                        m.next = "FOLD"
            with m.State("FOLD"):
                m.d.sync += t.eq(t + 1)
                m.d.comb += [mx.a.eq(acc_m), mx.b.eq(part.m),
                             sub.a.eq(Mux(t == 2, acc_m, part.m)), sub.b.eq(mm ^ SIGN),
                             ex.a.eq(sub.o)]
                with m.If(t == 1):
                    m.d.sync += mm.eq(mx.o)
                with m.If(t == 5 + Le):
                    m.d.sync += a.eq(ex.o)
                with m.If(t == 6 + Le):
                    m.d.sync += b.eq(ex.o)
                # item i (0 .. n - 1: O[i], n: l) at cycle t0 + i, written at t0 + i + 6
                i = Signal(range(n + 8))
                m.d.comb += i.eq(t - t0)
                x, y = Signal(32), Signal(32)
                with m.Switch(i):
                    for e in range(n):
                        with m.Case(e):
                            m.d.comb += [x.eq(acc_o[e]), y.eq(part.o[e])]
                    with m.Case(n):
                        m.d.comb += [x.eq(acc_l), y.eq(part.l)]
                m.d.comb += [mul1.a.eq(a), mul1.b.eq(x), mul2.a.eq(b), mul2.b.eq(y),
                             add.a.eq(mul1.o), add.b.eq(mul2.o)]
                w = Signal(range(n + 16))
                m.d.comb += w.eq(t - (t0 + 6))
                write_one(m, acc_o + [acc_l], w, add.o, t >= t0 + 6)
                with m.If(t == fold_end):
                    m.d.sync += [acc_m.eq(mm), t.eq(0)]
                    with m.If(part.last):
                        m.next = "NORM"
                    with m.Else():
                        m.next = "TAKE"
            with m.State("NORM"):
                m.d.sync += t.eq(t + 1)
                m.d.comb += rc.a.eq(acc_l)
                with m.If(t == Lr):
                    m.d.sync += r.eq(rc.o)
                e_in = Signal(range(n + 8))
                m.d.comb += e_in.eq(t - t1)
                x = Signal(32)
                with m.Switch(e_in):
                    for e in range(n):
                        with m.Case(e):
                            m.d.comb += x.eq(acc_o[e])
                m.d.comb += [mul1.a.eq(x), mul1.b.eq(r), rnd.a.eq(mul1.o)]
                e_out = Signal(range(n + 8))
                m.d.comb += e_out.eq(t - (t1 + 4))
                write_one(m, [row.o[e] for e in range(n)], e_out, Mux(have, rnd.o, 0),
                          t >= t1 + 4)
                with m.If(t == norm_end):
                    m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(row), t.eq(0),
                                 have.eq(0), acc_m.eq(NEG_INF), acc_l.eq(0)]
                    m.next = "TAKE"
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
