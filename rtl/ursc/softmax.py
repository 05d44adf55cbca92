"""The online-softmax program of PipeFlash on one RVPE unit, for one row-tile item.

The program is a list of passes (:data:`SOFTMAX_PROGRAM`), run one after the other, each
waiting for its last result (passes do not overlap). A pass is one of

* ``vec``: every vector v < ``vectors`` of every lane row r < ``lanes`` of the S buffer
  (VMEM), row by row, one beat each; the results go back to the S buffer (and, for ``bf16``,
  their upper halves to the P buffer);
* ``red``: a reduction (rowmax, rowsum) of every row over its vectors, rows interleaved 3 at a
  time over the RVPE's 3 carry slots (a group with fewer than 3 rows gets filler beats: op as
  the pass, ``first = 1, last = 0``), one result per row;
* ``scal``: one beat whose lane r is row r's value (``lanes <= vector_width``): the per-row
  scalars m, l, a are computed for the whole row tile at once.

In the order of :func:`hybridgen.golden.ursc.ursc_attention` (every step one RVPE lane op):
``s = S * scale`` with the entries a row does not see set to -inf (key ``v * W + k`` at or
past ``limit[r]``: the causal limit clipped to the block), ``m_blk = rowmax(s)``,
``m_new = max(m_old, m_blk)``, ``m_s = m_new`` or +0 if not finite, ``s - m_s``, ``exp``,
``bf16`` (P), ``l_blk = rowsum(P)`` (the bf16 P), ``a = exp(m_old - m_s)``,
``l_new = a * l_old + l_blk``. :data:`RECIP_PROGRAM`: ``rinv = recip(l_fin)``.

Riders (:data:`RIDERS`): the scalar steps ``a = m_old - m_s``, ``a = exp(a)`` and
``tmp = a * l_old`` do not wait for a pass of their own; each is one more beat issued right
after the last beat of a vector pass (``s - m_s``, ``exp``, ``bf16``), and that pass ends with
its result. Their operands are ready then (m_s after the ``max`` pass, a after the previous
rider), so the values, and the order of the lane ops on each value, are those of the 11-pass
program: 8 passes, the same beats.

Handshake: ``start`` (with ``program``) while not ``busy``; ``busy`` from the next cycle until
the program's last result is in its register. The inputs must stay stable meanwhile.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.vector.lane import VectorOp

from .memories import read_signature, write_signature
from .rvpe import rvpe_operands

__all__ = ["SOFTMAX_PROGRAM", "RIDERS", "RECIP_PROGRAM", "Softmax", "NEG_INF"]

NEG_INF = 0xFF800000

#: (op, kind, a, b, destination) of each pass of a visited item.
SOFTMAX_PROGRAM = (
    ("mul", "vec", "s", "scale", "s_masked"),
    ("rowmax", "red", "s", None, "m_blk"),
    ("max", "scal", "m_old", "m_blk", "m_new"),
    ("sub", "vec", "s", "m_s", "s"),
    ("exp", "vec", "s", None, "s"),
    ("bf16", "vec", "s", None, "s_p"),
    ("rowsum", "red", "s", None, "l_blk"),
    ("add", "scal", "tmp", "l_blk", "l_new"),
)
#: Pass index -> (op, a, b, destination) of the scalar beat riding at the end of that pass.
RIDERS = {
    3: ("sub", "m_old", "m_s", "alpha"),
    4: ("exp", "alpha", None, "alpha"),
    5: ("mul", "alpha", "l_old", "tmp"),
}
#: The finalization of a row tile: the reciprocal of its l.
RECIP_PROGRAM = (("recip", "scal", "l_fin", None, "rinv"),)

_STEPS = SOFTMAX_PROGRAM + RECIP_PROGRAM
_REGISTERS = ("m_blk", "m_new", "l_blk", "alpha", "tmp", "l_new", "rinv")


class Softmax(wiring.Component):
    """See the module docstring.

    Members
    -------
    start, program : In(1)          program 0: :data:`SOFTMAX_PROGRAM`, 1: :data:`RECIP_PROGRAM`
    busy : Out(1)
    p_base : In(16)                 first word of the item's region of the P buffer
    vectors : In(16)                vectors per row (``ceil(visible / vector_width)``)
    scale : In(32)
    limit : In(ArrayLayout(16, lanes))   keys of the block row r sees
    m_old, l_old, l_fin : In(ArrayLayout(32, lanes))
    m_new, l_new, alpha, rinv : Out(ArrayLayout(32, lanes))   (registers)
    rvpe : Out(stream.Signature(rvpe_operands(W)))             to an RVPE unit
    rvpe_o : In(stream.Signature(ArrayLayout(32, W)))
    s_r, s_w, p_w : the S buffer's read and write ports, the P buffer's write port
    """

    def __init__(self, geometry):
        self._g = g = geometry
        L, W = g.lanes, g.vector_width
        row = data.ArrayLayout(32, L)
        mem = g.memories
        s_banks, s_width, s_depth, s_gran = mem["s"]
        p_banks, p_width, p_depth, _ = mem["p"]
        super().__init__({
            "start": In(1), "program": In(1), "busy": Out(1), "p_base": In(16),
            "vectors": In(16),
            "scale": In(32), "limit": In(data.ArrayLayout(16, L)),
            "m_old": In(row), "l_old": In(row), "l_fin": In(row),
            "m_new": Out(row), "l_new": Out(row), "alpha": Out(row), "rinv": Out(row),
            "rvpe": Out(stream.Signature(rvpe_operands(W))),
            "rvpe_o": In(stream.Signature(data.ArrayLayout(32, W))),
            "s_r": Out(read_signature(s_banks, s_width, s_depth)),
            "s_w": Out(write_signature(s_banks, s_width, s_depth, s_width // s_gran)),
            "p_w": Out(write_signature(p_banks, p_width, p_depth, 1)),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        L, W = g.lanes, g.vector_width
        groups = -(-L // 3)
        regs = {name: getattr(self, name) if hasattr(self, name) and name in
                ("m_new", "l_new", "alpha", "rinv") else Signal(data.ArrayLayout(32, L),
                                                                 name=name)
                for name in _REGISTERS}
        m_s = Signal(data.ArrayLayout(32, L))
        for r in range(L):
            value = regs["m_new"][r]
            m.d.comb += m_s[r].eq(Mux(value[23:31] == 0xFF, 0, value))
        scalars = {**regs, "m_s": m_s, "m_old": self.m_old, "l_old": self.l_old,
                   "l_fin": self.l_fin}

        step = Signal(range(len(_STEPS)))
        issuing = Signal()
        grp, vec, slot = Signal(16), Signal(16), Signal(2)   # issue position
        out_row, out_vec = Signal(16), Signal(16)             # result position
        kind = Signal(2)                                      # 0 vec, 1 red, 2 scal
        last_step = Signal()
        has_rider = Signal()
        riding = Signal()       # the next beat issued is the pass's rider
        st_rider = Signal()     # the beat on the RVPE port is the rider
        out_rider = Signal()    # the next result is the rider's
        with m.Switch(step):
            for i, (_, k, _, _, _) in enumerate(_STEPS):
                with m.Case(i):
                    m.d.comb += [kind.eq(("vec", "red", "scal").index(k)),
                                 last_step.eq(i in (len(SOFTMAX_PROGRAM) - 1, len(_STEPS) - 1)),
                                 has_rider.eq(i in RIDERS)]

        # -- issue: position -> S read -> RVPE beat one cycle later -------------------------
        row = Mux(kind == 1, grp * 3 + slot, grp)
        last_vec = vec == self.vectors - 1
        done_issue = Mux(kind == 2, 1, Mux(kind == 1, (grp == groups - 1) & last_vec & (slot == 2),
                                           (grp == L - 1) & last_vec))
        advance = ~self.rvpe.valid | self.rvpe.ready
        m.d.comb += [self.s_r.addr.eq(vec), self.s_r.en.eq(advance)]
        st_row, st_first, st_last, st_filler = Signal(16), Signal(), Signal(), Signal()
        with m.If(advance):
            m.d.sync += [self.rvpe.valid.eq(issuing), st_row.eq(row), st_first.eq(vec == 0),
                         st_last.eq(last_vec), st_filler.eq(row >= L), st_rider.eq(riding)]
        with m.If(issuing & advance):
            with m.If(riding):
                m.d.sync += [issuing.eq(0), riding.eq(0)]
            with m.Elif(done_issue):
                with m.If(has_rider):
                    m.d.sync += riding.eq(1)
                with m.Else():
                    m.d.sync += issuing.eq(0)
            with m.If(kind == 1):
                m.d.sync += slot.eq(Mux(slot == 2, 0, slot + 1))
            with m.If((kind != 1) | (slot == 2)):
                with m.If(~last_vec):
                    m.d.sync += vec.eq(vec + 1)
                with m.Else():
                    m.d.sync += [vec.eq(0), grp.eq(grp + 1)]

        self._beat(m, step, scalars, st_row, st_first, st_last, st_filler, st_rider)

        # -- results ------------------------------------------------------------------------
        out = self.rvpe_o.payload
        m.d.comb += self.rvpe_o.ready.eq(1)
        got_any = self.rvpe_o.valid & self.busy
        got = got_any & ~out_rider                            # a result of the pass itself
        m.d.comb += [self.s_w.addr.eq(out_vec), self.p_w.addr.eq(self.p_base + out_vec)]
        masked = Signal(32 * W)
        limit = self.limit.as_value().word_select(out_row[:max(1, (L - 1).bit_length())], 16)
        m.d.comb += masked.eq(Cat(*[Mux(out_vec * W + k < limit, out[k], NEG_INF)
                                    for k in range(W)]))
        m.d.comb += [self.p_w.data[r].eq(Cat(*[out[k][16:] for k in range(W)]))
                     for r in range(L)]
        granules = len(self.s_w.en[0])
        with m.Switch(step):
            for i, (_, k, _, _, dst) in enumerate(_STEPS):
                with m.Case(i):
                    if dst.startswith("s"):
                        for r in range(L):
                            m.d.comb += self.s_w.data[r].eq(masked if dst == "s_masked"
                                                            else out.as_value())
                            m.d.comb += self.s_w.en[r].eq(Mux(got & (out_row == r),
                                                              (1 << granules) - 1, 0))
                            if dst == "s_p":
                                m.d.comb += self.p_w.en[r].eq(got & (out_row == r))
                    elif k == "red":
                        with m.If(got):
                            for r in range(L):
                                with m.If(out_row == r):
                                    m.d.sync += regs[dst][r].eq(out[0])
                    else:
                        with m.If(got):
                            m.d.sync += [regs[dst][r].eq(out[r]) for r in range(L)]
        out_done = Mux(kind == 2, 1, Mux(kind == 1, out_row == L - 1,
                                         (out_row == L - 1) & (out_vec == self.vectors - 1)))
        with m.If(got):
            with m.If((kind == 0) & (out_vec != self.vectors - 1)):
                m.d.sync += out_vec.eq(out_vec + 1)
            with m.Else():
                m.d.sync += [out_vec.eq(0), out_row.eq(out_row + 1)]
            with m.If(out_done):
                m.d.sync += [out_row.eq(0), out_vec.eq(0)]
                with m.If(has_rider):
                    m.d.sync += out_rider.eq(1)
                with m.Else():
                    m.d.sync += [grp.eq(0), vec.eq(0), slot.eq(0)]
                    with m.If(last_step):
                        m.d.sync += self.busy.eq(0)
                    with m.Else():
                        m.d.sync += [step.eq(step + 1), issuing.eq(1)]
        with m.If(got_any & out_rider):
            # the rider's result ends the pass (rider passes are never the last)
            m.d.sync += [out_rider.eq(0), grp.eq(0), vec.eq(0), slot.eq(0),
                         step.eq(step + 1), issuing.eq(1)]
            with m.Switch(step):
                for i, (_, _, _, dst) in RIDERS.items():
                    with m.Case(i):
                        m.d.sync += [regs[dst][r].eq(out[r]) for r in range(L)]
        with m.If(self.start & ~self.busy):
            m.d.sync += [self.busy.eq(1), issuing.eq(1), grp.eq(0), vec.eq(0), slot.eq(0),
                         out_row.eq(0), out_vec.eq(0), riding.eq(0), out_rider.eq(0),
                         step.eq(Mux(self.program, len(SOFTMAX_PROGRAM), 0))]
        return m

    def _beat(self, m, step, scalars, st_row, st_first, st_last, st_filler, st_rider):
        """The RVPE beat of the step: its op, ``a`` (the S row read, or a scalar register) and
        ``b`` (the scale, a per-row scalar broadcast, or a scalar register); a rider beat
        carries the rider's op and scalar registers."""
        L, W = self._g.lanes, self._g.vector_width
        beat = self.rvpe.payload
        a_row = Signal(32 * W)
        m.d.comb += a_row.eq(self.s_r.data.as_value().word_select(st_row[:max(1, (L - 1).bit_length())],
                                                                  32 * W))

        def packed(value):
            return Cat(value.as_value(), Const(0, 32 * (W - L)))

        with m.Switch(step):
            for i, (op, k, a, b, _) in enumerate(_STEPS):
                with m.Case(i):
                    m.d.comb += beat.op.eq(VectorOp[op.upper()].value)
                    if i in RIDERS:
                        r_op, r_a, r_b, _ = RIDERS[i]
                        with m.If(st_rider):
                            m.d.comb += [beat.op.eq(VectorOp[r_op.upper()].value),
                                         beat.a.eq(packed(scalars[r_a]))]
                            if r_b is not None:
                                m.d.comb += beat.b.eq(packed(scalars[r_b]))
                    if k == "scal":
                        m.d.comb += beat.a.eq(packed(scalars[a]))
                        if b is not None:
                            m.d.comb += beat.b.eq(packed(scalars[b]))
                    else:
                        with m.If(~st_rider):
                            m.d.comb += [beat.a.eq(a_row), beat.first.eq(st_first | st_filler),
                                         beat.last.eq(st_last & ~st_filler)]
                            if b == "scale":
                                m.d.comb += beat.b.eq(Cat(*[self.scale] * W))
                            elif b is not None:
                                sel = scalars[b].as_value().word_select(
                                    st_row[:max(1, (L - 1).bit_length())], 32)
                                m.d.comb += beat.b.eq(Cat(*[sel] * W))
