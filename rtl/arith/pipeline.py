"""Fixed-latency datapaths and the one way they become stream units.

A *pipelined datapath unit* is a :class:`wiring.Component` with

* an ``en: In(1)`` clock enable - every pipeline register of the unit advances only when ``en``
  is 1, and holds its value otherwise;
* data input ports and one data output port (``o`` unless told otherwise);
* a ``latency`` property: the number of register stages from an input to the output. For
  ``latency > 0`` the output is a register (no combinational path from inputs to the output).

:class:`StreamPipeline` turns such a unit into a stream component (``i`` / ``o``), and
:func:`pipeline_register` / :func:`pipeline_delay` are the registers units are built from, so every
unit obeys the same clock-enable rule.
"""

from amaranth.hdl import Module, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StreamPipeline", "pipeline_register", "pipeline_delay", "stage_boundary"]


def pipeline_register(m, en, value, *, name, domain="sync"):
    """A register that loads ``value`` on every cycle where ``en`` is 1.

    Parameters
    ----------
    m : Module
        Module the register is added to.
    en : Value
        Clock enable (1 bit).
    value : Value-like
        Next value of the register; its shape is the register's shape.
    name : str
        Name of the register signal.
    domain : str
        Clock domain.

    Returns
    -------
    Signal
        The register (reset value 0).
    """
    value = Value.cast(value)
    register = Signal(value.shape(), name=name)
    with m.If(en):
        m.d[domain] += register.eq(value)
    return register


def pipeline_delay(m, en, value, cycles, *, name, domain="sync"):
    """``value`` delayed by ``cycles`` enabled cycles (a chain of :func:`pipeline_register`).

    ``cycles = 0`` returns ``value`` itself.
    """
    if not isinstance(cycles, int) or cycles < 0:
        raise ValueError(f"Delay must be a non-negative integer, not {cycles!r}")
    for stage in range(cycles):
        value = pipeline_register(m, en, value, name=f"{name}_d{stage + 1}", domain=domain)
    return value


def stage_boundary(m, en, values, *, register, name, domain="sync"):
    """Pass a dict of named values across a potential pipeline boundary.

    With ``register=True`` every value is replaced by a :func:`pipeline_register` named
    ``{name}_{key}``; with ``register=False`` by a combinational signal of that name. Units with a
    latency knob describe their datapath as steps and choose here which step boundaries are
    registered. Naming the values in both cases also matters for conversion: a deep unnamed
    expression graph used by several later steps made the Verilog conversion of the fp32 adder
    blow up (minutes and gigabytes instead of a fraction of a second).
    """
    if register:
        return {key: pipeline_register(m, en, value, name=f"{name}_{key}", domain=domain)
                for key, value in values.items()}
    wires = {}
    for key, value in values.items():
        value = Value.cast(value)
        wires[key] = Signal(value.shape(), name=f"{name}_{key}")
        m.d.comb += wires[key].eq(value)
    return wires


class StreamPipeline(wiring.Component):
    """Stream wrapper of a pipelined datapath unit, stalling the whole pipeline on back-pressure.

    Each field of ``in_layout`` drives the input port of ``datapath`` with the same name; the
    datapath's ``output`` port is the payload of ``o``. A valid bit travels alongside the data
    through ``latency`` registers.

    Handshake: ``en = ~o.valid | o.ready`` drives the datapath's clock enable and ``i.ready``.
    The pipeline advances on every cycle except when a result is waiting on ``o`` and is not
    accepted; then everything (including ``o.payload``) holds. A beat is accepted on ``i`` when
    ``i.valid & i.ready`` and appears on ``o`` exactly ``latency`` cycles later when no stall
    happens in between (one result per cycle, throughput 1). Input bubbles travel as invalid
    slots; no beat is lost or duplicated. ``o.valid`` stays 1 until the beat is accepted and
    ``o.payload`` is stable meanwhile (AXI-stream rules). ``i.ready`` depends combinationally on
    ``o.ready``.

    With ``latency = 0`` (a combinational datapath) the wrapper is a wire:
    ``o.valid = i.valid``, ``i.ready = o.ready``.

    Parameters
    ----------
    datapath : wiring.Component
        A pipelined datapath unit (``en`` port, input ports named like the fields of
        ``in_layout``, an output port, a ``latency`` property).
    in_layout : data.StructLayout
        Payload layout of ``i``.
    output : str
        Name of the datapath's output port.

    Members
    -------
    i : In(stream.Signature(in_layout))
        Operands.
    o : Out(stream.Signature(shape of the datapath's output port))
        Results, in input order.
    """

    def __init__(self, datapath, *, in_layout, output="o"):
        if not isinstance(datapath, wiring.Component):
            raise TypeError(f"Datapath must be a wiring.Component, not {datapath!r}")
        members = datapath.signature.members
        if "en" not in members or members["en"].flow != In or members["en"].shape != 1:
            raise ValueError(f"Datapath {datapath!r} has no 'en: In(1)' clock enable port")
        if not isinstance(in_layout, data.StructLayout):
            raise TypeError(f"Input layout must be a data.StructLayout, not {in_layout!r}")
        for field_name, _field in in_layout:
            if field_name not in members or members[field_name].flow != In:
                raise ValueError(f"Input field {field_name!r} names no input port of "
                                 f"{datapath!r}")
        if output not in members or members[output].flow != Out:
            raise ValueError(f"Output {output!r} names no output port of {datapath!r}")
        latency = datapath.latency
        if not isinstance(latency, int) or latency < 0:
            raise ValueError(f"Datapath latency must be a non-negative integer, not {latency!r}")
        self._datapath = datapath
        self._in_layout = in_layout
        self._output = output
        super().__init__({
            "i": In(stream.Signature(in_layout)),
            "o": Out(stream.Signature(members[output].shape)),
        })

    @property
    def latency(self):
        """Cycles from an accepted input beat to its result on ``o`` without stalls (int)."""
        return self._datapath.latency

    @property
    def datapath(self):
        """The wrapped pipelined datapath unit."""
        return self._datapath

    def elaborate(self, platform):
        m = Module()
        m.submodules.datapath = datapath = self._datapath

        en = Signal()
        for field_name, _field in self._in_layout:
            m.d.comb += getattr(datapath, field_name).eq(self.i.payload[field_name])
        m.d.comb += self.o.payload.eq(getattr(datapath, self._output))

        if self.latency == 0:
            m.d.comb += [
                en.eq(1),
                self.o.valid.eq(self.i.valid),
                self.i.ready.eq(self.o.ready),
            ]
        else:
            valid = pipeline_delay(m, en, self.i.valid, self.latency, name="valid")
            m.d.comb += [
                self.o.valid.eq(valid),
                en.eq(~self.o.valid | self.o.ready),
                self.i.ready.eq(en),
            ]
        m.d.comb += datapath.en.eq(en)
        return m
