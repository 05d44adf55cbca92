"""The GEMM's setup: the verdict on a descriptor, the M block size and the A request merging,
then the run (:func:`.job.job_signature`) until every result is written."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.ctrl.counters import counter_layout

from ..layouts import COUNTED, DIM_BITS, Dataflow, Dtype, Error
from .job import job_signature, min_of

__all__ = ["GemmSetup"]


class GemmSetup(wiring.Component):
    """Validates descriptors and sets up each GEMM (between
    :class:`hybridgen.rtl.ctrl.descriptor.DescriptorIntake` and the agents).

    Members
    -------
    incoming : In(descriptor_layout)
        The descriptor beat offered to the intake.
    check : Out(Error)
        Verdict on ``incoming`` (combinational): SHAPE (a zero dimension), else DTYPE (not the
        configured dtype), else DATAFLOW (a dataflow the engine was not built for), else 0.
    taken, begin : In(1)
        Pulses of the intake: a descriptor taken; a descriptor accepted (the GEMM begins).
    descriptor : In(descriptor_layout)
        The intake's descriptor register (forwarded as ``job.descriptor``).
    job : Out(job_signature)
        The GEMM for the agents. After ``begin``: ``ceil(K / rows)`` (a shift, or a restoring
        division of DIM_BITS + 1 steps), then ``mb`` (a division of ``spad_lines.bit_length()``
        steps), a check cycle, then ``start`` and ``running``.
    fail : Out(Error)
        K_TOO_LARGE in the check cycle when a row of A does not fit a scratchpad bank (OS: or
        K > os_max_k).
    finishing : In(1)
        Every result of the GEMM is written and acknowledged.
    finish : Out(1)
        ``running`` and ``finishing``: the GEMM ends (``running`` falls).
    counting : In(1)
        The intake counts the cycle (``cycles`` + 1).
    count : Out(counter_layout(COUNTED, 1))
        Increments: ``cycles`` (= ``counting``), ``stall_setup`` (the division and check
        cycles).
    """

    def __init__(self, geometry):
        self._g = g = geometry
        super().__init__({
            "incoming": In(g.descriptor_layout), "check": Out(Error),
            "taken": In(1), "begin": In(1), "descriptor": In(g.descriptor_layout),
            "job": Out(job_signature(g)), "fail": Out(Error),
            "finishing": In(1), "finish": Out(1),
            "counting": In(1), "count": Out(counter_layout(COUNTED, 1)),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        R, es, q, acc_rows = g.rows, g.element_bytes, g.line_chunks, g.acc_rows
        job, p = self.job, self.incoming
        d = job.descriptor
        m.d.comb += [d.eq(self.descriptor), self.count.cycles.eq(self.counting)]
        kt, lines_per_row, mb = job.kt, job.lines_per_row, job.mb
        # restoring divider, used for ceil(K / R) then spad_lines // ceil(kt / q)
        num, den, quo = Signal(DIM_BITS + 2), Signal(DIM_BITS + 2), Signal(DIM_BITS + 2)
        rem = Signal(DIM_BITS + 3)
        step = Signal(range(DIM_BITS + 3))
        num_bits = DIM_BITS + 2
        mb_steps = g.spad_lines.bit_length()

        def setup_mb(kt_value):
            """Statements: kt, lines per row, and the division spad_lines // lines per row
            (``mb_steps`` steps: the numerator is a constant of that many bits)."""
            lpr = (kt_value + q - 1) >> g.line_chunks_bits
            return [kt.eq(kt_value), lines_per_row.eq(lpr),
                    num.eq(g.spad_lines << (num_bits - mb_steps)), den.eq(lpr), quo.eq(0),
                    rem.eq(0), step.eq(mb_steps)]

        supported = [Dataflow[name.upper()] for name in g.dataflows]
        with m.If((p.m == 0) | (p.k == 0) | (p.n == 0)):
            m.d.comb += self.check.eq(Error.SHAPE)
        with m.Elif(p.dtype != Dtype[g.dtype.upper()]):
            m.d.comb += self.check.eq(Error.DTYPE)
        with m.Elif(~Cat(*[p.dataflow == code for code in supported]).any()):
            m.d.comb += self.check.eq(Error.DATAFLOW)
        if g.dataflow == "both":
            with m.If(self.taken):
                m.d.sync += job.os_mode.eq(p.dataflow.as_value()[0])

        with m.FSM(name="setup"):
            with m.State("IDLE"):
                with m.If(self.begin):
                    if R & (R - 1) == 0:  # ceil(K / R) is a shift
                        m.d.sync += setup_mb((p.k + R - 1) >> (R.bit_length() - 1))
                        m.next = "DIV_MB"
                    else:  # divide K + R - 1 (DIM_BITS + 1 bits, MSB-aligned) by R
                        m.d.sync += [num.eq((p.k + R - 1) << (num_bits - DIM_BITS - 1)),
                                     den.eq(R), quo.eq(0), rem.eq(0), step.eq(DIM_BITS + 1)]
                        m.next = "DIV_KT"
            for state, then in (("DIV_KT", "DIV_MB"), ("DIV_MB", "CHECK")):
                with m.State(state):
                    m.d.comb += self.count.stall_setup.eq(1)
                    trial = Cat(num[-1], rem[:-1])
                    with m.If(step != 0):
                        m.d.sync += [step.eq(step - 1), num.eq(num << 1)]
                        with m.If(trial >= den):
                            m.d.sync += [rem.eq(trial - den), quo.eq(Cat(1, quo[:-1]))]
                        with m.Else():
                            m.d.sync += [rem.eq(trial), quo.eq(Cat(0, quo[:-1]))]
                    with m.Else():
                        if state == "DIV_KT":
                            m.d.sync += setup_mb(quo)
                        else:
                            cap = (Mux(job.os_mode, g.os_block_rows, acc_rows) if g.has_os
                                   else acc_rows)
                            m.d.sync += mb.eq(min_of(quo, cap))
                        m.next = then
            with m.State("CHECK"):
                m.d.comb += self.count.stall_setup.eq(1)
                too_large = ((mb == 0) | (job.os_mode & (d.k > g.os_max_k)) if g.has_os
                             else mb == 0)
                with m.If(too_large):
                    m.d.comb += self.fail.eq(Error.K_TOO_LARGE)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += job.merge.eq((d.lda == d.k * es) & (kt * R == d.k)
                                             & ((kt & (q - 1)) == 0))
                    # as many rows per request as fit 16 beats (a power of two), so that B
                    # rows for the next job never wait long behind a request of A rows
                    m.d.sync += job.merge_rows.eq(1)
                    for shift in range(1, acc_rows.bit_length()):
                        with m.If(((d.k * es) << shift) <= 16 * g.bus_bytes):
                            m.d.sync += job.merge_rows.eq(1 << shift)
                    m.d.comb += job.start.eq(1)
                    m.d.sync += job.running.eq(1)
                    m.next = "RUN"
            with m.State("RUN"):
                # the cycle after the last write response is not counted
                with m.If(self.finishing):
                    m.d.comb += self.finish.eq(1)
                    m.d.sync += job.running.eq(0)
                    m.next = "IDLE"
        return m
