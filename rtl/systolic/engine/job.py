"""What every agent of the engine reads about the current GEMM (:func:`job_signature`), the
job cursor each agent walks with, and the scratchpad chunk step."""

from amaranth.hdl import Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ..layouts import DIM_BITS

__all__ = ["job_signature", "Cursor", "min_of", "next_chunk", "dims_of", "kstep_of"]


def job_signature(geometry):
    """The current GEMM, as the setup (:class:`.setup.GemmSetup`) drives it to every agent:

    ``descriptor``  the descriptor (a register of the intake);
    ``kt``          K tiles, ``ceil(K / rows)``;
    ``lines_per_row`` scratchpad lines of one row of A, ``ceil(kt / line_chunks)``;
    ``mb``          rows of an M block;
    ``merge``       A is dense and line-aligned: one request covers ``merge_rows`` rows;
    ``os_mode``     the GEMM is output-stationary (a constant unless the engine has both);
    ``running``     the agents run (from the cycle after ``start`` to the last write response);
    ``start``       pulse: every agent resets its cursor (the cycle before ``running``).
    """
    g = geometry
    return wiring.Signature({
        "descriptor": Out(g.descriptor_layout),
        "kt": Out(DIM_BITS + 1),
        "lines_per_row": Out(DIM_BITS + 1),
        "mb": Out(range(g.acc_rows + 1)),
        "merge": Out(1),
        "merge_rows": Out(range(g.acc_rows + 1)),
        "os_mode": Out(1, init=int(g.dataflow == "os")),
        "running": Out(1),
        "start": Out(1),
    })


def kstep_of(geometry, job):
    """K extent of a job: WS a K tile (``rows``), OS all of K."""
    if geometry.has_os:
        return Mux(job.os_mode, job.descriptor.k, geometry.rows)
    return geometry.rows


def min_of(a, b):
    return Mux(a < b, a, b)


def dims_of(descriptor, mb):
    """The dimensions a cursor walks: the descriptor's M, N, K and the M block rows ``mb``."""
    return {"m": descriptor.m, "n": descriptor.n, "k": descriptor.k, "mb": mb}


def next_chunk(m, t_base, t_sub, q, mb):
    """Statements (under the caller's ``m.If``) that move a scratchpad position from chunk t
    to chunk t + 1: bank ``t_sub = t mod q``, line base ``t_base = (t // q) * mb`` (line l of
    a block's row i is at ``l * mb + i``). Only the registers that change are assigned."""
    if q == 1:
        m.d.sync += t_base.eq(t_base + mb)
    else:
        m.d.sync += t_sub.eq(t_sub + 1)
        with m.If(t_sub == q - 1):
            m.d.sync += t_base.eq(t_base + mb)


class Cursor:
    """Position in the job sequence (M block -> N tile -> K tile), one per agent (its
    registers belong to the agent that creates it). A K tile is ``kstep`` rows (WS: R; OS: all
    of K), an N tile ``cols`` columns.

    ``rows`` (rows of the current M block), ``nvalid`` (columns of the N tile), ``kvalid``
    (rows of the K tile) and the ``last_*`` flags are combinational; :meth:`step` adds the
    statements that move to the next job.
    """

    def __init__(self, name, dims, kstep, cols):
        self.m_left = Signal(DIM_BITS + 1, name=f"{name}_m_left")
        self.n_left = Signal(DIM_BITS + 1, name=f"{name}_n_left")
        self.k_left = Signal(DIM_BITS + 1, name=f"{name}_k_left")
        self.parity = Signal(name=f"{name}_parity")        # job parity (weight bank)
        self.n_parity = Signal(name=f"{name}_n_parity")    # N tile parity (accumulator bank)
        self.m_parity = Signal(name=f"{name}_m_parity")    # M block parity (scratchpad bank)
        self.done = Signal(name=f"{name}_done")
        self._dims, self._kstep, self._cols = dims, kstep, cols
        self.rows = min_of(self.m_left, dims["mb"])
        self.nvalid = min_of(self.n_left, cols)
        self.kvalid = min_of(self.k_left, kstep)
        self.last_k = self.k_left <= kstep
        self.last_n = self.n_left <= cols
        self.last_m = self.m_left <= dims["mb"]
        self.first_k = self.k_left == dims["k"]

    def reset(self):
        d = self._dims
        return [self.m_left.eq(d["m"]), self.n_left.eq(d["n"]), self.k_left.eq(d["k"]),
                self.parity.eq(0), self.n_parity.eq(0), self.m_parity.eq(0), self.done.eq(0)]

    def step(self, m):
        """Move to the next job (under the caller's ``m.If``): next K tile; after the last,
        the next N tile; after the last, the next M block; after the last, ``done``."""
        R, C, d = self._kstep, self._cols, self._dims
        m.d.sync += self.parity.eq(~self.parity)
        with m.If(~self.last_k):
            m.d.sync += self.k_left.eq(self.k_left - R)
        with m.Else():
            m.d.sync += [self.k_left.eq(d["k"]), self.n_parity.eq(~self.n_parity)]
            with m.If(~self.last_n):
                m.d.sync += self.n_left.eq(self.n_left - C)
            with m.Else():
                m.d.sync += [self.n_left.eq(d["n"]), self.m_parity.eq(~self.m_parity)]
                with m.If(~self.last_m):
                    m.d.sync += self.m_left.eq(self.m_left - d["mb"])
                with m.Else():
                    m.d.sync += self.done.eq(1)
