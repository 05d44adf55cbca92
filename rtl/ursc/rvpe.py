"""The URSC reconfigurable vector engine (RVPE): ``units`` vector units of ``width`` fp32 lanes
with row reductions over rows longer than one vector.

Each :class:`RvpeUnit` is a :class:`~hybridgen.rtl.vector.unit.VectorDatapath` (the lanes' add,
sub, mul, max, min, exp, exp2, reciprocal, sigmoid, silu, softplus, bf16 rounding and the
one-vector rowsum / rowmax / cumsum) followed by a *carry stage* that chains the vectors of a
row (the contract of :mod:`hybridgen.golden.ursc`):

* ``rowsum``: ``r = vector_rowsum(v_0)``, then ``r = fp32_add(r, vector_rowsum(v_j))``;
  one output beat at the row's ``last`` vector, ``r`` broadcast
  (:func:`hybridgen.golden.ursc.rvpe_rowsum`);
* ``rowmax``: ``r = vector_rowmax(v_0)``, then ``r = fp32_max(r, vector_rowmax(v_j))``; one
  output beat at ``last`` (:func:`~hybridgen.golden.ursc.rvpe_rowmax`);
* ``cumsum``: ``c_0 = vector_cumsum(v_0)``; lane k of vector j >= 1 is
  ``fp32_add(carry, vector_cumsum(v_j)[k])`` with ``carry`` the last lane of vector j - 1's
  result; one output beat per vector (:func:`~hybridgen.golden.ursc.rvpe_cumsum`).

The sender pads a row's tail vector (+0 for sums, -inf for max). Elementwise ops give one
output beat per input beat. Op codes are :class:`~hybridgen.rtl.vector.lane.VectorOp`
(:data:`hybridgen.golden.numerics.VECTOR_OPS`).

Modes (:mod:`.modes`): a unit of ``modes`` = "attention" or "ssd" builds only the lane units
and reductions of that dataflow (:func:`~hybridgen.rtl.ursc.modes.rvpe_ops`; the carry's
cumsum adders and its max unit too); "both" builds all and adds a ``mode`` input. The op of
every beat passes the per-mode decode (:class:`~hybridgen.rtl.ursc.modes.ModeDecode`): an op
the running mode does not build is executed as ``pass`` (output ``a``, elementwise).

Mode programs (:data:`MODE_PROGRAMS`): the per-mode op sequences the controller streams through
a unit; every step is one pass of the row's vectors.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics
from hybridgen.rtl.arith.compare import Fp32MinMax
from hybridgen.rtl.arith.fp32 import Fp32Add
from hybridgen.rtl.arith.pipeline import pipeline_delay
from hybridgen.rtl.vector.lane import VectorOp
from hybridgen.rtl.vector.unit import VectorDatapath

from .carry import InterleavedCarry
from .dpe import ACCUMULATOR_LATENCY, NEG_ZERO
from .modes import ModeDecode, UrscMode, mode_names, rvpe_ops
from .parts import latency_of, place

__all__ = ["RvpeUnit", "Rvpe", "rvpe_operands", "MODE_PROGRAMS", "REDUCTIONS",
           "rvpe_unit_latency"]

#: Ops that chain the vectors of a row (slots of the carry stage).
REDUCTIONS = (VectorOp.ROWSUM, VectorOp.ROWMAX, VectorOp.CUMSUM)
REDUCTION_NAMES = ("rowsum", "rowmax", "cumsum")

#: Op sequence of each mode, as (op, b operand, what it computes); a row is the vectors of one
#: query row of S (attention) or one head's dt row of a chunk (SSD). ``b`` names what the
#: controller puts in ``b`` (a scalar in every lane, or a vector).
MODE_PROGRAMS = {
    "attention": (
        ("mul", "scale", "s = S * scale, every vector of an S row (S from a DPE, fp32)"),
        ("rowmax", None, "m_blk = rowmax(s) over the row's vectors"),
        ("max", "m_old", "m_new = max(m_old, m_blk) (one vector)"),
        ("sub", "m_new", "s - m_new"),
        ("exp", None, "p = exp(s - m_new)"),
        ("bf16", None, "P = bf16(p) (widened to fp32), the A operand of P V"),
        ("rowsum", None, "l_blk = rowsum(P): l sums the bf16 P (golden.ursc's order)"),
        ("sub", "m_new", "m_old - m_new (one vector)"),
        ("exp", None, "a = exp(m_old - m_new): the UpE's rescale (O = a*O + PV, "
                      "l = a*l_old + l_blk)"),
    ),
    "ssd": (
        ("add", "dt_bias", "dt + dt_bias (one head's dt row of a chunk)"),
        ("softplus", None, "dt = softplus(dt + dt_bias); skipped with softplus off"),
        ("mul", "A", "dt * A[h]"),
        ("cumsum", None, "cum = cumsum(dt * A) over the chunk, carried across vectors"),
        ("sub", "cum", "cum_i - cum_j: row i of the segsum (a = cum_i in every lane)"),
        ("exp", None, "L = exp(cum_i - cum_j), never a product of exps"),
        ("mul", "CB^T row", "CB^T * L; the sender zeroes the lanes j > i (causal mask)"),
        ("bf16", None, "bf16 of the masked CB^T * L (and of dt x), DPE operands"),
    ),
}


def rvpe_unit_latency(width, params, modes="both"):
    """Latency of an :class:`RvpeUnit` of ``modes``: vector unit + carry adder + output
    select."""
    vector = VectorDatapath(width=width, params=numerics.SfuParams.of(params),
                            ops=rvpe_ops(modes))
    return latency_of(vector) + ACCUMULATOR_LATENCY + 1


def rvpe_operands(width):
    """Payload of ``RvpeUnit.i``: ``op`` (4 bits), ``a``, ``b`` (``width`` fp32), ``first``,
    ``last`` (a reduction row's first and last vector; ignored by elementwise ops)."""
    return data.StructLayout({"op": 4, "a": data.ArrayLayout(32, width),
                              "b": data.ArrayLayout(32, width), "first": 1, "last": 1})


class RvpeUnit(wiring.Component):
    """One RVPE vector unit with multi-vector reductions (module docstring).

    Stream contract
    ---------------
    * ``i``: one vector per beat, op per beat. Reduction beats (rowsum, rowmax, cumsum) rotate
      through 3 slots (the carry adder's latency): the n-th reduction beat accepted goes to slot
      ``n mod 3``, so 3 rows are interleaved vector by vector; ``first`` starts a slot's row,
      ``last`` ends it. A slot without a row takes filler beats: op rowsum (or rowmax),
      ``first = 1, last = 0`` (no output; the slot's next ``first`` discards it). Elementwise
      beats do not advance the slots.
    * ``o``: ``width`` fp32 per beat, in acceptance order: one per elementwise or cumsum beat,
      one per rowsum/rowmax ``last`` beat (the row result in every lane).
    * Throughput one beat per cycle, stalled only by ``o`` back-pressure; ``latency`` =
      vector unit latency + 3 (carry) + 1 (output select). ``busy``: a beat is accepted.
    * ``mode`` (a "both" build only) applies to each beat as it is accepted; an op outside the
      running mode (or, in a single-mode build, outside the build) is executed as ``pass``.

    Parameters
    ----------
    width : int
        Lanes, a power of two >= 2.
    params : golden.numerics.SfuParams or config
    library : gen.hierarchy.ModuleLibrary, optional
    modes : str
        "attention", "ssd" or "both" (default): what is built (:mod:`.modes`).

    Members
    -------
    i : In(stream.Signature(rvpe_operands(width)))
    o : Out(stream.Signature(ArrayLayout(32, width)))
    busy : Out(1)
    mode : In(UrscMode)
        With ``modes = "both"`` only.
    """

    def __init__(self, *, width, params=None, library=None, modes="both"):
        self._width = width
        self._library = library
        self._params = numerics.SfuParams.of(params)
        self._modes = modes
        self._ops = rvpe_ops(modes)
        self._vector = VectorDatapath(width=width, params=self._params, library=library,
                                      ops=self._ops)
        members = {"i": In(stream.Signature(rvpe_operands(width))),
                   "o": Out(stream.Signature(data.ArrayLayout(32, width))),
                   "busy": Out(1)}
        if len(mode_names(modes)) > 1:
            members["mode"] = In(UrscMode)
        super().__init__(members)

    @property
    def latency(self):
        """Cycles from an accepted beat to its output beat without stalls (int)."""
        return rvpe_unit_latency(self._width, self._params, self._modes)

    @property
    def ops(self):
        """Op names built (:func:`~hybridgen.rtl.ursc.modes.rvpe_ops`)."""
        return self._ops

    def _decode(self, m):
        """The beat's op through the per-mode decode."""
        codes = {name: [numerics.VECTOR_OPS[op] for op in rvpe_ops(name)]
                 for name in mode_names(self._modes)}
        m.submodules.decode = decode = ModeDecode(modes=self._modes, codes=codes, bits=4,
                                                  fallback=VectorOp.PASS)
        m.d.comb += decode.op.eq(self.i.payload.op)
        if "mode" in self.signature.members:
            m.d.comb += decode.mode.eq(self.mode)
        return decode.o

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        width, library, carry_latency = self._width, self._library, ACCUMULATOR_LATENCY
        payload, built = self.i.payload, set(self._ops)
        beat_op = self._decode(m)
        m.submodules.vector = vector = self._vector
        m.d.comb += [vector.en.eq(en), vector.op.eq(beat_op), vector.a.eq(payload.a),
                     vector.b.eq(payload.b)]

        # Issue stage of the carry: the vector unit's result with its beat's tags.
        def tag(value, name):
            return pipeline_delay(m, en, value, vector.latency, name=name)
        valid, op = tag(self.i.valid, "valid"), tag(beat_op, "op")
        first, last = tag(payload.first, "first"), tag(payload.last, "last")
        x = vector.o
        reductions = [VectorOp[name.upper()] for name in REDUCTION_NAMES if name in built]
        reduction = 0
        for code in reductions:
            reduction = reduction | (op == code)
        m.submodules.carry = carry = InterleavedCarry(width=32, slots=carry_latency,
                                                      distance=carry_latency)
        m.d.comb += [carry.en.eq(en), carry.issue.eq(valid & reduction)]
        start = Mux(first, NEG_ZERO, carry.o)
        # Carry adders: lane 0 for rowsum, every lane for cumsum.
        adders = width if "cumsum" in built else int("rowsum" in built)
        sums = []
        for k in range(adders):
            adder = place(m, library, f"carry_add{k}", "fp32_add",
                          lambda: Fp32Add(latency=carry_latency))
            m.d.comb += [adder.en.eq(en), adder.a.eq(start), adder.b.eq(x[k])]
            sums.append(adder.o)
        if "rowmax" in built:
            maximum = place(m, library, "carry_max", "fp32_minmax", Fp32MinMax)
            m.d.comb += [maximum.en.eq(en), maximum.a.eq(carry.o), maximum.b.eq(x[0]),
                         maximum.minimum.eq(0)]

        # Retire stage (carry_latency later).
        def late(value, name):
            return pipeline_delay(m, en, value, carry_latency, name=name)
        r_valid, r_op, r_first, r_last = (late(valid, "r_valid"), late(op, "r_op"),
                                          late(first, "r_first"), late(last, "r_last"))
        passed = [late(x[k], f"pass{k}") for k in range(width)]
        rows = {}  # the result lanes of each reduction built
        if "rowsum" in built:
            rows[VectorOp.ROWSUM] = [sums[0]] * width
        if "rowmax" in built:
            row_max = Mux(r_first, passed[0],
                          pipeline_delay(m, en, maximum.o, carry_latency - 1, name="max"))
            rows[VectorOp.ROWMAX] = [row_max] * width
        if "cumsum" in built:
            rows[VectorOp.CUMSUM] = sums
        # What the carry keeps: the row's result so far (rowmax, rowsum: one lane; cumsum: the
        # vector's last lane).
        result = 0
        for code, lanes in rows.items():
            result = Mux(r_op == code, lanes[-1], result)
        m.d.comb += carry.result.eq(result)
        # rowsum and rowmax emit at the row's last vector, everything else every beat.
        row_end = 0
        for code in rows:
            if code != VectorOp.CUMSUM:
                row_end = row_end | (r_op == code)
        emit = ~row_end | r_last

        out_valid = Signal()
        with m.If(en):
            m.d.sync += out_valid.eq(r_valid & emit)
            with m.Switch(r_op):
                for code, lanes in rows.items():
                    with m.Case(code):
                        m.d.sync += [self.o.payload[k].eq(lanes[k]) for k in range(width)]
                with m.Default():
                    m.d.sync += [self.o.payload[k].eq(passed[k]) for k in range(width)]
        m.d.comb += [self.o.valid.eq(out_valid), en.eq(~self.o.valid | self.o.ready),
                     self.i.ready.eq(en), self.busy.eq(self.i.valid & en)]
        return m


class Rvpe(wiring.Component):
    """``units`` independent :class:`RvpeUnit` s of ``width`` lanes (rows go to any unit; the
    controller splits them); with a ``library`` the unit is converted once. Standalone: the
    prefill chiplet places it beside the systolic array too. ``modes`` as in
    :class:`RvpeUnit`; a "both" build has one ``mode`` input for every unit.

    Members
    -------
    i : In(stream.Signature(rvpe_operands(width))).array(units)
    o : Out(stream.Signature(ArrayLayout(32, width))).array(units)
    busy : Out(1).array(units)
    mode : In(UrscMode)
        With ``modes = "both"`` only.
    """

    def __init__(self, *, units, width, params=None, library=None, modes="both"):
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Vector units must be a positive integer, not {units!r}")
        self._count, self._width, self._library = units, width, library
        self._params = numerics.SfuParams.of(params)
        self._modes = modes
        self._latency = rvpe_unit_latency(width, self._params, modes)
        members = {"i": In(stream.Signature(rvpe_operands(width))).array(units),
                   "o": Out(stream.Signature(data.ArrayLayout(32, width))).array(units),
                   "busy": Out(1).array(units)}
        if len(mode_names(modes)) > 1:
            members["mode"] = In(UrscMode)
        super().__init__(members)

    @property
    def latency(self):
        return self._latency

    def elaborate(self, platform):
        m = Module()
        width, params, library, modes = self._width, self._params, self._library, self._modes
        for u in range(self._count):
            unit = place(m, library, f"unit{u}", f"rvpe_unit_w{width}",
                         lambda: RvpeUnit(width=width, params=params, library=library,
                                          modes=modes))
            wiring.connect(m, wiring.flipped(self.i[u]), unit.i)
            wiring.connect(m, unit.o, wiring.flipped(self.o[u]))
            m.d.comb += self.busy[u].eq(unit.busy)
            if "mode" in self.signature.members:
                m.d.comb += unit.mode.eq(self.mode)
        return m
