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

Timing (``nangate45`` cell timing, ``sram45`` access time)
-----------------------------------------------------------
Every cell has a linear delay model, ``delay = intrinsic_ns[pin] + drive_ns_per_ff * C_load``,
with input pin capacitances in fF (:data:`NANGATE45_CELL_TIMING`). The figures are read from
the NanGate Open Cell Library typical corner (``NangateOpenCellLibrary_typical.lib``: TypTyp,
1.1 V, 25 C; read from OpenSTA's copy, ``examples/nangate45_typ.lib.gz``): for each arc the
``cell_rise`` and ``cell_fall`` NLDM tables are interpolated at an input transition of
0.0172 ns (the tables' third index) and at loads of 2 fF and 8 fF; the line through those two
points gives the intrinsic delay (extrapolated to 0 fF) and the slope. Rise and fall are
combined by taking the larger intrinsic delay and the larger slope. Pin capacitance is the
Liberty ``capacitance``. Flip-flops and latches: ``clock_to_q_ns`` (the ``rising_edge`` /
``falling_edge`` arc to Q, same fit) and ``setup_ns`` (``setup_*`` constraint tables at 0.0172 ns
on both the data and the clock transition, larger of rise and fall). Composed generic cells
(``$_ANDNOT_`` = INV + NOR2 ...) chain their library cells, the inner stage loaded by the next
cell's pin. Nets with more than :attr:`TechLibrary.max_fanout` sinks are driven through a
balanced tree of :attr:`TechLibrary.buffer` cells (``BUF_X4``), see :mod:`hybridgen.synth.timing`.

SRAM macros have a clock-to-data access time that grows with the number of words::

    access_ns = access_base_ns + access_ns_per_log2_word * log2(depth)

fitted (least squares) to the six CACTI-generated 45 nm macros that OpenROAD ships for
Nangate45 (bsg_fakeram, ``test/Nangate45/fakeram45_*.lib``: 64x7 0.212 ns, 64x32 0.213,
64x96 0.234, 256x16 0.261, 512x64 0.305, 1024x32 0.349): 0.034 + 0.0305 * log2(depth), within
0.018 ns of every point. Outside 64-1024 words it is an extrapolation. The same files give
the input setup time (0.050 ns, every input pin), the input pin capacitance (5 fF) and a
load-independent output delay (their ``cell_rise`` is a scalar), which this model keeps.
"""

import math
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["CellMapping", "TechLibrary", "SramModel", "CellTiming", "GateTiming",
           "NANGATE45_CELL_AREAS", "NANGATE45_CELL_TIMING", "NANGATE45", "LEGAL_FF_CELLS",
           "SRAM45", "TECHS", "SRAM_MODELS"]


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
class CellTiming:
    """Linear timing model of one library cell (typical corner).

    Parameters
    ----------
    inputs : dict of str to float
        Input pin capacitance in fF, every input pin (clock pins too).
    delay_ns : dict of str to float
        Combinational arcs: intrinsic delay (ns, at zero load) from each input pin to the output.
    drive_ns_per_ff : float
        Load-dependent delay of the output: ns per fF of load on it.
    clock_to_q_ns : float, optional
        Flip-flops and latches: clock (enable) edge to Q at zero load.
    setup_ns : float, optional
        Flip-flops and latches: setup time of D before the clock edge.
    """

    inputs: dict
    delay_ns: dict
    drive_ns_per_ff: float
    clock_to_q_ns: float = None
    setup_ns: float = None


#: Timing of the NanGate FreePDK45 X1 cells (and BUF_X2/X4 for buffer trees), typical corner:
#: ``CellTiming(pin capacitances fF, intrinsic delay per input pin ns, drive ns/fF)``; fitted
#: from ``NangateOpenCellLibrary_typical.lib`` as the module docstring describes.
NANGATE45_CELL_TIMING = MappingProxyType({
    "INV_X1": CellTiming({"A": 1.7002}, {"A": 0.0126}, 0.00246),
    "BUF_X1": CellTiming({"A": 0.9747}, {"A": 0.0286}, 0.00245),
    "BUF_X2": CellTiming({"A": 1.7792}, {"A": 0.0267}, 0.00128),
    "BUF_X4": CellTiming({"A": 3.4019}, {"A": 0.0256}, 0.00068),
    "NAND2_X1": CellTiming({"A1": 1.5990, "A2": 1.6642}, {"A1": 0.0145, "A2": 0.0170}, 0.00243),
    "NOR2_X1": CellTiming({"A1": 1.7145, "A2": 1.6513}, {"A1": 0.0183, "A2": 0.0229}, 0.00510),
    "AND2_X1": CellTiming({"A1": 0.9181, "A2": 0.9746}, {"A1": 0.0301, "A2": 0.0325}, 0.00260),
    "OR2_X1": CellTiming({"A1": 0.9468, "A2": 0.9419}, {"A1": 0.0448, "A2": 0.0497}, 0.00247),
    "XOR2_X1": CellTiming({"A": 2.2321, "B": 2.4115}, {"A": 0.0505, "B": 0.0556}, 0.00511),
    "XNOR2_X1": CellTiming({"A": 2.2328, "B": 2.5736}, {"A": 0.0379, "B": 0.0387}, 0.00514),
    "AOI21_X1": CellTiming({"A": 1.6264, "B1": 1.6470, "B2": 1.6769},
                           {"A": 0.0341, "B1": 0.0206, "B2": 0.0256}, 0.00513),
    "OAI21_X1": CellTiming({"A": 1.6707, "B1": 1.6621, "B2": 1.5719},
                           {"A": 0.0202, "B1": 0.0213, "B2": 0.0260}, 0.00514),
    "AOI22_X1": CellTiming({"A1": 1.6875, "A2": 1.6897, "B1": 1.5840, "B2": 1.6230},
                           {"A1": 0.0255, "A2": 0.0305, "B1": 0.0355, "B2": 0.0407}, 0.00517),
    "OAI22_X1": CellTiming({"A1": 1.6710, "A2": 1.5842, "B1": 1.6654, "B2": 1.6156},
                           {"A1": 0.0218, "A2": 0.0265, "B1": 0.0322, "B2": 0.0372}, 0.00516),
    "MUX2_X1": CellTiming({"A": 0.9464, "B": 0.9448, "S": 1.9199},
                          {"A": 0.0580, "B": 0.0583, "S": 0.0566}, 0.00266),
    "DFF_X1": CellTiming({"D": 1.1403, "CK": 0.9497}, {}, 0.00208,
                         clock_to_q_ns=0.0890, setup_ns=0.0380),
    "DFFR_X1": CellTiming({"D": 1.1283, "RN": 1.7785, "CK": 0.9766}, {}, 0.00227,
                          clock_to_q_ns=0.1029, setup_ns=0.0385),
    "DFFS_X1": CellTiming({"D": 1.1637, "SN": 1.3559, "CK": 0.9652}, {}, 0.00209,
                          clock_to_q_ns=0.0912, setup_ns=0.0375),
    "DFFRS_X1": CellTiming({"D": 1.1480, "RN": 1.4071, "SN": 2.2119, "CK": 0.9633}, {},
                           0.00283, clock_to_q_ns=0.0890, setup_ns=0.0374),
    "DLH_X1": CellTiming({"D": 0.9141, "G": 0.9855}, {}, 0.00270,
                         clock_to_q_ns=0.0585, setup_ns=0.0525),
    "DLL_X1": CellTiming({"D": 0.8830, "GN": 0.9891}, {}, 0.00266,
                         clock_to_q_ns=0.0748, setup_ns=0.0454),
})


@dataclass(frozen=True)
class GateTiming:
    """Timing of one Yosys generic cell type, built from :class:`CellTiming` facts.

    Parameters
    ----------
    inputs : dict of str to float
        Load (fF) each generic input pin puts on its net. Clock pins are absent (the clock
        network is ideal and not timed).
    delay_ns : dict of str to float
        Combinational cells: delay from each input pin to the output at zero output load.
    drive_ns_per_ff : float
        ns per fF of load on the output.
    output : str
        Output pin name (``Y`` or ``Q``).
    clock_to_q_ns, setup_ns : float, optional
        Sequential cells: launch delay and setup of the ``D`` pin (the only timed input;
        asynchronous set/reset pins load their nets but are not timed).
    """

    inputs: dict
    delay_ns: dict
    drive_ns_per_ff: float
    output: str = "Y"
    clock_to_q_ns: float = None
    setup_ns: float = None

    @property
    def sequential(self):
        return self.clock_to_q_ns is not None


def _gate(cell, pins):
    """A generic cell implemented by one library cell; ``pins`` maps generic to library pins."""
    t = NANGATE45_CELL_TIMING[cell]
    return GateTiming({g: t.inputs[p] for g, p in pins.items()},
                      {g: t.delay_ns[p] for g, p in pins.items()}, t.drive_ns_per_ff)


def _inverted_input(cell, pins, inverted):
    """``cell`` with generic input ``inverted`` driven through an INV_X1 first."""
    inv, t = NANGATE45_CELL_TIMING["INV_X1"], NANGATE45_CELL_TIMING[cell]
    lib_pin = pins[inverted]
    gate = _gate(cell, pins)
    inputs, delay = dict(gate.inputs), dict(gate.delay_ns)
    inputs[inverted] = inv.inputs["A"]
    delay[inverted] = (inv.delay_ns["A"] + inv.drive_ns_per_ff * t.inputs[lib_pin]
                       + t.delay_ns[lib_pin])
    return GateTiming(inputs, {g: round(d, 6) for g, d in delay.items()}, t.drive_ns_per_ff)


def _inverted_output(cell, pins):
    """``cell`` followed by an INV_X1."""
    inv = NANGATE45_CELL_TIMING["INV_X1"]
    gate = _gate(cell, pins)
    loaded = gate.drive_ns_per_ff * inv.inputs["A"] + inv.delay_ns["A"]
    return GateTiming(gate.inputs, {g: round(d + loaded, 6) for g, d in gate.delay_ns.items()},
                      inv.drive_ns_per_ff)


def _flop(cell, data_loads):
    t = NANGATE45_CELL_TIMING[cell]
    return GateTiming({g: t.inputs[p] for g, p in data_loads.items()}, {}, t.drive_ns_per_ff,
                      output="Q", clock_to_q_ns=t.clock_to_q_ns, setup_ns=t.setup_ns)


_TWO = {"A": "A1", "B": "A2"}

#: Timing of each Yosys generic cell type, mapped as in :data:`NANGATE45` (same library cells).
NANGATE45_GATE_TIMING = MappingProxyType({
    "$_BUF_": _gate("BUF_X1", {"A": "A"}),
    "$_NOT_": _gate("INV_X1", {"A": "A"}),
    "$_NAND_": _gate("NAND2_X1", _TWO),
    "$_NOR_": _gate("NOR2_X1", _TWO),
    "$_AND_": _gate("AND2_X1", _TWO),
    "$_OR_": _gate("OR2_X1", _TWO),
    "$_XOR_": _gate("XOR2_X1", {"A": "A", "B": "B"}),
    "$_XNOR_": _gate("XNOR2_X1", {"A": "A", "B": "B"}),
    "$_ANDNOT_": _inverted_input("NOR2_X1", _TWO, "A"),    # A & ~B = NOR2(~A, B)
    "$_ORNOT_": _inverted_input("NAND2_X1", _TWO, "A"),    # A | ~B = NAND2(~A, B)
    "$_MUX_": _gate("MUX2_X1", {"A": "A", "B": "B", "S": "S"}),
    "$_NMUX_": _inverted_output("MUX2_X1", {"A": "A", "B": "B", "S": "S"}),
    "$_AOI3_": _gate("AOI21_X1", {"A": "B1", "B": "B2", "C": "A"}),
    "$_OAI3_": _gate("OAI21_X1", {"A": "B1", "B": "B2", "C": "A"}),
    "$_AOI4_": _gate("AOI22_X1", {"A": "A1", "B": "A2", "C": "B1", "D": "B2"}),
    "$_OAI4_": _gate("OAI22_X1", {"A": "A1", "B": "A2", "C": "B1", "D": "B2"}),
    "$_DFF_P_": _flop("DFF_X1", {"D": "D"}),
    "$_DFF_N_": _flop("DFF_X1", {"D": "D"}),
    "$_DFF_PN0_": _flop("DFFR_X1", {"D": "D", "R": "RN"}),
    "$_DFF_PN1_": _flop("DFFS_X1", {"D": "D", "R": "SN"}),
    "$_DFFSR_PNN_": _flop("DFFRS_X1", {"D": "D", "R": "RN", "S": "SN"}),
    "$_DLATCH_P_": _flop("DLH_X1", {"D": "D"}),
    "$_DLATCH_N_": _flop("DLL_X1", {"D": "D"}),
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
    timing : mapping of str to GateTiming, optional
        Delay model of the same cell types (static timing needs it; ``None``: no timing).
    buffer : str, optional
        Library cell of the buffer trees that drive nets with more than ``max_fanout`` sinks.
    buffer_timing : CellTiming, optional
        Its timing.
    max_fanout : int
        Largest number of sinks a cell drives directly.
    """

    name: str
    description: str
    cells: MappingProxyType = field(repr=False)
    timing: MappingProxyType = field(default=None, repr=False)
    buffer: str = None
    buffer_timing: CellTiming = field(default=None, repr=False)
    max_fanout: int = 8

    def mapping(self, cell_type):
        """The :class:`CellMapping` of ``cell_type``; ``KeyError`` if the table lacks it."""
        return self.cells[cell_type]


def _nangate(cells, flop_bits=0, transistors=0):
    area = round(sum(NANGATE45_CELL_AREAS[cell] for cell in cells), 6)
    return CellMapping(tuple(cells), area, flop_bits, transistors)


NANGATE45 = TechLibrary(
    name="nangate45",
    description="NanGate FreePDK45 Open Cell Library, X1 cells; areas = LEF footprints "
                "(OpenROAD test/Nangate45/Nangate45_stdcell.lef, = Liberty 'area'); delays = "
                "linear fits of NangateOpenCellLibrary_typical.lib (typical corner)",
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
    timing=NANGATE45_GATE_TIMING,
    buffer="BUF_X4",
    buffer_timing=NANGATE45_CELL_TIMING["BUF_X4"],
    max_fanout=8,
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
    access_base_ns, access_ns_per_log2_word : float
        Clock-to-read-data access time ``access_base_ns + access_ns_per_log2_word *
        log2(depth)``.
    setup_ns : float
        Setup time of every macro input (address, data, enables).
    pin_cap_ff : float
        Capacitance of every macro input pin.
    """

    name: str
    description: str
    bitcell_um2: float
    two_port_factor: float
    array_efficiency: float
    macro_overhead_um2: float
    flop_max_depth: int
    rom_logic_max_depth: int
    access_base_ns: float = 0.034
    access_ns_per_log2_word: float = 0.0305
    setup_ns: float = 0.050
    pin_cap_ff: float = 5.0

    def access_ns(self, depth):
        """Clock-to-read-data time (ns) of a macro of ``depth`` words (load-independent)."""
        return round(self.access_base_ns + self.access_ns_per_log2_word
                     * math.log2(max(depth, 2)), 6)

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
                "macro (assumed, CACTI-style); access 0.034 + 0.0305 log2(words) ns (fit to "
                "OpenROAD's CACTI-generated fakeram45 macros)",
    bitcell_um2=0.37,
    two_port_factor=1.3,
    array_efficiency=0.6,
    macro_overhead_um2=1000.0,
    flop_max_depth=32,
    rom_logic_max_depth=4096,
    access_base_ns=0.034,
    access_ns_per_log2_word=0.0305,
    setup_ns=0.050,
    pin_cap_ff=5.0,
)

#: Technology tables by name.
TECHS = MappingProxyType({NANGATE45.name: NANGATE45})
#: SRAM models by name.
SRAM_MODELS = MappingProxyType({SRAM45.name: SRAM45})
