"""The head records of the decode step (``ssm-step``) in one channel: two record slots, and the
head unit that computes a captured record's scalars and rows into its slot (layout of a record:
:mod:`hybridgen.rtl.decode.ssm_layout`; order: :func:`hybridgen.golden.decode.ssm_step`).

A slot goes through: free -> *full* (:class:`SsmRecords` captured all ``record_beats``) ->
*ready* (:class:`SsmHeadUnit` wrote dt, dA, D and every row's (u, dx, sz)) -> free again when
the state stage ``release``\\ s it after the head's last chunk. Slots are used in turn (slot 0,
1, 0, ...) by the capture, the head unit and the state stage alike.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from hybridgen.rtl.arith.pipeline import pipeline_delay

from .ssm_head import SsmHeadScalars, SsmRowValues
from .ssm_job import ssm_job_layout

__all__ = ["SsmRecords", "SsmHeadUnit", "ssm_row_layout", "record_read_port",
           "row_read_port", "row_write_port"]


def ssm_row_layout():
    """A row word of a slot: ``u = x dt``, ``dx = D x``, ``sz = silu(z)`` (fp32)."""
    return data.StructLayout({"u": 32, "dx": 32, "sz": 32})


def record_read_port(geometry):
    """A read port of the record memory: slot ``s`` beat ``i`` at ``s * ssm_record_beats + i``;
    data one cycle after the address."""
    return memory.ReadPort.Signature(
        addr_width=ceil_log2(2 * geometry.ssm_record_beats), shape=8 * geometry.bus_bytes)


def row_read_port(geometry):
    """A read port of the row memory: slot ``s`` row ``r`` at ``s * ssm_rows + r``."""
    return memory.ReadPort.Signature(addr_width=ceil_log2(2 * geometry.ssm_rows),
                                     shape=ssm_row_layout())


def row_write_port(geometry):
    return memory.WritePort.Signature(addr_width=ceil_log2(2 * geometry.ssm_rows),
                                      shape=ssm_row_layout())


class SsmRecords(wiring.Component):
    """The two record slots: a memory of ``2 x ssm_record_beats`` beats, a memory of
    ``2 x ssm_rows`` row words, and the slots' *full* and *ready* flags.

    Capture: ``rec`` beats are written to the capture slot in order, one per cycle (``ready``
    low while that slot is full); after its ``record_beats``-th beat the slot is full and the
    capture moves to the other slot. The flags change one cycle after the pulses that set
    (last beat, ``computed``) and clear them (``release``); ``go`` clears both slots.

    Members
    -------
    go : In(1); job : In(ssm_job_layout)
    rec : In(stream.Signature(8 * bus_bytes))     record beats in request order
    full, ready : Out(2)                          flags per slot
    computed, release : In(2)                     one-hot pulses: set ``ready``; free a slot
    head_rec, head_z : Out(record_read_port)      the head unit's reads of a record
    row_w : Out(row_write_port)                   the head unit's row words
    b, c : Out(record_read_port)                  the state stage's B and C beats
    row : Out(row_read_port)                      the state stage's row words
    """

    def __init__(self, geometry):
        self._g = geometry
        super().__init__({
            "go": In(1), "job": In(ssm_job_layout(geometry.addr_bits)),
            "rec": In(stream.Signature(8 * geometry.bus_bytes)),
            "full": Out(2), "ready": Out(2), "computed": In(2), "release": In(2),
            "head_rec": Out(record_read_port(geometry)),
            "head_z": Out(record_read_port(geometry)),
            "row_w": Out(row_write_port(geometry)),
            "b": Out(record_read_port(geometry)), "c": Out(record_read_port(geometry)),
            "row": Out(row_read_port(geometry)),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        rec_max = g.ssm_record_beats
        m.submodules.records = records = memory.Memory(shape=8 * g.bus_bytes, depth=2 * rec_max,
                                                       init=[])
        m.submodules.rowmem = rowmem = memory.Memory(shape=ssm_row_layout(),
                                                     depth=2 * g.ssm_rows, init=[])
        rec_w = records.write_port()
        wiring.connect(m, wiring.flipped(self.head_rec), records.read_port())
        wiring.connect(m, wiring.flipped(self.head_z), records.read_port())
        wiring.connect(m, wiring.flipped(self.b), records.read_port())
        wiring.connect(m, wiring.flipped(self.c), records.read_port())
        wiring.connect(m, wiring.flipped(self.row_w), rowmem.write_port())
        wiring.connect(m, wiring.flipped(self.row), rowmem.read_port())

        full, ready, rec = self.full, self.ready, self.rec
        cap_slot, cap_beat = Signal(), Signal(range(rec_max + 1))
        m.d.comb += rec.ready.eq(~full.bit_select(cap_slot, 1))
        take = rec.valid & rec.ready
        m.d.comb += [rec_w.addr.eq(cap_slot * rec_max + cap_beat), rec_w.data.eq(rec.payload),
                     rec_w.en.eq(take)]
        set_full = Signal(2)
        with m.If(take):
            with m.If(cap_beat == self.job.record_beats - 1):
                m.d.sync += [cap_beat.eq(0), cap_slot.eq(~cap_slot)]
                m.d.comb += set_full.eq(Mux(cap_slot, 2, 1))
            with m.Else():
                m.d.sync += cap_beat.eq(cap_beat + 1)
        m.d.sync += [full.eq((full | set_full) & ~self.release),
                     ready.eq((ready | self.computed) & ~self.release)]
        with m.If(self.go):
            m.d.sync += [full.eq(0), ready.eq(0), cap_slot.eq(0), cap_beat.eq(0)]
        return m


class _Step(enum.Enum, shape=2):
    WAIT = 0      # for a full slot that is not ready
    SCALARS = 1   # beat 0 through SsmHeadScalars
    ROWS = 2      # one row per cycle into SsmRowValues
    DRAIN = 3     # the last rows out of SsmRowValues


class SsmHeadUnit(wiring.Component):
    """The head unit: for each full, not yet ready slot in turn, its scalars (dt, dA from beat 0;
    D) and then, one row per cycle in row order, ``(u, dx, sz)`` of rows ``0 .. rows - 1``
    (x and z from the record; z = 0 without ``with_z``) into the slot's row words.

    Latency per slot: ``2 + SsmHeadScalars.latency`` cycles for the scalars, then ``rows``
    cycles, then ``SsmRowValues.latency + 3`` until ``computed`` pulses (the last row word is
    written by then). ``da`` of a slot holds from that pulse until the slot is computed again.

    Members
    -------
    go, running : In(1)           ``go`` restarts at slot 0; a slot is taken only while running
    job : In(ssm_job_layout)
    full, ready : In(2)           the slots' flags (:class:`SsmRecords`)
    computed : Out(2)             one-hot pulse: the slot is ready
    rec, z : In(record_read_port) reads of beat 0 and x; of z
    row : In(row_write_port)
    da : Out(ArrayLayout(32, 2))  dA (fp32) of each slot
    """

    def __init__(self, geometry):
        self._g = geometry
        self._scalars = SsmHeadScalars(adder_latency=geometry.adder_latency)
        self._rowvals = SsmRowValues()
        super().__init__({
            "go": In(1), "running": In(1), "job": In(ssm_job_layout(geometry.addr_bits)),
            "full": In(2), "ready": In(2), "computed": Out(2),
            "rec": In(record_read_port(geometry)), "z": In(record_read_port(geometry)),
            "row": In(row_write_port(geometry)), "da": Out(data.ArrayLayout(32, 2)),
        })

    def elaborate(self, platform):
        m = Module()
        g, job = self._g, self.job
        W, V16 = g.bus_bytes // 4, g.bus_bytes // 2
        lv16, rec_max = exact_log2(V16), g.ssm_record_beats
        m.submodules.scalars = scalars = self._scalars
        m.submodules.rowvals = rowvals = self._rowvals
        m.d.comb += [scalars.en.eq(1), rowvals.en.eq(1)]
        slot, step, count = Signal(), Signal(_Step), Signal(16)
        dt_s, d_s = Signal(data.ArrayLayout(32, 2)), Signal(data.ArrayLayout(32, 2))
        base = slot * rec_max
        issue_scalar, issue_row = Signal(), Signal()
        row_idx = Signal(16)
        with m.Switch(step):
            with m.Case(_Step.WAIT):
                with m.If(self.full.bit_select(slot, 1) & ~self.ready.bit_select(slot, 1)
                          & self.running):
                    m.d.comb += [self.rec.addr.eq(base), issue_scalar.eq(1)]
                    m.d.sync += [step.eq(_Step.SCALARS), count.eq(0)]
            with m.Case(_Step.SCALARS):   # beat 0 arrives on rec.data this cycle
                m.d.sync += count.eq(count + 1)
                with m.If(count == scalars.latency):
                    m.d.sync += [dt_s[slot].eq(scalars.o.dt), self.da[slot].eq(scalars.o.da),
                                 step.eq(_Step.ROWS), row_idx.eq(0), count.eq(0)]
            with m.Case(_Step.ROWS):
                m.d.comb += [self.rec.addr.eq(base + 1 + (row_idx >> lv16)),
                             self.z.addr.eq(base + job.z_base + (row_idx >> lv16)),
                             issue_row.eq(1)]
                m.d.sync += row_idx.eq(row_idx + 1)
                with m.If(row_idx == job.rows - 1):
                    m.d.sync += [step.eq(_Step.DRAIN), count.eq(0)]
            with m.Case(_Step.DRAIN):
                m.d.sync += count.eq(count + 1)
                with m.If(count == rowvals.latency + 2):
                    m.d.comb += self.computed.eq(Mux(slot, 2, 1))
                    m.d.sync += [step.eq(_Step.WAIT), slot.eq(~slot)]
        with m.If(self.go):
            m.d.sync += [slot.eq(0), step.eq(_Step.WAIT)]
        # beat 0 (read in WAIT, data in SCALARS at count 0)
        beat0 = data.View(data.ArrayLayout(32, W), self.rec.data)
        scalar_valid = Signal()
        m.d.sync += scalar_valid.eq(issue_scalar)
        with m.If(scalar_valid):
            m.d.sync += d_s[slot].eq(beat0[3])
        m.d.comb += [scalars.dt_raw.eq(beat0[0][:16]), scalars.dt_bias.eq(beat0[1]),
                     scalars.a.eq(beat0[2]), scalars.softplus.eq(job.softplus)]
        # rows: read issued in ROWS, data one cycle later, row word rowvals.latency after
        row_v, row_r = Signal(), Signal(16)
        m.d.sync += [row_v.eq(issue_row), row_r.eq(row_idx)]
        xs = data.View(data.ArrayLayout(16, V16), self.rec.data)
        zs = data.View(data.ArrayLayout(16, V16), self.z.data)
        lane_sel = row_r[:lv16]
        m.d.comb += [rowvals.x.eq(xs[lane_sel]), rowvals.z.eq(Mux(job.with_z, zs[lane_sel], 0)),
                     rowvals.dt.eq(dt_s[slot]), rowvals.d.eq(d_s[slot])]
        row_vd = pipeline_delay(m, 1, row_v, rowvals.latency, name="row_vd")
        row_rd = pipeline_delay(m, 1, row_r, rowvals.latency, name="row_rd")
        m.d.comb += [self.row.addr.eq(slot * g.ssm_rows + row_rd), self.row.data.eq(rowvals.o),
                     self.row.en.eq(row_vd)]
        return m
