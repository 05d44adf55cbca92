"""Descriptor intake: one job per descriptor beat, validated, and one completion beat per job.

The host sends a descriptor (a ``StructLayout`` payload) on ``desc``. The intake takes it when
idle, registers it, and asks the block for a verdict on the beat (``check``, combinational on
``incoming``): a nonzero error code rejects it at once (the completion carries the code and the
block does nothing else); zero starts the job (``start``). The job runs until the block reports
``finish`` (done) or ``fail`` (an error found while setting up, e.g. a shape the memories
cannot hold). Then the intake offers one completion beat on ``done``: the block's ``status``
(e.g. its performance counters) and the error code, and takes the next descriptor only after
the completion was accepted.

Timing: ``desc.ready`` is high in the idle state; ``taken`` and ``start`` are combinational
pulses in the cycle of the handshake; ``busy`` is high from the next cycle until the cycle in
which ``finish`` or ``fail`` is seen (inclusive); the completion is offered from the next cycle.
"""

from amaranth.hdl import Module, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["completion_layout", "DescriptorIntake"]


def completion_layout(status, error):
    """The completion payload: the fields of ``status`` (a ``StructLayout``), then ``error``
    (a shape, e.g. an ``enum.Flag`` with an explicit shape; 0 means success)."""
    if "error" in dict(status.members):
        raise ValueError("The status layout must not have a field named 'error'")
    return data.StructLayout({**dict(status.members), "error": error})


class DescriptorIntake(wiring.Component):
    """One job per descriptor, see the module docstring.

    Parameters
    ----------
    descriptor : StructLayout
        Payload of a descriptor beat.
    status : StructLayout
        What the completion reports besides the error code.
    error : shape
        The error code (0: success); an ``enum.Flag`` or ``enum.Enum`` with an explicit shape,
        or an unsigned shape.

    Members
    -------
    desc : In(stream.Signature(descriptor))
        Descriptor beats, taken one per job.
    done : Out(stream.Signature(completion_layout(status, error)))
        One completion per descriptor (rejected ones included), in order.
    incoming : Out(descriptor)
        The beat on ``desc`` (combinational), for the block's verdict and setup.
    check : In(error)
        The block's verdict on ``incoming``: 0 accepts the beat and starts the job.
    taken : Out(1)
        Pulse: a descriptor is taken (accepted or rejected).
    start : Out(1)
        Pulse: a descriptor is taken and accepted; the job begins.
    descriptor : Out(descriptor)
        The last descriptor taken (a register, valid from the cycle after ``taken``).
    busy : Out(1)
        The job runs (see the timing above).
    counting : Out(1)
        ``busy`` and not ``finish``: the cycles a job's cycle counter counts (the cycle of the
        last event, ``finish``, is not counted; a ``fail`` cycle is).
    fail : In(error)
        While ``busy``: a nonzero code ends the job with that error.
    finish : In(1)
        While ``busy``: the job is done (error 0, or the verdict's code).
    status : In(status)
        Copied into the completion beat (sample it when ``done`` is valid).
    """

    def __init__(self, *, descriptor, status, error):
        self._descriptor, self._status, self._error = descriptor, status, error
        super().__init__({
            "desc": In(stream.Signature(descriptor)),
            "done": Out(stream.Signature(completion_layout(status, error))),
            "incoming": Out(descriptor),
            "check": In(error),
            "taken": Out(1),
            "start": Out(1),
            "descriptor": Out(descriptor),
            "busy": Out(1),
            "counting": Out(1),
            "fail": In(error),
            "finish": In(1),
            "status": In(status),
        })

    def elaborate(self, platform):
        m = Module()
        error = Signal(self._error)
        check, fail = Value.cast(self.check), Value.cast(self.fail)
        m.d.comb += self.incoming.eq(self.desc.payload)
        with m.FSM(name="intake"):
            with m.State("IDLE"):
                m.d.comb += self.desc.ready.eq(1)
                with m.If(self.desc.valid):
                    m.d.comb += self.taken.eq(1)
                    m.d.sync += [self.descriptor.eq(self.desc.payload), error.eq(self.check)]
                    with m.If(check != 0):
                        m.next = "DONE"
                    with m.Else():
                        m.d.comb += self.start.eq(1)
                        m.next = "BUSY"
            with m.State("BUSY"):
                m.d.comb += [self.busy.eq(1), self.counting.eq(~self.finish)]
                with m.If(fail != 0):
                    m.d.sync += error.eq(self.fail)
                    m.next = "DONE"
                with m.Elif(self.finish):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.done.valid.eq(1)
                with m.If(self.done.ready):
                    m.next = "IDLE"
        for name, _ in self._status:
            m.d.comb += getattr(self.done.payload, name).eq(getattr(self.status, name))
        m.d.comb += self.done.payload.error.eq(error)
        return m
