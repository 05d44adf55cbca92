"""The read requests of one channel's decode-attention unit (docs/decode.md, "Decode attention
on the array"): the cache lengths, then per (batch, kv head) job in order the q rows of the
job's q heads and the unit's K and V tile groups, with one tile-info beat per position tile
and one token per job for the split-KV combine.

Channel layout (:class:`hybridgen.rtl.decode.attn_layout.AttnLayout`): position tile ``t`` of
every (batch, kv head) lives in channel ``t mod C`` as that channel's slot ``i = t // C``;
a job's ``TC = ceil(ceil(sk / 32) / C)`` slots of ``D = d / 32`` tiles each are contiguous
from ``k_addr + job * TC * D * tile_bytes`` (V likewise from ``v_addr``). A slot's ``D``
tiles (one *group*: dim tiles 0 .. D-1 of one position tile) are one read row.

Request order of a job with ``n`` tiles in this channel (``n = 0``: nothing but the token):
``Q, K_0, [P], K_1, V_0, K_2, V_1, ..., K_{n-1}, V_{n-2}`` - the K group of the next
position tile is read before the V group of the current one, so that its scores are computed
while the softmax step of the current tile runs (the V group waits for its weights). The
job's last V group ``V_{n-1}`` is *pending*: it is read as ``[P]`` of the next job with a tile
(after that job's ``K_0``), so that K and V groups alternate across jobs too (two groups of one
path back to back block the stream: the lanes take 128 cycles for the 68 beats of a BFP8
group at d = 128). A job without a tile here reads the pending group at once (the combine
waits for its partial, and only ``TOKEN_DEPTH`` job tokens are queued), and so does the end
of the kernel. No wait is circular: the next job's q is taken once the unit has every score
of the previous job (``K_{n-1}`` is before it), ``V_{n-2}`` (before it) frees the softmax
steps, and ``V_{n-1}`` only needs ``K_{n-1}``'s weights.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.golden.kvquant import KV_TILE_BYTES
from hybridgen.rtl.mem.dma import row_request_layout

from .attn_unit import tile_info_layout
from .layouts import BATCH_BITS, DIM_BITS, HEAD_BITS, KvFormat, descriptor_layout

__all__ = ["AttnRequests", "KIND_K", "KIND_V", "KIND_Q", "KIND_LENS", "attn_job_layout"]

KIND_K, KIND_V, KIND_Q, KIND_LENS = 0, 1, 2, 3
POSITIONS = 32


def attn_job_layout():
    """What the unit holds for a whole kernel: ``dim_tiles`` (D) and ``fmt``."""
    return data.StructLayout({"dim_tiles": HEAD_BITS, "fmt": KvFormat})


class AttnRequests(wiring.Component):
    """Channel ``index``'s read requests, tile info and job tokens (module docstring).

    ``index`` fixes the channel at build time; without it (``None``) the channel is the input
    ``channel``, so that every channel is the same module.

    The lengths are read first (``4 batch`` bytes at ``lens_addr``, uint32, a length above
    ``sk`` is taken as ``sk``) and captured from ``lens``; no other request leaves before
    they are in (one memory latency per kernel).

    Members
    -------
    start : In(1)          pulse: ``descriptor`` holds an accepted ATTN descriptor
    descriptor : In(descriptor_layout)
    lens : In(stream)      the length row's chunks (``{data}``, bus_bytes)
    req : Out(stream)      row requests to :class:`hybridgen.rtl.mem.dma.ReadDma` (kind
                           :data:`KIND_K` .. :data:`KIND_LENS`)
    info : Out(stream(tile_info_layout))   one beat per K group (position tile) requested
    token : Out(stream(1)) per job in (batch, kv head) order: 1 if this unit reads a tile
    job : Out(attn_job_layout)             latched at ``start``
    finished : Out(1)      every request issued (until the next ``start``)
    channel : In(range(channels))   the channel number when ``index`` is ``None`` (held)
    """

    def __init__(self, geometry, index=None):
        self._g, self._index = geometry, index
        g = geometry
        super().__init__({
            "channel": In(range(max(g.channels, 2))),
            "start": In(1), "descriptor": In(descriptor_layout(g.addr_bits)),
            "lens": In(stream.Signature(data.StructLayout({"data": 8 * g.bus_bytes}))),
            "req": Out(stream.Signature(row_request_layout(g.addr_bits, 2))),
            "info": Out(stream.Signature(tile_info_layout())),
            "token": Out(stream.Signature(1)),
            "job": Out(attn_job_layout()),
            "finished": Out(1),
        })

    def _shape(self, m, src):
        """The latched job and its derived figures (combinational on the latch)."""
        g, C = self._g, self._g.channels
        a = g.addr_bits
        names = ("batch", "hq", "hkv", "d", "sk", "q_addr", "lens_addr", "k_addr", "v_addr")
        job = {name: Signal.like(getattr(src, name), name=f"j_{name}") for name in names}
        with m.If(self.start):
            m.d.sync += [job[name].eq(getattr(src, name)) for name in names]
            m.d.sync += [self.job.dim_tiles.eq(src.d >> 5), self.job.fmt.eq(src.kv_format)]
        fmt = self.job.fmt
        tb = Signal(12)
        m.d.comb += tb.eq(Mux(fmt == KvFormat.BFP4, KV_TILE_BYTES["bfp4"],
                              Mux(fmt == KvFormat.BF16, KV_TILE_BYTES["bf16"],
                                  KV_TILE_BYTES["bfp8"])))
        group = Signal(range(g.attn_heads + 1))            # g = hq / hkv (checked: 1..heads)
        for k in range(1, g.attn_heads + 1):
            with m.If(job["hq"] == job["hkv"] * k):
                m.d.comb += group.eq(k)
        tiles = Signal(DIM_BITS)                           # T = ceil(sk / 32)
        slots = Signal(DIM_BITS)                           # TC = ceil(T / C)
        group_bytes = Signal(24)                           # one slot: D tiles
        region = Signal(a)                                 # one job's slots
        q_row = Signal(24)                                 # the job's q rows: g d bf16
        m.d.comb += [tiles.eq((job["sk"] + POSITIONS - 1) >> 5),
                     slots.eq((tiles + C - 1) >> exact_log2(C)),
                     group_bytes.eq(self.job.dim_tiles * tb), region.eq(slots * group_bytes),
                     q_row.eq((group * job["d"]) << 1)]
        return job, group_bytes, region, q_row

    def _lens(self, m, batch):
        """Capture the length row into ``max_batch`` registers; (lengths, all in)."""
        g = self._g
        per_chunk = g.bus_bytes // 4
        lens = [Signal(32, name=f"len{i}") for i in range(g.max_batch)]
        chunk = Signal(range(g.max_batch // per_chunk + 2))
        got = Signal(BATCH_BITS + 6)
        m.d.comb += self.lens.ready.eq(1)
        with m.If(self.start):
            m.d.sync += [chunk.eq(0), got.eq(0)]
        with m.Elif(self.lens.valid):
            m.d.sync += [chunk.eq(chunk + 1), got.eq(got + per_chunk)]
            for i, reg in enumerate(lens):
                with m.If(chunk == i // per_chunk):
                    word = self.lens.payload.data[32 * (i % per_chunk):][:32]
                    m.d.sync += reg.eq(word)
        return lens, got >= batch

    def elaborate(self, platform):
        m = Module()
        g, C = self._g, self._g.channels
        c = self.channel if self._index is None else self._index
        a = g.addr_bits
        job, group_bytes, region, q_row = self._shape(m, self.descriptor)
        lens, lens_in = self._lens(m, job["batch"])
        req, info = self.req, self.info

        b_i, h_i = Signal(BATCH_BITS), Signal(HEAD_BITS)
        k_ptr, v_ptr, q_ptr = Signal(a), Signal(a), Signal(a)   # the job's K, V and q rows
        k_cur, v_cur = Signal(a), Signal(a)
        pending, pend_ptr = Signal(), Signal(a)                  # a job's last V group, unread
        n = Signal(DIM_BITS)                                     # the unit's tiles of the job
        s = Signal(DIM_BITS)                                     # step: K_s, then V_{s-1}
        t = Signal(DIM_BITS)                                     # global tile of K_s
        length = Signal(DIM_BITS + 1)
        raw = Signal(32)
        with m.Switch(b_i):
            for i, reg in enumerate(lens):
                with m.Case(i):
                    m.d.comb += raw.eq(reg)
        m.d.comb += length.eq(Mux(raw > job["sk"], job["sk"], raw))
        have = Signal(DIM_BITS)                                  # T_b = ceil(len / 32)
        m.d.comb += have.eq((length + POSITIONS - 1) >> 5)
        rem = Signal(DIM_BITS + 1)
        m.d.comb += rem.eq(length - (t << 5))

        def request(valid, addr, nbytes, kind):
            m.d.comb += [req.valid.eq(valid), req.payload.addr.eq(addr),
                         req.payload.nbytes.eq(nbytes), req.payload.kind.eq(kind)]

        def read_pending(then, *updates):
            """The pending V group, if there is one, then state ``then`` (with ``updates``)."""
            request(pending, pend_ptr, group_bytes, KIND_V)
            with m.If(~pending | req.ready):
                m.d.sync += [pending.eq(0), *updates]
                m.next = then

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.finished.eq(1)
                with m.If(self.start):
                    m.next = "LENS"
            with m.State("LENS"):
                request(1, job["lens_addr"], job["batch"] << 2, KIND_LENS)
                with m.If(req.ready):
                    m.next = "LENS_WAIT"
            with m.State("LENS_WAIT"):
                m.d.sync += [b_i.eq(0), h_i.eq(0), k_ptr.eq(job["k_addr"]),
                             v_ptr.eq(job["v_addr"]), q_ptr.eq(job["q_addr"])]
                with m.If(lens_in):
                    m.next = "JOB"
            with m.State("JOB"):
                m.d.sync += n.eq(Mux(have > c, ((have - (c + 1)) >> exact_log2(C)) + 1, 0))
                m.next = "TOKEN"
            with m.State("TOKEN"):
                m.d.comb += [self.token.valid.eq(1), self.token.payload.eq(n != 0)]
                m.d.sync += [s.eq(0), t.eq(c), k_cur.eq(k_ptr), v_cur.eq(v_ptr)]
                with m.If(self.token.ready):
                    m.next = "Q_OR_NEXT"
            with m.State("Q_OR_NEXT"):
                with m.If(n == 0):
                    m.next = "NEXT"
                    with m.If(pending):
                        m.next = "FLUSH"
                with m.Else():
                    request(1, q_ptr, q_row, KIND_Q)
                    with m.If(req.ready):
                        m.next = "K"
            with m.State("K"):
                with m.If(s == n):
                    m.next = "V"
                with m.Else():
                    request(info.ready, k_cur, group_bytes, KIND_K)
                    m.d.comb += [info.valid.eq(req.ready),
                                 info.payload.count.eq(Mux(rem >= POSITIONS, POSITIONS, rem)),
                                 info.payload.first.eq(s == 0),
                                 info.payload.last.eq(s == n - 1)]
                    with m.If(req.ready & info.ready):
                        m.d.sync += [k_cur.eq(k_cur + group_bytes), t.eq(t + C)]
                        m.next = "V"
            with m.State("V"):
                with m.If(s == 0):
                    # after K_0: the previous job's last V group, if it is still to be read
                    read_pending("K", s.eq(1))
                with m.Elif(s == n):
                    # the job's last V group waits for the next job's K_0 (or the end)
                    m.d.sync += [pending.eq(1), pend_ptr.eq(v_cur)]
                    m.next = "NEXT"
                with m.Else():
                    request(1, v_cur, group_bytes, KIND_V)
                    with m.If(req.ready):
                        m.d.sync += [v_cur.eq(v_cur + group_bytes), s.eq(s + 1)]
                        m.next = "K"
            with m.State("NEXT"):
                m.d.sync += [k_ptr.eq(k_ptr + region), v_ptr.eq(v_ptr + region),
                             q_ptr.eq(q_ptr + q_row), h_i.eq(h_i + 1)]
                last_head = h_i == job["hkv"] - 1
                with m.If(last_head):
                    m.d.sync += [h_i.eq(0), b_i.eq(b_i + 1)]
                with m.If(last_head & (b_i == job["batch"] - 1)):
                    m.next = "END"
                with m.Else():
                    m.next = "JOB"
            # a job without a tile here, or the end: the pending V group is read now (the
            # combine waits for its partial, and tokens are only TOKEN_DEPTH deep)
            with m.State("FLUSH"):                       # entered only with pending set
                read_pending("NEXT")
            with m.State("END"):
                read_pending("IDLE")
        return m
