"""The decode array's controller: descriptor checks, job parameters, the end of a job and the
classification of every counted cycle."""

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.rtl.ctrl.counters import counter_layout, first_match

from .job import job_layout
from .layouts import COUNTED, KV_FORMAT_NAMES, Error, Op, descriptor_layout
from .sequencer import Phase

__all__ = ["GemvControl"]


def _all(values):
    values = list(values)
    result = values[0]
    for value in values[1:]:
        result = result & value
    return result


def _any(values):
    values = list(values)
    result = values[0]
    for value in values[1:]:
        result = result | value
    return result


class GemvControl(wiring.Component):
    """Checks a descriptor (``check``: :class:`Error` flags of ``incoming``), registers the job
    (``job``, the cycle after the intake's ``start``) and starts the channels and the
    activation buffer (``job_start``, one cycle later). ``finish`` when every channel is done
    and every write DMA idle (all write responses in).

    Cycle classes (first match, every counted cycle exactly one): ``stall_memory`` (setup, or
    a channel with beats left waits for its W beat or for x), ``stall_compute`` (a channel's
    beat is blocked by its results queue), ``busy_cycles`` (a channel has beats left: every such
    channel consumed one), ``stall_drain`` (no beat left: flush and the last writes).

    Members
    -------
    incoming : In(descriptor_layout); check : Out(Error)
    start, counting : In(1); descriptor : In(descriptor_layout)
    job : Out(job_layout); job_start : Out(1)
    phase : In(Phase).array(channels); mem_wait, blocked, done, write_idle : In(1).array(...)
    finish : Out(1)
    count : Out(counter_layout(COUNTED, 1))   increments for the counter bank
    """

    def __init__(self, geometry):
        self._g = g = geometry
        desc = descriptor_layout(g.addr_bits)
        C = g.channels
        super().__init__({
            "incoming": In(desc), "check": Out(Error),
            "start": In(1), "counting": In(1), "descriptor": In(desc),
            "job": Out(job_layout(g)), "job_start": Out(1),
            "phase": In(Phase).array(C), "mem_wait": In(1).array(C),
            "blocked": In(1).array(C), "done": In(1).array(C), "write_idle": In(1).array(C),
            "finish": Out(1), "count": Out(counter_layout(COUNTED, 1)),
            "op_ssm": Out(1), "op_attn": Out(1),
        })

    def _attn_check(self, d):
        """(shape bad, format bad) of an ATTN descriptor (:class:`Error`)."""
        g = self._g
        if not g.attn_heads:
            return 0, 0
        group = _any(d.hq == d.hkv * k for k in range(1, g.attn_heads + 1))
        shape = ((d.batch == 0) | (d.batch > g.max_batch) | (d.hkv == 0) | (d.sk == 0)
                 | (d.d == 0) | (d.d[:5] != 0) | (d.d > g.attn_max_d) | ~group)
        built = _any(d.kv_format == KV_FORMAT_NAMES[f] for f in g.kv_formats)
        return shape, ~built

    def elaborate(self, platform):
        m = Module()
        g, d, job = self._g, self.incoming, self.job
        C = g.channels
        gemv, ssm = d.op == Op.GEMV, d.op == Op.SSM_STEP
        attn = (d.op == Op.ATTN) if g.attn_heads else Const(0, 1)
        attn_shape, attn_format = self._attn_check(d)
        ssm_bad = ((d.batch == 0) | (d.heads == 0) | (d.headdim == 0) | (d.dstate == 0)
                   | (d.headdim > g.ssm_headdim) | (d.dstate > g.ssm_dstate))
        m.d.comb += self.check.eq(
            ((~gemv & ~ssm & ~attn) * Error.OP.value)
            | ((gemv & ((d.batch == 0) | (d.batch > g.max_batch))) * Error.BATCH.value)
            | ((gemv & ((d.k == 0) | (d.n == 0))) * Error.SHAPE.value)
            | ((gemv & (d.k > g.max_k)) * Error.K_TOO_LARGE.value)
            | ((ssm & ssm_bad) * Error.SSM_SHAPE.value)
            | ((attn & attn_shape) * Error.ATTN_SHAPE.value)
            | ((attn & attn_format) * Error.ATTN_FORMAT.value))

        setup = Signal()   # between the intake's start and the channels' start
        running = Signal()
        with m.If(self.start):
            m.d.sync += setup.eq(1)
        with m.If(setup):
            src = self.descriptor
            m.d.sync += [
                job.batch.eq(src.batch), job.k.eq(src.k), job.n.eq(src.n),
                job.chunks.eq((src.k + g.values - 1) >> exact_log2(g.values)),
                job.groups.eq((src.n + g.interleave - 1) >> exact_log2(g.interleave)),
                job.w_addr.eq(src.w_addr), job.x_addr.eq(src.x_addr), job.ldx.eq(src.ldx),
                job.y_addr.eq(src.y_addr), job.ldy.eq(src.ldy),
                self.op_ssm.eq(src.op == Op.SSM_STEP),
                self.op_attn.eq((src.op == Op.ATTN) if g.attn_heads else 0),
                setup.eq(0), self.job_start.eq(1)]
        with m.Else():
            m.d.sync += self.job_start.eq(0)
        with m.If(self.job_start):
            m.d.sync += running.eq(1)
        finished = running & ~self.job_start & _all(self.done) & _all(self.write_idle)
        m.d.comb += self.finish.eq(finished)
        with m.If(finished):
            m.d.sync += running.eq(0)

        work = _any(phase == Phase.RUN for phase in self.phase)
        first_match(m, self.count, [
            (setup | self.job_start | _any(self.mem_wait), "stall_memory"),
            (_any(self.blocked), "stall_compute"),
            (work, "busy_cycles"),
            (1, "stall_drain"),
        ], enable=self.counting)
        m.d.comb += self.count.cycles.eq(self.counting)
        return m
