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

    def __init__(self, *, dims, params=None, library=None, lanes=1):
        if not isinstance(dims, int) or dims < 1:
            raise ValueError(f"dims must be a positive integer, not {dims!r}")
        if not isinstance(lanes, int) or lanes < 1 or dims % lanes:
            raise ValueError(f"lanes must be a positive integer dividing dims = {dims}, "
                             f"not {lanes!r}")
        self._dims, self._library, self._lanes = dims, library, lanes
        self._params = numerics.SfuParams.of(params)
        super().__init__({"i": In(stream.Signature(partial_layout(dims))),
                          "o": Out(stream.Signature(row_layout(dims)))})

    def _lane_units(self, m, k):
        """Lane ``k``'s two multipliers, adder and rounding (lane 0 also folds ``l``)."""
        lib, A = self._library, 3
        suffix = "" if k == 0 else f"_{k}"
        units = (place(m, lib, f"mul1{suffix}", "fp32_mul", Fp32Mul),
                 place(m, lib, f"mul2{suffix}", "fp32_mul", Fp32Mul),
                 place(m, lib, f"add{suffix}", f"fp32_add_l{A}", lambda: Fp32Add(latency=A)))
        rnd = m.submodules[f"round{suffix}"] = Fp32ToBf16()
        for u in units + (rnd,):
            m.d.comb += u.en.eq(1)
        return units + (rnd,)

    def elaborate(self, platform):
        m = Module()
        n, A, L = self._dims, 3, self._lanes
        G = n // L                                           # element groups (L elements each)
        m.submodules.max = mx = Fp32MinMax()
        lib = self._library
        sub = place(m, lib, "sub", f"fp32_add_l{A}", lambda: Fp32Add(latency=A))
        ex = place(m, lib, "exp", exp_leaf_key(self._params), lambda: Fp32Exp(self._params))
        m.submodules.recip = rc = Fp32Reciprocal(self._params)
        lanes = [self._lane_units(m, k) for k in range(L)]
        for u in (mx, sub, ex, rc):
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

        t0 = 7 + Le                                          # first element group of a fold
        fold_end = t0 + G + 7
        t1 = Lr + 1                                          # first group of the normalization
        norm_end = t1 + G + 4

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
                self._fold_lanes(m, lanes, t - t0, t - (t0 + 6), t >= t0 + 6,
                                 acc_o, acc_l, part, a, b)
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
                self._norm_lanes(m, lanes, t - t1, t - (t1 + 4), t >= t1 + 4,
                                 acc_o, row, r, have)
                with m.If(t == norm_end):
                    m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(row), t.eq(0),
                                 have.eq(0), acc_m.eq(NEG_INF), acc_l.eq(0)]
                    m.next = "TAKE"
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m

    def _fold_lanes(self, m, lanes, i_in, i_out, write, acc_o, acc_l, part, a, b):
        """Fold: element group ``g`` (elements ``L g .. L g + L - 1``; group ``G``: ``l``, lane
        0) enters the lanes at ``i_in = g`` and is written back at ``i_out = g`` (6 cycles:
        multiply, add)."""
        n, L = self._dims, self._lanes
        G = n // L
        i, w = Signal(range(G + 8), name="fold_in"), Signal(range(G + 16), name="fold_out")
        m.d.comb += [i.eq(i_in), w.eq(i_out)]
        for k, (mul1, mul2, add, _rnd) in enumerate(lanes):
            x, y = Signal(32, name=f"x{k}"), Signal(32, name=f"y{k}")
            with m.Switch(i):
                for g in range(G):
                    with m.Case(g):
                        m.d.comb += [x.eq(acc_o[L * g + k]), y.eq(part.o[L * g + k])]
                if k == 0:
                    with m.Case(G):
                        m.d.comb += [x.eq(acc_l), y.eq(part.l)]
            m.d.comb += [mul1.a.eq(a), mul1.b.eq(x), mul2.a.eq(b), mul2.b.eq(y),
                         add.a.eq(mul1.o), add.b.eq(mul2.o)]
            regs = [acc_o[L * g + k] for g in range(G)] + ([acc_l] if k == 0 else [])
            write_one(m, regs, w, add.o, write)

    def _norm_lanes(self, m, lanes, e_in, e_out, write, acc_o, row, r, have):
        """Normalization: element group ``g`` enters at ``e_in = g``, its bf16 values are
        written into the row at ``e_out = g`` (4 cycles: multiply, round)."""
        n, L = self._dims, self._lanes
        G = n // L
        i, w = Signal(range(G + 8), name="norm_in"), Signal(range(G + 8), name="norm_out")
        m.d.comb += [i.eq(e_in), w.eq(e_out)]
        for k, (mul1, _mul2, _add, rnd) in enumerate(lanes):
            x = Signal(32, name=f"nx{k}")
            with m.Switch(i):
                for g in range(G):
                    with m.Case(g):
                        m.d.comb += x.eq(acc_o[L * g + k])
            m.d.comb += [mul1.a.eq(x), mul1.b.eq(r), rnd.a.eq(mul1.o)]
            write_one(m, [row.o[L * g + k] for g in range(G)], w, Mux(have, rnd.o, 0), write)
