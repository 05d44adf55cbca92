"""Synchronous SRAMs of the engine as one static Verilog module (``verilog/sram.v``), placed with
``Instance``.

The scratchpad, accumulator and weight buffer are SRAM macros in a real chip. Emitting them as
one behavioural module (``<prefix>__sram``: one write port, ``READS`` synchronous read ports,
read-before-write) keeps Amaranth from converting their contents (megabits of zeros for a large
array) and gives synthesis a clear macro boundary; Yosys infers the memory inside the module
and the synthesis flow costs it with its SRAM model, once per instance.

Contents are undefined after power-up (as in silicon): the engine never uses a word it has not
written (scratchpad lines are read only once loaded, accumulator rows of the first K tile are
overwritten without being read into the result, padded weight rows are replaced by zeros).
"""

from amaranth.hdl import ClockSignal, Instance, Signal

from .static import static_verilog

__all__ = ["sram_verilog", "Sram"]


def sram_verilog(name):
    """Verilog of the SRAM module ``name`` (parameters ``W`` width, ``D`` depth, ``A`` address
    bits, ``READS`` 1 or 2), from ``verilog/sram.v``."""
    return static_verilog("sram.v", {"hg_sram": name})


class _Port:
    def __init__(self, **signals):
        self.__dict__.update(signals)


class Sram:
    """One SRAM instance in module ``m``: ``write`` (``addr``, ``data``, ``en``) and ``reads``
    (``addr``, ``data``: ``data`` is the word at ``addr`` one cycle earlier, before a write in
    that cycle)."""

    def __init__(self, m, library, name, *, width, depth, reads=1):
        module = library.define("sram", verilog=sram_verilog(f"{library.prefix}__sram"),
                                instances=1)
        abits = max(1, (depth - 1).bit_length())
        self.write = _Port(addr=Signal(abits, name=f"{name}_waddr"),
                           data=Signal(width, name=f"{name}_wdata"),
                           en=Signal(name=f"{name}_we"))
        self.reads = [_Port(addr=Signal(abits, name=f"{name}_raddr{i}"),
                            data=Signal(width, name=f"{name}_rdata{i}")) for i in range(reads)]
        second = self.reads[1] if reads > 1 else _Port(addr=Signal(abits), data=Signal(width))
        m.submodules[name] = Instance(
            module, p_W=width, p_D=depth, p_A=abits, p_READS=reads,
            i_clk=ClockSignal(), i_we=self.write.en, i_waddr=self.write.addr,
            i_wdata=self.write.data, i_raddr0=self.reads[0].addr, o_rdata0=self.reads[0].data,
            i_raddr1=second.addr, o_rdata1=second.data)
