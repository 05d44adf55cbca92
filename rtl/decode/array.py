"""The top of the decode array: it places the controller, the channels and the activation
buffer and connects them (no logic of its own)."""

from amaranth.hdl import Module, Mux
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.ctrl.counters import CounterBank
from hybridgen.rtl.ctrl.descriptor import DescriptorIntake
from hybridgen.rtl.mem.axi import axi_signature

from .attn_channel import AttnChannel
from .attn_output import AttnOutput
from .channel import GemvChannel
from .control import GemvControl
from .layouts import COUNTED, COUNTER_BITS, Error, completion_layout, counters_layout, \
    descriptor_layout
from .ssm_channel import SsmChannel
from .xbuffer import XBuffer

__all__ = ["DecodeArray"]


class DecodeArray(wiring.Component):
    """See :mod:`hybridgen.rtl.decode`.

    Parameters
    ----------
    library : hybridgen.gen.hierarchy.ModuleLibrary or None
        Where a lane (and its multipliers and adders) is converted once.
    geometry : hybridgen.rtl.decode.geometry.DecodeGeometry

    Members
    -------
    desc : In(stream.Signature(descriptor_layout))
    done : Out(stream.Signature(completion_layout))
    m_axi : Out(axi_signature).array(channels)   port c is channel c (``m_axi__<c>__*``)
    """

    def __init__(self, library, geometry):
        self.geometry = g = geometry
        self._library = library
        super().__init__({
            "desc": In(stream.Signature(descriptor_layout(g.addr_bits))),
            "done": Out(stream.Signature(completion_layout(g.channels))),
            "m_axi": Out(axi_signature(g.addr_bits, 8 * g.bus_bytes)).array(g.channels),
        })

    @property
    def latency(self):
        """Enabled cycles from a beat of W to its dot product at a lane's accumulator."""
        return self.geometry.dot_latency

    @staticmethod
    def _pick(kinds, default, name):
        """``name`` of the channel whose op is selected (``kinds``: (select, channel)), else
        of the GEMV channel ``default``."""
        value = getattr(default, name)
        for select, channel in kinds:
            value = Mux(select, getattr(channel, name), value)
        return value

    @staticmethod
    def _all(kinds, default, name):
        value = getattr(default, name)
        for _, channel in kinds:
            value = value & getattr(channel, name)
        return value

    @staticmethod
    def _share_port(m, port, default, kinds):
        """Port ``port`` driven by the channel of the selected op (``kinds``), else by the GEMV
        channel ``default``; valid and ready towards the idle ones are held low."""
        for name, member in port.signature.members.items():
            value = getattr(port, name)
            if member.flow == Out:
                m.d.comb += value.eq(DecodeArray._pick(
                    [(sel, ch.axi) for sel, ch in kinds], default.axi, name))
                continue
            handshake = name.endswith(("valid", "ready"))
            none = 0
            for select, channel in kinds:
                m.d.comb += getattr(channel.axi, name).eq(value & select if handshake else value)
                none = none | select
            m.d.comb += getattr(default.axi, name).eq(value & ~none if handshake else value)

    def elaborate(self, platform):
        m = Module()
        g = self.geometry
        m.submodules.intake = intake = DescriptorIntake(
            descriptor=descriptor_layout(g.addr_bits), status=counters_layout(g.channels),
            error=Error)
        m.submodules.control = control = GemvControl(g)
        m.submodules.counters = counters = CounterBank(COUNTED, width=COUNTER_BITS)
        m.submodules.xbuffer = xbuffer = XBuffer(g)
        wiring.connect(m, host=wiring.flipped(self.desc), intake=intake.desc)
        wiring.connect(m, intake=intake.done, host=wiring.flipped(self.done))
        m.d.comb += [control.incoming.eq(intake.incoming), intake.check.eq(control.check),
                     control.start.eq(intake.start), control.counting.eq(intake.counting),
                     control.descriptor.eq(intake.descriptor), intake.finish.eq(control.finish),
                     counters.clear.eq(intake.taken), counters.inc[0].eq(control.count),
                     xbuffer.start.eq(control.job_start), xbuffer.job.eq(control.job)]
        for name in COUNTED:
            m.d.comb += getattr(intake.status, name).eq(getattr(counters.count, name))
        ssm, attn = control.op_ssm, control.op_attn
        if g.attn_heads:
            m.submodules.attn_output = output = AttnOutput(g, library=self._library)
            m.d.comb += [output.start.eq(control.job_start & attn),
                         output.descriptor.eq(intake.descriptor)]
        for c in range(g.channels):
            channel = GemvChannel(g, c, self._library)
            m.submodules[f"channel{c}"] = channel
            # the decode step's channel shares the port; the job's op selects (valid and
            # ready towards the idle one are held low)
            step = SsmChannel.place(m, f"ssm{c}", g, c, self._library)
            kinds = [(ssm, step)]
            if g.attn_heads:
                # decode attention's channel: the third user of the port
                unit = AttnChannel.place(m, f"attn{c}", g, c, self._library)
                kinds.append((attn, unit))
                m.d.comb += [unit.start.eq(control.job_start & attn),
                             unit.descriptor.eq(intake.descriptor), unit.clear.eq(intake.taken)]
                wiring.connect(m, unit=unit.partial, output=output.partial[c])
                wiring.connect(m, unit=unit.token, output=output.token[c])
                if c == 0:
                    wiring.connect(m, output=output.orow, unit=unit.orow)
            self._share_port(m, self.m_axi[c], channel, kinds)
            m.d.comb += [step.start.eq(control.job_start & ssm),
                         step.descriptor.eq(intake.descriptor), step.clear.eq(intake.taken)]
            if c == 0:
                wiring.connect(m, channel0=channel.xin, xbuffer=xbuffer.i)
            m.d.comb += [
                channel.start.eq(control.job_start & ~ssm & ~attn), channel.job.eq(control.job),
                channel.x_ready.eq(xbuffer.ready), channel.clear.eq(intake.taken),
                xbuffer.addr[c].eq(channel.x_addr), xbuffer.en[c].eq(channel.x_en),
                channel.x_data.eq(xbuffer.data[c]),
                control.phase[c].eq(self._pick(kinds, channel, "phase")),
                control.mem_wait[c].eq(self._pick(kinds, channel, "mem_wait")),
                control.blocked[c].eq(self._pick(kinds, channel, "blocked")),
                control.done[c].eq(Mux(attn, output.done, Mux(ssm, step.done, channel.done))
                                   if g.attn_heads else Mux(ssm, step.done, channel.done)),
                control.write_idle[c].eq(self._all(kinds, channel, "write_idle")),
                getattr(intake.status, f"read_bytes{c}").eq(
                    self._pick(kinds, channel, "read_bytes")),
                getattr(intake.status, f"write_bytes{c}").eq(
                    self._pick(kinds, channel, "write_bytes")),
            ]
            if c != 0:
                m.d.comb += channel.xin.ready.eq(0)
        return m
