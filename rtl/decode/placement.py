"""Placement of a per-channel module of the decode array (the decode-step and the attention
channel): every channel places the same module, the channel number an input, so that with a
module library it is converted once and built by Verilator as one hierarchy block."""

from hybridgen.rtl.arith.leaf import place

__all__ = ["ChannelModule"]


class ChannelModule:
    """Mixin of a channel component with an ``In`` member ``channel`` and a ``LIBRARY_KEY``;
    the component's constructor is ``cls(geometry, library=None)``."""

    @classmethod
    def place(cls, m, name, geometry, index, library=None):
        """Place channel ``index`` as submodule ``name`` of ``m`` and return it (the component,
        or with a ``library`` the interface of its one converted module, a Verilator hierarchy
        block); its ``channel`` is driven with ``index``."""
        channel = place(m, library, name, cls.LIBRARY_KEY, lambda: cls(geometry, library),
                        hierarchy_block=True)
        m.d.comb += channel.channel.eq(index)
        return channel
