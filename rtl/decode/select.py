"""Writing one register of an array selected by a run-time index.

``with m.Switch(index)`` over ``n`` registers makes Amaranth emit, for every register, a case
statement of all ``n`` cases (``n^2`` Verilog lines: 65 k for the 256 output accumulators of one
:class:`~hybridgen.rtl.decode.pv.PvLanes` lane). A decoded write enable per register is the same
hardware in ``O(n)`` lines.
"""

from amaranth.hdl import Signal, Value

__all__ = ["write_one"]


def write_one(m, regs, index, value, enable=1):
    """``regs[index] <= value`` (sync) when ``enable``; no register is written for an index
    past the end. ``regs`` is a list of registers (register ``i`` at index ``i``) or of
    ``(index, register)`` pairs (a bank: the registers one writer can reach, so that the
    decoder covers only those)."""
    index = Value.cast(index)
    sel = Signal(index.shape(), name="sel")
    m.d.comb += sel.eq(index)
    pairs = [r if isinstance(r, tuple) else (i, r) for i, r in enumerate(regs)]
    for i, reg in pairs:
        with m.If(enable & (sel == i)):
            m.d.sync += reg.eq(value)
