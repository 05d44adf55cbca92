"""The online-softmax step of decode attention (docs/decode.md, "Decode attention"): one
position tile's 32 fp32 scores of one q head in, its bf16 weights P and the rescale factor
alpha out, the head's running ``(m, l)`` kept inside.

Per beat (one q head ``h``, one position tile), in the order of
:func:`hybridgen.golden.decode_attn.decode_attention_bits` (bit-exact):

* ``m' = fp32_max(m_h, s_0, ..., s_{count-1})`` - a running max, one score per cycle through
  one :class:`~hybridgen.rtl.arith.compare.Fp32MinMax`; positions ``p >= count`` enter as
  ``-inf``. ``fp32_max`` is a selection under a total order (-0 < +0, subnormals flushed), so
  the serial order equals the golden ``fp32_max(m, vector_rowmax(s))`` for every non-NaN
  score (a NaN score gives NaN either way);
* ``alpha = fp32_exp(m_h - m')`` and ``P_p = fp32_to_bf16(fp32_exp(s_p - m'))`` - one
  :class:`~hybridgen.rtl.arith.fp32.Fp32Add` (subtract), one
  :class:`~hybridgen.rtl.arith.exp.Fp32Exp` (e^x) and one
  :class:`~hybridgen.rtl.arith.convert.Fp32ToBf16`, one value per cycle; ``P_p = +0`` for
  ``p >= count`` (whatever the score: NaN / inf past a cache length never reach P or l);
* ``l' = fp32_add(fp32_mul(alpha, l_h), rowsum(P))`` - the row sum is the balanced pairwise
  tree of :func:`hybridgen.golden.numerics.vector_rowsum`, computed as the weights stream out
  by :class:`SerialPairwiseSum` (one adder per tree level).

A beat with ``first`` set starts a new sequence: ``(m_h, l_h) = (-inf, +0)`` before the tile.
A beat with ``count = 0`` (a tile past the cache length, which the array never reads) leaves
the state unchanged and gives ``P = 0``. The O update ``O' = alpha O + P V`` is the lanes'
(PV), not this unit's.

Throughput: one beat at a time, ``cycles_per_beat`` cycles from taking a beat to offering its
result (about 100 with the default exp); the head-pipelined version (the running max of one
head beside the exp of the previous one, 33 cycles per beat) is the next step (docs/decode.md).
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics
from hybridgen.rtl.arith.compare import Fp32MinMax
from hybridgen.rtl.arith.convert import Fp32ToBf16
from hybridgen.rtl.arith.exp import Fp32Exp
from hybridgen.rtl.arith.fp32 import Fp32Add
from hybridgen.rtl.arith.fp32_mul import Fp32Mul
from hybridgen.rtl.arith.leaf import place
from hybridgen.rtl.arith.pipeline import pipeline_delay
from hybridgen.rtl.vector.lane import lane_unit_latencies

__all__ = ["SerialPairwiseSum", "SoftmaxStep", "softmax_in_layout", "softmax_out_layout",
           "exp_leaf_key"]

POSITIONS = 32
NEG_INF = 0xFF80_0000
SIGN = 0x8000_0000


def exp_leaf_key(params):
    """Library key of the :class:`~hybridgen.rtl.arith.exp.Fp32Exp` of ``params`` (shared by the
    softmax step and the combine: converted once)."""
    p = numerics.SfuParams.of(params)
    return f"fp32_exp_t{p.exp_table_bits}_d{p.exp_degree}"


def softmax_in_layout(heads):
    """``s`` [32] fp32 scores, ``count`` valid positions (0..32), ``head``, ``first``, ``last``
    (passed through: the unit's final tile)."""
    return data.StructLayout({"s": data.ArrayLayout(32, POSITIONS), "count": range(POSITIONS + 1),
                              "head": range(max(heads, 2)), "first": 1, "last": 1})


def softmax_out_layout(heads):
    """``p`` [32] bf16 weights, ``alpha``, ``m``, ``l`` (the head's state after the tile, fp32),
    ``head``; ``count``, ``first``, ``last`` of the input beat (for the P V lanes)."""
    return data.StructLayout({"p": data.ArrayLayout(16, POSITIONS), "alpha": 32, "m": 32,
                              "l": 32, "head": range(max(heads, 2)),
                              "count": range(POSITIONS + 1), "first": 1, "last": 1})


class SerialPairwiseSum(wiring.Component):
    """Balanced pairwise fp32 sum of ``n`` values arriving one per valid cycle, in order.

    Level ``k`` (one :class:`~hybridgen.rtl.arith.fp32.Fp32Add` each) adds its inputs in
    pairs (0, 1), (2, 3), ... as they come, so the result is
    :func:`hybridgen.golden.numerics.vector_rowsum` of the ``n`` values bit for bit.
    ``o_valid`` pulses with the sum ``levels * adder_latency`` cycles after the last input of a
    group of ``n`` (inputs of the next group may follow at once). ``en`` is always on.

    Parameters
    ----------
    n : int
        Values per sum, a power of two >= 2.
    adder_latency : int
    library : hybridgen.gen.hierarchy.ModuleLibrary, optional
        The adders as the design's shared ``fp32_add_l<latency>`` leaf (converted once).

    Members
    -------
    i_valid : In(1)
    i : In(32)
    o_valid : Out(1)
    o : Out(32)
    """

    def __init__(self, *, n=POSITIONS, adder_latency=3, library=None):
        if n < 2 or n & (n - 1):
            raise ValueError(f"n must be a power of two >= 2, not {n!r}")
        self._n, self._adder_latency, self._library = n, adder_latency, library
        super().__init__({"i_valid": In(1), "i": In(32), "o_valid": Out(1), "o": Out(32)})

    @property
    def latency(self):
        return (self._n.bit_length() - 1) * self._adder_latency

    def elaborate(self, platform):
        m = Module()
        valid, value = self.i_valid, self.i
        for level in range(self._n.bit_length() - 1):
            A = self._adder_latency
            adder = place(m, self._library, f"add{level}", f"fp32_add_l{A}",
                          lambda A=A: Fp32Add(latency=A))
            held = Signal(32, name=f"held{level}")
            have = Signal(name=f"have{level}")
            issue = Signal(name=f"issue{level}")
            m.d.comb += [adder.en.eq(1), adder.a.eq(held), adder.b.eq(value),
                         issue.eq(valid & have)]
            with m.If(valid):
                m.d.sync += have.eq(~have)
                with m.If(~have):
                    m.d.sync += held.eq(value)
            valid = pipeline_delay(m, Const(1), issue, self._adder_latency, name=f"v{level}")
            value = adder.o
        m.d.comb += [self.o_valid.eq(valid), self.o.eq(value)]
        return m


class SoftmaxStep(wiring.Component):
    """Online-softmax step of one unit (module docstring), ``heads`` q heads of state.

    Parameters
    ----------
    heads : int
        q heads whose ``(m, l)`` are held (the GQA group size g), >= 1.
    params : golden.numerics.SfuParams or config
        Of the exp unit.
    library : hybridgen.gen.hierarchy.ModuleLibrary, optional
        The fp32 adders and the multiplier as the design's shared leaves (``fp32_add_l3``,
        ``fp32_mul``: converted once); the step itself is one module whatever places it.

    Members
    -------
    i : In(stream.Signature(softmax_in_layout(heads)))
    o : Out(stream.Signature(softmax_out_layout(heads)))
        One result per input beat, in order; ``o.payload`` is a register.
    """

    def __init__(self, *, heads, params=None, library=None):
        if not isinstance(heads, int) or heads < 1:
            raise ValueError(f"heads must be a positive integer, not {heads!r}")
        self._heads, self._library = heads, library
        self._params = numerics.SfuParams.of(params)
        self._exp_latency = lane_unit_latencies(self._params)["exp"]
        super().__init__({"i": In(stream.Signature(softmax_in_layout(heads))),
                          "o": Out(stream.Signature(softmax_out_layout(heads)))})

    ADD = 3                                                 # Fp32Add / Fp32Mul latency

    @property
    def cycles_per_beat(self):
        """Cycles from taking a beat to offering its result (no output stall)."""
        return self._done + 1

    @property
    def _exp_out(self):                                     # cycle of exp(item 0)
        return POSITIONS + 1 + self.ADD + self._exp_latency

    @property
    def _done(self):                                        # cycle l' is registered
        last_p = self._exp_out + POSITIONS + 1              # P_31 out of the rounding
        return last_p + (POSITIONS.bit_length() - 1) * self.ADD + 1 + self.ADD

    def elaborate(self, platform):
        m = Module()
        heads, A = self._heads, self.ADD
        m.submodules.max = mx = Fp32MinMax()
        lib = self._library
        sub = place(m, lib, "sub", f"fp32_add_l{A}", lambda: Fp32Add(latency=A))
        ex = place(m, lib, "exp", exp_leaf_key(self._params), lambda: Fp32Exp(self._params))
        m.submodules.round = rnd = Fp32ToBf16()
        mul = place(m, lib, "mul", "fp32_mul", Fp32Mul)
        acc = place(m, lib, "acc", f"fp32_add_l{A}", lambda: Fp32Add(latency=A))
        m.submodules.rowsum = rowsum = SerialPairwiseSum(n=POSITIONS, adder_latency=A,
                                                         library=lib)
        assert mx.latency == 1 and rnd.latency == 1
        assert lib is not None or mul.latency == A
        assert lib is not None or ex.latency == self._exp_latency
        m.d.comb += [u.en.eq(1) for u in (mx, sub, ex, rnd, mul, acc)]
        m.d.comb += [ex.natural.eq(1), mx.minimum.eq(0)]

        state_m = [Signal(32, name=f"m{h}", init=NEG_INF) for h in range(heads)]
        state_l = [Signal(32, name=f"l{h}") for h in range(heads)]
        beat = Signal(softmax_in_layout(heads))
        m0, l0 = Signal(32), Signal(32)                     # the head's state before the tile
        m_new, alpha, alpha_l, l_new = Signal(32), Signal(32), Signal(32), Signal(32)
        p = Signal(data.ArrayLayout(16, POSITIONS))
        busy = Signal()
        t = Signal(range(self._done + 2))

        m.d.comb += self.i.ready.eq(~busy & ~self.o.valid)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [beat.eq(self.i.payload), busy.eq(1), t.eq(0)]
            with m.Switch(self.i.payload.head):
                for h in range(heads):
                    with m.Case(h):
                        m.d.sync += [m0.eq(Mux(self.i.payload.first, NEG_INF, state_m[h])),
                                     l0.eq(Mux(self.i.payload.first, 0, state_l[h]))]
        with m.If(busy):
            m.d.sync += t.eq(t + 1)

        def score(index):
            return beat.s.as_value().word_select(index, 32)

        # ---- running max: cycles 0 .. 31 in, m' at cycle 32 ------------------------------------
        idx = t.as_unsigned()[:5]
        valid_pos = idx < beat.count
        m.d.comb += [mx.a.eq(Mux(t == 0, m0, mx.o)),
                     mx.b.eq(Mux(valid_pos, score(idx), NEG_INF))]
        with m.If(busy & (t == POSITIONS)):
            m.d.sync += m_new.eq(mx.o)

        # ---- subtract and exp: item i (0: m0, 1..32: s_{i-1}) at cycle 33 + i --------------------
        item = Signal(range(POSITIONS + 1))
        m.d.comb += item.eq(t - (POSITIONS + 1))
        m.d.comb += [sub.a.eq(Mux(item == 0, m0, score((item - 1).as_unsigned()[:5]))),
                     sub.b.eq(m_new ^ SIGN), ex.a.eq(sub.o), rnd.a.eq(ex.o)]
        with m.If(busy & (t == self._exp_out)):
            m.d.sync += alpha.eq(ex.o)
        m.d.comb += [mul.a.eq(alpha), mul.b.eq(l0)]           # alpha l, read at _done - A
        with m.If(busy & (t == self._exp_out + 1 + A)):
            m.d.sync += alpha_l.eq(mul.o)
        # P_j leaves the rounding at cycle _exp_out + 2 + j
        j = Signal(range(POSITIONS + 64))
        m.d.comb += j.eq(t - (self._exp_out + 2))
        in_p = busy & (t >= self._exp_out + 2) & (t < self._exp_out + 2 + POSITIONS)
        keep = j < beat.count
        weight = Mux(keep, rnd.o, 0)
        with m.If(in_p):
            with m.Switch(j):
                for q in range(POSITIONS):
                    with m.Case(q):
                        m.d.sync += p[q].eq(weight)
        m.d.comb += [rowsum.i_valid.eq(in_p), rowsum.i.eq(weight << 16)]

        # ---- l' = alpha l + rowsum ---------------------------------------------------------------
        total = Signal(32)
        with m.If(rowsum.o_valid):
            m.d.sync += total.eq(rowsum.o)
        m.d.comb += [acc.a.eq(alpha_l), acc.b.eq(total)]
        with m.If(busy & (t == self._done)):
            active = beat.count != 0
            m.d.sync += [busy.eq(0), self.o.valid.eq(1),
                         self.o.payload.p.eq(p), self.o.payload.alpha.eq(alpha),
                         self.o.payload.head.eq(beat.head), self.o.payload.count.eq(beat.count),
                         self.o.payload.first.eq(beat.first), self.o.payload.last.eq(beat.last),
                         self.o.payload.m.eq(Mux(active, m_new, m0)),
                         self.o.payload.l.eq(Mux(active, acc.o, l0))]
            with m.Switch(beat.head):
                for h in range(heads):
                    with m.Case(h):
                        m.d.sync += [state_m[h].eq(Mux(active, m_new, m0)),
                                     state_l[h].eq(Mux(active, acc.o, l0))]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
