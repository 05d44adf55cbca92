"""The beat order of a stream of DPE jobs: which output tile (of which job) and which reduction
chunk each DPE beat carries, in the 3-slot interleaved order of
:class:`~hybridgen.rtl.ursc.dpe.Dpe`.

A *job* is ``tiles`` output tiles (each ``lanes x dpus`` outputs, e.g. the S tiles of one row
tile against one key block, or its P V tiles) over a reduction of ``chunks`` chunks of
``mults`` (e.g. ``ceil(d / mults)`` for S, ``ceil(visible / mults)`` for P V), and a ``chain``
bit. The beats come in *groups* of 3 tiles, one per accumulator slot (:func:`dpe_jobs_order`
is the reference)::

    for each group (tiles g_0, g_1, g_2, some of them fillers), for chunk c < chunks:
      for slot s < 3:  beat (g_s, c), first = (c == 0), last = (c == chunks - 1)
      (a filler slot: first = 1, last = 0, tile = 0, job = 0; the slot's next first discards it)

A group takes the next tiles of the current job, in order. When the current job has fewer than
3 tiles left and ``chain`` = 1, the order waits for the next job; if that job has the same
``chunks``, its first tiles fill the group (the accumulator slots do not care which job a
tile belongs to), otherwise the group is completed with fillers and the next job starts a new
group. With ``chain`` = 0 the group is completed with fillers (the last job of a kernel, or a
job whose results the sender must see before it can issue the next one). A group holds tiles
of at most two jobs (a chained job with fewer tiles than the group's free slots leaves
fillers). So a stream of jobs with equal ``chunks``, all chained, has fillers only in its last
group; a single job (``chain`` = 0) is the old per-job order: ``3 * ceil(tiles / 3) *
chunks`` beats, ``(3 * ceil(tiles / 3) - tiles) * chunks`` fillers.

The results leave the DPE in tile order, job after job (every tile of a group ends at the
same chunk, in slot order). Every reduction is still ``chunks`` consecutive beats of one slot,
``first`` to ``last``, so each result is exactly ``dot_bf16_accumulate`` of its row and column.
Beat fields: ``tile`` (index within its job), ``job`` (parity of the job's index in the
stream, so a sender with two jobs in flight knows whose operands to send), ``end`` (the last
beat of the job's last tile: its last result).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .dpe import ACCUMULATOR_LATENCY

__all__ = ["dpe_job_layout", "dpe_beat_layout", "dpe_groups", "dpe_jobs_order", "dpe_order",
           "dpe_filler_count", "DpeOrder"]

SLOTS = ACCUMULATOR_LATENCY


def dpe_job_layout():
    """A job: ``tiles`` >= 1, ``chunks`` >= 1, ``chain`` (module docstring)."""
    return data.StructLayout({"tiles": 16, "chunks": 16, "chain": 1})


def dpe_beat_layout():
    """A beat: ``tile``, ``chunk`` (of the reduction), ``first``, ``last``, ``filler``, ``job``
    (parity of the job index) and ``end`` (the job's last tile's last beat)."""
    return data.StructLayout({"tile": 16, "chunk": 16, "first": 1, "last": 1, "filler": 1,
                              "job": 1, "end": 1})


def _job(job):
    tiles, chunks, chain = (tuple(job) + (0,))[:3]
    if tiles < 1 or chunks < 1:
        raise ValueError(f"a DPE job needs tiles >= 1 and chunks >= 1, not {tiles}, {chunks}")
    return tiles, chunks, chain


def dpe_groups(jobs):
    """Groups of a job stream (module docstring): ``(chunks, slots)`` pairs, ``slots`` a list of
    3 entries ``(job index, tile, final)`` or ``None`` (filler). ``jobs``: ``(tiles, chunks)``
    or ``(tiles, chunks, chain)``; the last job must not chain."""
    jobs = [_job(job) for job in jobs]
    if jobs and jobs[-1][2]:
        raise ValueError("the last DPE job of a stream must have chain = 0")
    groups, index, pos = [], 0, 0
    while index < len(jobs):
        tiles, chunks, chain = jobs[index]
        take = min(tiles - pos, SLOTS)
        slots = [(index, pos + s, int(pos + s == tiles - 1)) for s in range(take)]
        pos += take
        if pos == tiles:
            index, pos = index + 1, 0
            if take < SLOTS and chain:
                n_tiles, n_chunks, _ = jobs[index]
                if n_chunks == chunks:
                    more = min(SLOTS - take, n_tiles)
                    slots += [(index, s, int(s == n_tiles - 1)) for s in range(more)]
                    pos = more
                    if pos == n_tiles:
                        index, pos = index + 1, 0
        groups.append((chunks, slots + [None] * (SLOTS - len(slots))))
    return groups


def dpe_jobs_order(jobs):
    """Reference beat list of a job stream (module docstring), dicts keyed as
    :func:`dpe_beat_layout`."""
    beats = []
    for chunks, slots in dpe_groups(jobs):
        for c in range(chunks):
            for entry in slots:
                if entry is None:
                    beats.append(dict(tile=0, chunk=c, first=1, last=0, filler=1, job=0, end=0))
                else:
                    index, tile, final = entry
                    last = int(c == chunks - 1)
                    beats.append(dict(tile=tile, chunk=c, first=int(c == 0), last=last,
                                      filler=0, job=index % 2, end=final & last))
    return beats


def dpe_order(tiles, chunks):
    """Reference beat list of one unchained job."""
    return dpe_jobs_order([(tiles, chunks, 0)])


def dpe_filler_count(jobs):
    """``(beats, fillers)`` of a job stream, counted on :func:`dpe_groups` (no beat list)."""
    beats = fillers = 0
    for chunks, slots in dpe_groups(jobs):
        beats += SLOTS * chunks
        fillers += chunks * slots.count(None)
    return beats, fillers


class DpeOrder(wiring.Component):
    """Stream of the beats of a job stream, one beat per cycle (module docstring).

    A job on ``job`` is taken into a one-job register when that register is empty, or, when the
    current job has fewer than 3 tiles left and chains, at the start of the group it joins.
    A group starts in the cycle after the previous group's last beat is accepted (no gap) if
    its tiles are known then; otherwise ``beat.valid`` is low until they are (a chained job
    waits for the next one; an idle order sends a job's first beat 2 cycles after taking it).
    Within a group
    ``beat.valid`` stays high until its last beat is accepted.

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
        job = self.job.payload
        # the current job: tiles, chunks, chain, its parity, the next tile to place
        cur_valid, cur_tiles, cur_chunks = Signal(), Signal(16), Signal(16)
        cur_chain, cur_par, cur_pos = Signal(), Signal(), Signal(16)
        next_par = Signal()                      # parity of the next job taken
        # the group being sent
        active, chunks, chunk = Signal(), Signal(16), Signal(16)
        slot = Signal(range(SLOTS))
        g_real = [Signal(name=f"g_real{s}") for s in range(SLOTS)]
        g_tile = [Signal(16, name=f"g_tile{s}") for s in range(SLOTS)]
        g_par = [Signal(name=f"g_par{s}") for s in range(SLOTS)]
        g_final = [Signal(name=f"g_final{s}") for s in range(SLOTS)]

        beat = self.beat.payload
        real, tile, par, final = Signal(), Signal(16), Signal(), Signal()
        with m.Switch(slot):
            for s in range(SLOTS):
                with m.Case(s):
                    m.d.comb += [real.eq(g_real[s]), tile.eq(g_tile[s]), par.eq(g_par[s]),
                                 final.eq(g_final[s])]
        chunk_last = chunk == chunks - 1
        slot_last = slot == SLOTS - 1
        m.d.comb += [self.beat.valid.eq(active), beat.chunk.eq(chunk),
                     beat.first.eq(~real | (chunk == 0)), beat.last.eq(real & chunk_last),
                     beat.filler.eq(~real), beat.end.eq(real & final & chunk_last)]
        # a Mux, not m.If: a conditional driver makes Yosys emit the payload's other fields as
        # `always @*` blocks that Icarus never wakes while their registers keep the reset value
        m.d.comb += [beat.tile.eq(Mux(real, tile, 0)), beat.job.eq(real & par)]
        accept = self.beat.valid & self.beat.ready
        with m.If(accept):
            with m.If(~slot_last):
                m.d.sync += slot.eq(slot + 1)
            with m.Else():
                m.d.sync += slot.eq(0)
                with m.If(~chunk_last):
                    m.d.sync += chunk.eq(chunk + 1)
                with m.Else():
                    m.d.sync += active.eq(0)

        # planning the next group
        form = ~active | (accept & slot_last & chunk_last)
        rem = Signal(16)
        m.d.comb += rem.eq(cur_tiles - cur_pos)
        short = rem < SLOTS
        take = Mux(short, rem, SLOTS)             # tiles of the current job in the group
        need_next = short & cur_chain
        can_form = cur_valid & (~need_next | self.job.valid)
        joins = need_next & (job.chunks == cur_chunks)   # the next job fills the group
        with m.If(form & cur_valid):
            m.d.comb += self.job.ready.eq(need_next)
        with m.Else():
            m.d.comb += self.job.ready.eq(~cur_valid)
        taken = self.job.valid & self.job.ready
        with m.If(taken):
            m.d.sync += next_par.eq(~next_par)

        with m.If(form & can_form):
            m.d.sync += [active.eq(1), chunks.eq(cur_chunks), chunk.eq(0), slot.eq(0)]
            for s in range(SLOTS):
                own = s < take
                other = joins & (s - take < job.tiles) & ~own
                other_tile = (s - take)[:16]
                m.d.sync += [g_real[s].eq(own | other),
                             g_tile[s].eq(Mux(own, cur_pos + s, other_tile)),
                             g_par[s].eq(Mux(own, cur_par, next_par)),
                             g_final[s].eq(Mux(own, cur_pos + s == cur_tiles - 1,
                                               other_tile == job.tiles - 1))]
            with m.If(~short & (rem != SLOTS)):
                m.d.sync += cur_pos.eq(cur_pos + SLOTS)
            with m.Elif(need_next):               # the next job is taken now
                used = Mux(joins, SLOTS - take, 0)
                with m.If(joins & (job.tiles <= used)):
                    m.d.sync += cur_valid.eq(0)
                with m.Else():
                    m.d.sync += [cur_tiles.eq(job.tiles), cur_chunks.eq(job.chunks),
                                 cur_chain.eq(job.chain), cur_par.eq(next_par),
                                 cur_pos.eq(used)]
            with m.Else():
                m.d.sync += cur_valid.eq(0)
        with m.Elif(taken):                      # an empty register takes the job
            m.d.sync += [cur_valid.eq(1), cur_tiles.eq(job.tiles), cur_chunks.eq(job.chunks),
                         cur_chain.eq(job.chain), cur_par.eq(next_par), cur_pos.eq(0)]
        return m
