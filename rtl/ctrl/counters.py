"""A bank of named performance counters and the first-match stall classification.

A job's cycles are counted once each: every counted cycle is given to exactly one class (busy,
or the first stall reason that holds), so the classes add up to the total. The classification
is a priority list of ``(condition, name)`` (:func:`first_match`); several sources (one per
agent that classifies, e.g. per dataflow) drive increment pulses into one :class:`CounterBank`.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["counter_layout", "CounterBank", "first_match"]


def counter_layout(names, width):
    """``StructLayout`` of one ``width``-bit field per counter, in ``names`` order."""
    if not names or len(set(names)) != len(names):
        raise ValueError(f"Counter names must be distinct and not empty, not {names!r}")
    return data.StructLayout({name: width for name in names})


def first_match(m, inc, cases, *, enable=1):
    """Drive ``inc`` (a view of ``counter_layout(names, 1)``, combinational): when ``enable``,
    set the field of the first ``(condition, name)`` of ``cases`` whose condition holds (the
    last condition should be 1, so that exactly one field is set)."""
    with m.If(enable):
        condition, name = cases[0]
        with m.If(condition):
            m.d.comb += getattr(inc, name).eq(1)
        for condition, name in cases[1:]:
            with m.Elif(condition):
                m.d.comb += getattr(inc, name).eq(1)


class CounterBank(wiring.Component):
    """Counters ``names`` of ``width`` bits (wrapping), cleared together.

    Parameters
    ----------
    names : tuple of str
        The counters, in layout order.
    width : int
        Bits of each counter.
    sources : int
        Increment ports (one per agent that counts).

    Members
    -------
    clear : In(1)
        Pulse: every counter reads 0 in the next cycle (wins over increments in that cycle).
    inc : In(counter_layout(names, 1)).array(sources)
        Pulses: counter ``name`` adds 1 in the next cycle if any source sets its field (a
        counter adds at most 1 per cycle).
    count : Out(counter_layout(names, width))
        The counters (registers).
    zero : Out(counter_layout(names, 1))
        ``count.name == 0``, combinational.
    """

    @staticmethod
    def check_parameters(names, width, sources):
        """Raise ``ValueError`` unless the parameters make a counter bank."""
        counter_layout(names, 1)
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"Counter width must be a positive integer, not {width!r}")
        if not isinstance(sources, int) or sources < 1:
            raise ValueError(f"Counter sources must be a positive integer, not {sources!r}")

    def __init__(self, names, *, width=32, sources=1):
        self.check_parameters(names, width, sources)
        self._names = tuple(names)
        self._width = width
        super().__init__({
            "clear": In(1),
            "inc": In(counter_layout(self._names, 1)).array(sources),
            "count": Out(counter_layout(self._names, width)),
            "zero": Out(counter_layout(self._names, 1)),
        })

    @property
    def names(self):
        return self._names

    def elaborate(self, platform):
        m = Module()
        for name in self._names:
            counter = getattr(self.count, name)
            hit = Signal(name=f"inc_{name}")
            m.d.comb += hit.eq(_any(getattr(inc, name) for inc in self.inc))
            with m.If(hit):
                m.d.sync += counter.eq(counter + 1)
            m.d.comb += getattr(self.zero, name).eq(counter == 0)
        with m.If(self.clear):
            m.d.sync += self.count.eq(0)
        return m


def _any(values):
    """OR of ``values`` (at least one)."""
    values = list(values)
    result = values[0]
    for value in values[1:]:
        result = result | value
    return result
