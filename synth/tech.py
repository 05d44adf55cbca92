"""Technology tables for the area flow: standard-cell areas and the SRAM macro model.

Standard cells (``nangate45``)
------------------------------
The flow maps logic to Yosys's generic gate cells (``$_NAND_``, ``$_AOI3_``, ``$_DFF_P_`` ...;
see :mod:`hybridgen.synth.flow`). Each generic cell is costed as the NanGate FreePDK45 Open Cell Library
X1 cell (or the short composition of X1 cells) that implements the same function. Cell areas
are width x height of the cell footprints in the library's LEF (all cells are 1.4 um high); they
equal the ``area :`` attribute of ``NangateOpenCellLibrary_typical.lib`` (checked for AND2_X1:
1.064). Read from OpenROAD's copy of the library, ``test/Nangate45/Nangate45_stdcell.lef``
(NanGate Open Cell Library, revision 2010/2011).

Enable and synchronous-reset flip-flops do not exist in the library: the flow legalizes them to
plain ``DFF_X1`` plus gates before ABC (``dfflegalize``), so their muxes and reset gates are
optimized and costed like the rest of the logic. ``$_DFF_N_`` (falling edge) is costed as
``DFF_X1`` plus a local clock inverter.

SRAM macros (``sram45``)
------------------------
Memories that stay memories are costed as compiled SRAM macros::

    area = copies * (bits * bitcell_um2 * port_factor / array_efficiency + macro_overhead_um2)

- ``bitcell_um2 = 0.37``: high-density 6T bitcell in 45 nm bulk CMOS (K. Nii et al., Renesas,
  "A Cost-effective 45nm 6T-SRAM ...", ISQED 2013: "dense 0.37 um^2 6T-SRAM bitcell"). Intel's
  45 nm high-k/metal-gate process reported 0.346 um^2 (Mistry et al., IEDM 2007).
- ``port_factor``: 1.0 for a single-port memory (one port in all), ``two_port_factor = 1.3``
  when it has one read and one write port: a 1R1W macro uses the 8T cell with a decoupled read
  port, about 30 % larger than the 6T cell (L. Chang et al., "Stable SRAM cell design for the
  32 nm node and beyond", VLSI Symposium 2005).
- ``array_efficiency = 0.6``: fraction of the macro occupied by bitcells (the rest: decoders,
  sense amplifiers, write drivers, column muxes, control). An assumption in the middle of the
  50-80 % usually quoted for compiled macros of a few KB to a few hundred KB (CACTI reports the
  same quantity as "area efficiency"); not calibrated against a foundry compiler.
- ``macro_overhead_um2 = 1000``: fixed per-macro periphery (control, pins, power ring). Also an
  assumption, of the order of the smallest CACTI-sized 45 nm macros that OpenROAD ships for
  Nangate45 (``fakeram45_64x32``: 1,075 um^2 in ``src/pdn/test``, 3,888 um^2 in ``test/``).
- Memories with more than one read or write port are modelled as replicated 1R1W macros,
  ``copies = read_ports * write_ports`` (the usual way multi-ported memories are built from
  two-port macros; the live-value table of multi-write designs is not costed).
- Transistors: 6 per bit for single-port macros, 8 per bit for two-port ones (times copies);
  the periphery is not counted.

Which memories become macros (:attr:`SramModel.flop_max_depth`, :attr:`rom_logic_max_depth`):
memories with fewer than 32 words are built from flip-flops and muxes, as a real flow does for
FIFOs and small register files (compiled SRAMs have a minimum depth of 16-32 words and their
fixed periphery dominates below it); read-only memories of at most 4096 words are synthesized
to logic (a ROM is a constant mux tree that ABC folds); everything else is a black-box macro.
"""

from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["CellMapping", "TechLibrary", "SramModel", "NANGATE45_CELL_AREAS", "NANGATE45",
           "LEGAL_FF_CELLS", "SRAM45", "TECHS", "SRAM_MODELS"]


#: Areas (um^2) of NanGate FreePDK45 Open Cell Library X1 cells: LEF ``SIZE W BY 1.4``.
NANGATE45_CELL_AREAS = MappingProxyType({
    "INV_X1": 0.532,      # 0.38 x 1.4
    "BUF_X1": 0.798,      # 0.57 x 1.4
    "NAND2_X1": 0.798,    # 0.57 x 1.4
    "NOR2_X1": 0.798,     # 0.57 x 1.4
    "AND2_X1": 1.064,     # 0.76 x 1.4
    "OR2_X1": 1.064,      # 0.76 x 1.4
    "XOR2_X1": 1.596,     # 1.14 x 1.4
    "XNOR2_X1": 1.596,    # 1.14 x 1.4
    "AOI21_X1": 1.064,    # 0.76 x 1.4
    "OAI21_X1": 1.064,    # 0.76 x 1.4
    "AOI22_X1": 1.330,    # 0.95 x 1.4
    "OAI22_X1": 1.330,    # 0.95 x 1.4
    "MUX2_X1": 1.862,     # 1.33 x 1.4
    "DFF_X1": 4.522,      # 3.23 x 1.4
    "DFFR_X1": 5.320,     # 3.80 x 1.4
    "DFFS_X1": 5.320,     # 3.80 x 1.4
    "DFFRS_X1": 6.384,    # 4.56 x 1.4
    "DLH_X1": 2.660,      # 1.90 x 1.4
    "DLL_X1": 2.660,      # 1.90 x 1.4
})


@dataclass(frozen=True)
class CellMapping:
    """How one Yosys generic cell type is costed.

    Parameters
    ----------
    cells : tuple of str
        Library cells that implement the generic cell (summed for the area).
    area_um2 : float
        Area of one instance.
    flop_bits : int
        State bits it holds (1 for flip-flops and latches).
    transistors : int
        Transistor estimate, used only for types that ``stat -tech cmos`` does not count.
    """

    cells: tuple
    area_um2: float
    flop_bits: int = 0
    transistors: int = 0


@dataclass(frozen=True)
class TechLibrary:
    """A per-cell area table.

    Parameters
    ----------
    name : str
        Short name used on the command line and in reports (``nangate45``).
    description : str
        One line naming the library and where the numbers come from.
    cells : mapping of str to CellMapping
        Every Yosys cell type the flow may produce. Other types are an error, never area 0.
    """

    name: str
    description: str
    cells: MappingProxyType = field(repr=False)

    def mapping(self, cell_type):
        """The :class:`CellMapping` of ``cell_type``; ``KeyError`` if the table lacks it."""
        return self.cells[cell_type]


def _nangate(cells, flop_bits=0, transistors=0):
    area = round(sum(NANGATE45_CELL_AREAS[cell] for cell in cells), 6)
    return CellMapping(tuple(cells), area, flop_bits, transistors)


NANGATE45 = TechLibrary(
    name="nangate45",
    description="NanGate FreePDK45 Open Cell Library, X1 cells; areas = LEF footprints "
                "(OpenROAD test/Nangate45/Nangate45_stdcell.lef, = Liberty 'area')",
    cells=MappingProxyType({
        "$_BUF_": _nangate(["BUF_X1"]),
        "$_NOT_": _nangate(["INV_X1"]),
        "$_NAND_": _nangate(["NAND2_X1"]),
        "$_NOR_": _nangate(["NOR2_X1"]),
        "$_AND_": _nangate(["AND2_X1"]),
        "$_OR_": _nangate(["OR2_X1"]),
        "$_XOR_": _nangate(["XOR2_X1"]),
        "$_XNOR_": _nangate(["XNOR2_X1"]),
        "$_ANDNOT_": _nangate(["INV_X1", "NOR2_X1"]),    # A & ~B = ~(~A | B)
        "$_ORNOT_": _nangate(["INV_X1", "NAND2_X1"]),    # A | ~B = ~(~A & B)
        "$_MUX_": _nangate(["MUX2_X1"]),
        "$_NMUX_": _nangate(["MUX2_X1", "INV_X1"]),
        "$_AOI3_": _nangate(["AOI21_X1"]),               # ~((A & B) | C)
        "$_OAI3_": _nangate(["OAI21_X1"]),               # ~((A | B) & C)
        "$_AOI4_": _nangate(["AOI22_X1"]),               # ~((A & B) | (C & D))
        "$_OAI4_": _nangate(["OAI22_X1"]),               # ~((A | B) & (C | D))
        "$_DFF_P_": _nangate(["DFF_X1"], flop_bits=1),
        "$_DFF_N_": _nangate(["DFF_X1", "INV_X1"], flop_bits=1),
        "$_DFF_PN0_": _nangate(["DFFR_X1"], flop_bits=1, transistors=20),
        "$_DFF_PN1_": _nangate(["DFFS_X1"], flop_bits=1, transistors=20),
        "$_DFFSR_PNN_": _nangate(["DFFRS_X1"], flop_bits=1, transistors=24),
        "$_DLATCH_P_": _nangate(["DLH_X1"], flop_bits=1, transistors=10),
        "$_DLATCH_N_": _nangate(["DLL_X1"], flop_bits=1, transistors=10),
    }),
)

#: Flip-flop and latch types the flow legalizes every register to (``dfflegalize -cell``).
LEGAL_FF_CELLS = ("$_DFF_P_", "$_DFF_N_", "$_DFF_PN0_", "$_DFF_PN1_", "$_DFFSR_PNN_",
                  "$_DLATCH_P_", "$_DLATCH_N_")


@dataclass(frozen=True)
class SramModel:
    """Per-bit area model of compiled SRAM macros (see the module docstring for sources).

    Parameters
    ----------
    name : str
        Short name (``sram45``).
    description : str
        One line naming the model and its sources.
    bitcell_um2 : float
        Area of one single-port 6T bitcell.
    two_port_factor : float
        Bitcell area multiplier of a 1R1W (8T) macro.
    array_efficiency : float
        Bitcell area divided by macro area.
    macro_overhead_um2 : float
        Fixed area added per macro.
    flop_max_depth : int
        Memories with fewer words than this are built from flip-flops.
    rom_logic_max_depth : int
        Read-only memories with at most this many words are synthesized to logic.
    """

    name: str
    description: str
    bitcell_um2: float
    two_port_factor: float
    array_efficiency: float
    macro_overhead_um2: float
    flop_max_depth: int
    rom_logic_max_depth: int

    def macro(self, depth, width, read_ports, write_ports):
        """Cost of one memory built as SRAM macros.

        Returns
        -------
        dict
            ``copies`` (macros), ``cell`` (``"6T"`` or ``"8T"``), ``area_um2``, ``transistors``.
        """
        bits = depth * width
        two_port = read_ports >= 1 and write_ports >= 1
        copies = max(read_ports, 1) * max(write_ports, 1)
        factor = self.two_port_factor if two_port else 1.0
        per_macro = bits * self.bitcell_um2 * factor / self.array_efficiency
        return {
            "copies": copies,
            "cell": "8T" if two_port else "6T",
            "area_um2": round(copies * (per_macro + self.macro_overhead_um2), 3),
            "transistors": copies * bits * (8 if two_port else 6),
        }


SRAM45 = SramModel(
    name="sram45",
    description="45 nm compiled SRAM: 0.37 um^2 6T bitcell (Nii et al., ISQED 2013), x1.3 for "
                "1R1W 8T (Chang et al., VLSI 2005), 60 % array efficiency and 1000 um^2 per "
                "macro (assumed, CACTI-style)",
    bitcell_um2=0.37,
    two_port_factor=1.3,
    array_efficiency=0.6,
    macro_overhead_um2=1000.0,
    flop_max_depth=32,
    rom_logic_max_depth=4096,
)

#: Technology tables by name.
TECHS = MappingProxyType({NANGATE45.name: NANGATE45})
#: SRAM models by name.
SRAM_MODELS = MappingProxyType({SRAM45.name: SRAM45})
