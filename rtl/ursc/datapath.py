"""The URSC datapath without its controller: DPE0, DPE1, the RVPE and the UpE side by side.

This is what ``build()`` of the ``ursc`` block returns until the kernel controller (descriptor
intake, on-chip memories, DMA, counters) exists: every engine's streams are ports of the top, so
a testbench or a later controller drives each engine at one beat per cycle.
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics

from .dpe import Dpe, dpe_operands, dpe_results
from .parts import place
from .rvpe import Rvpe
from .upe import Upe

__all__ = ["UrscDatapath"]


class UrscDatapath(wiring.Component):
    """Two :class:`~hybridgen.rtl.ursc.dpe.Dpe` s, one :class:`~hybridgen.rtl.ursc.rvpe.Rvpe`,
    one :class:`~hybridgen.rtl.ursc.upe.Upe`; no logic of its own.

    Parameters
    ----------
    lanes, dpus, mults : int
        Per DPE.
    vector_units, vector_width : int
        RVPE.
    update_units, update_width : int
        UpE.
    params : golden.numerics.SfuParams
        Special-function approximations of the RVPE lanes.
    library : gen.hierarchy.ModuleLibrary, optional
        Converts the DPE (and its DPU), the RVPE unit and the UpE unit once each.
    modes : str
        "attention", "ssd" or "both" (default): the RVPE and UpE logic built
        (:mod:`hybridgen.rtl.ursc.modes`); the DPEs are the same in every mode.

    Members
    -------
    dpe_i : In(stream.Signature(dpe_operands(...))).array(2)
    dpe_o : Out(stream.Signature(dpe_results(...))).array(2)
    dpe_busy : Out(1).array(2)
    rvpe_i, rvpe_o, rvpe_busy : the :class:`~hybridgen.rtl.ursc.rvpe.Rvpe` ports
    upe_i, upe_o, upe_busy : the :class:`~hybridgen.rtl.ursc.upe.Upe` ports
    mode : In(UrscMode)
        With ``modes = "both"`` only: the running dataflow, to the RVPE and the UpE.
    """

    def __init__(self, *, lanes, dpus, mults, vector_units, vector_width, update_units,
                 update_width, params=None, library=None, modes="both"):
        self._dpe = dict(lanes=lanes, dpus=dpus, mults=mults)
        self._library = library
        self._rvpe = Rvpe(units=vector_units, width=vector_width,
                          params=numerics.SfuParams.of(params), library=library, modes=modes)
        self._upe = Upe(units=update_units, width=update_width, library=library, modes=modes)
        rvpe, upe = self._rvpe.signature.members, self._upe.signature.members
        members = {
            "dpe_i": In(stream.Signature(dpe_operands(lanes, dpus, mults))).array(2),
            "dpe_o": Out(stream.Signature(dpe_results(lanes, dpus))).array(2),
            "dpe_busy": Out(1).array(2),
            "rvpe_i": rvpe["i"], "rvpe_o": rvpe["o"], "rvpe_busy": rvpe["busy"],
            "upe_i": upe["i"], "upe_o": upe["o"], "upe_busy": upe["busy"],
        }
        if "mode" in rvpe:
            members["mode"] = rvpe["mode"]
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        dpe, library = self._dpe, self._library
        key = "dpe_{lanes}x{dpus}x{mults}".format(**dpe)
        for k in range(2):
            engine = place(m, library, f"dpe{k}", key, lambda: Dpe(**dpe, library=library))
            wiring.connect(m, wiring.flipped(self.dpe_i[k]), engine.i)
            wiring.connect(m, engine.o, wiring.flipped(self.dpe_o[k]))
            m.d.comb += self.dpe_busy[k].eq(engine.busy)
        m.submodules.rvpe = rvpe = self._rvpe
        m.submodules.upe = upe = self._upe
        for name, engine in (("rvpe", rvpe), ("upe", upe)):
            for u in range(len(getattr(self, f"{name}_i"))):
                wiring.connect(m, wiring.flipped(getattr(self, f"{name}_i")[u]), engine.i[u])
                wiring.connect(m, engine.o[u], wiring.flipped(getattr(self, f"{name}_o")[u]))
                m.d.comb += getattr(self, f"{name}_busy")[u].eq(engine.busy[u])
            if "mode" in self.signature.members:
                m.d.comb += engine.mode.eq(self.mode)
        return m
