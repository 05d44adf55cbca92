"""The beat order of one DPE job: which output tile and which reduction chunk each DPE beat
carries, in the 3-slot interleaved order of :class:`~hybridgen.rtl.ursc.dpe.Dpe`.

A *job* is ``tiles`` output tiles (each ``lanes x dpus`` outputs, e.g. the S tiles of one row
tile against one key block, or its P V tiles) over a reduction of ``chunks`` chunks of
``mults`` (e.g. ``ceil(d / mults)`` for S, ``ceil(visible / mults)`` for P V). The order
(:func:`dpe_order` is the reference)::

    for group g = 0, 1, ... < ceil(tiles / 3):
      for chunk c < chunks:
        for slot s < 3:
          tile t = 3 g + s:  beat (t, c), first = (c == 0), last = (c == chunks - 1)
          (t >= tiles: a filler beat, first = 1, last = 0, the slot's next first discards it)

so tile t sits in slot ``t mod 3`` and the DPE emits the tiles' results in the order 0, 1, 2,
...; a job of ``tiles`` tiles takes ``3 * ceil(tiles / 3) * chunks`` beats, of which
``(3 * ceil(tiles / 3) - tiles) * chunks`` are fillers (the price of not chaining the last
group with the next job's tiles).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .dpe import ACCUMULATOR_LATENCY

__all__ = ["dpe_job_layout", "dpe_beat_layout", "dpe_order", "DpeOrder"]

SLOTS = ACCUMULATOR_LATENCY


def dpe_job_layout():
    """A job: ``tiles`` >= 1, ``chunks`` >= 1."""
    return data.StructLayout({"tiles": 16, "chunks": 16})


def dpe_beat_layout():
    """A beat: ``tile``, ``chunk`` (of the reduction), ``first``, ``last``, ``filler``, and
    ``end`` (the job's last beat)."""
    return data.StructLayout({"tile": 16, "chunk": 16, "first": 1, "last": 1, "filler": 1,
                              "end": 1})


def dpe_order(tiles, chunks):
    """Reference beat list of a job (module docstring), dicts keyed as :func:`dpe_beat_layout`."""
    if tiles < 1 or chunks < 1:
        raise ValueError(f"a DPE job needs tiles >= 1 and chunks >= 1, not {tiles}, {chunks}")
    beats = []
    for base in range(0, tiles, SLOTS):
        for c in range(chunks):
            for s in range(SLOTS):
                t = base + s
                if t < tiles:
                    beats.append(dict(tile=t, chunk=c, first=int(c == 0),
                                      last=int(c == chunks - 1), filler=0, end=0))
                else:
                    beats.append(dict(tile=0, chunk=c, first=1, last=0, filler=1, end=0))
    beats[-1]["end"] = 1
    return beats


class DpeOrder(wiring.Component):
    """Stream of the beats of each job, one beat per cycle (module docstring).

    A job on ``job`` is taken when the previous job's ``end`` beat is accepted (or when idle);
    the beats follow from the next cycle; ``beat.valid`` stays high until the ``end`` beat is
    accepted; a job taken in the cycle of the previous ``end`` beat continues without a gap.

    Members
    -------
    job : In(stream.Signature(dpe_job_layout()))
    beat : Out(stream.Signature(dpe_beat_layout()))
    """

    def __init__(self):
        super().__init__({"job": In(stream.Signature(dpe_job_layout())),
                          "beat": Out(stream.Signature(dpe_beat_layout()))})

    def elaborate(self, platform):
        m = Module()
        tiles, chunks = Signal(16), Signal(16)
        base, chunk, slot = Signal(16), Signal(16), Signal(range(SLOTS))
        active = Signal()
        beat = self.beat.payload
        tile = base + slot
        real = tile < tiles
        chunk_last = chunk == chunks - 1
        slot_last = slot == SLOTS - 1
        group_last = base + SLOTS >= tiles
        end = chunk_last & slot_last & group_last
        m.d.comb += [beat.chunk.eq(chunk),
                     beat.first.eq(~real | (chunk == 0)), beat.last.eq(real & chunk_last),
                     beat.filler.eq(~real), beat.end.eq(end), self.beat.valid.eq(active)]
        with m.If(real):
            m.d.comb += beat.tile.eq(tile)
        accept = self.beat.valid & self.beat.ready
        with m.If(accept):
            with m.If(~slot_last):
                m.d.sync += slot.eq(slot + 1)
            with m.Else():
                m.d.sync += slot.eq(0)
                with m.If(~chunk_last):
                    m.d.sync += chunk.eq(chunk + 1)
                with m.Else():
                    m.d.sync += [chunk.eq(0), base.eq(base + SLOTS)]
                    with m.If(group_last):
                        m.d.sync += active.eq(0)
        m.d.comb += self.job.ready.eq(~active | (accept & end))
        with m.If(self.job.valid & self.job.ready):
            m.d.sync += [active.eq(1), tiles.eq(self.job.payload.tiles),
                         chunks.eq(self.job.payload.chunks), base.eq(0), chunk.eq(0),
                         slot.eq(0)]
        return m
