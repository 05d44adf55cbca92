"""The loop nest of the PipeFlash controller: one *row-tile item* per cycle over a whole kernel.

Loop order (docs/ursc.md "PipeFlash"), for an attention descriptor
(:func:`~hybridgen.rtl.ursc.attention_desc.attention_descriptor`)::

    for batch < b, q head < hq, q-block q0 = 0, block_q, ... < sq:    (rows = min(block_q, sq - q0))
      for key block j0 = 0, block_k, ... (causal: only up to the last key the block's last row
                                          sees; at least block 0, so every row tile is finalized)
        for row tile t0 = 0, lanes, ... < rows:                      (tile = min(lanes, rows - t0))
          item

An item carries what the engines need for that (row tile, key block) pair: ``kv_head`` (GQA:
``head // (hq / hkv)``, computed incrementally as ``floor(head * hkv / hq)``), the block and
tile origins and sizes, ``visible`` = the keys of the block that the tile's *last* row sees
(bottom-right causal: query i sees key j iff ``j <= i + sk - sq``; a row tile's rows see a
prefix of the block, the last row the longest; 0: the tile skips the block: no S tile, no P V,
its state is kept), ``first`` (key block 0: initialize m, l, O) and ``last`` (the last visited
key block: finalize ``O * (1/l)`` and store the tile), ``end`` (the kernel's last item).

:func:`attention_items` is the reference; the tests compare the RTL with it item by item.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .attention_desc import attention_descriptor

__all__ = ["item_layout", "attention_items", "AttentionSequencer"]


def item_layout(lanes):
    """Payload of one item (field widths follow :func:`attention_descriptor`)."""
    return data.StructLayout({
        "batch": 16, "head": 8, "kv_head": 8, "q0": 24, "rows": 16, "j0": 24, "keys": 16,
        "t0": 16, "tile": range(lanes + 1), "visible": 16, "first": 1, "last": 1, "end": 1,
    })


def attention_items(*, b, sq, sk, hq, hkv, block_q, block_k, causal, lanes, **_ignored):
    """Reference item stream (a list of dicts) of an accepted descriptor (module docstring)."""
    def limit(i):  # keys visible to query row i
        return max(0, min(sk, i + 1 + sk - sq)) if causal else sk

    items = []
    for batch in range(b):
        for head in range(hq):
            kv_head = head * hkv // hq
            for q0 in range(0, sq, block_q):
                rows = min(block_q, sq - q0)
                reach = limit(q0 + rows - 1)
                blocks = max(1, -(-reach // block_k))
                for j in range(blocks):
                    j0 = j * block_k
                    keys = min(block_k, sk - j0)
                    for t0 in range(0, rows, lanes):
                        tile = min(lanes, rows - t0)
                        visible = max(0, min(keys, limit(q0 + t0 + tile - 1) - j0))
                        items.append(dict(batch=batch, head=head, kv_head=kv_head, q0=q0,
                                          rows=rows, j0=j0, keys=keys, t0=t0, tile=tile,
                                          visible=visible, first=int(j == 0),
                                          last=int(j == blocks - 1), end=0))
    items[-1]["end"] = 1
    return items


class AttentionSequencer(wiring.Component):
    """The loop nest of the module docstring as a stream of items, one per cycle.

    ``desc`` must hold an accepted descriptor (``attention_errors`` = 0) from ``start`` until
    the ``end`` item is accepted. ``start`` (a pulse while not ``busy``) begins the kernel;
    ``items`` then offers the items in order (``valid`` stays high until ``end`` is accepted;
    back-pressure on ``ready`` holds the item); ``busy`` is high from the cycle after
    ``start`` until the cycle the ``end`` item is accepted.

    Parameters
    ----------
    lanes : int
        Rows of a row tile (the DPE's ``dpe_lanes``).

    Members
    -------
    desc : In(attention_descriptor())
    start : In(1)
    items : Out(stream.Signature(item_layout(lanes)))
    busy : Out(1)
    """

    def __init__(self, *, lanes):
        self._lanes = lanes
        super().__init__({"desc": In(attention_descriptor()), "start": In(1),
                          "items": Out(stream.Signature(item_layout(lanes))),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        desc, lanes = self.desc, self._lanes
        batch, head, kv, rem = Signal(16), Signal(8), Signal(8), Signal(8)
        q0, j0, t0 = Signal(24), Signal(24), Signal(16)

        def smaller(a, b):
            return Mux(a < b, a, b)

        rows = Signal(16)
        keys = Signal(16)
        tile = Signal(range(lanes + 1))
        m.d.comb += [rows.eq(smaller(desc.block_q, desc.sq - q0)),
                     keys.eq(smaller(desc.block_k, desc.sk - j0)),
                     tile.eq(smaller(lanes, rows - t0))]

        def limit(row):
            """Keys visible to query ``row`` (a Value), clamped to 0 ... sk."""
            ahead, raw = Signal(signed(28)), Signal(signed(28))
            out = Signal(25)
            m.d.comb += [ahead.eq(row + 1 + desc.sk), raw.eq(ahead - desc.sq)]
            m.d.comb += out.eq(Mux(~desc.causal, desc.sk,
                                   Mux(raw < 0, 0, Mux(raw > desc.sk, desc.sk, raw))))
            return out

        reach = limit(q0 + rows - 1)
        tile_limit = limit(q0 + t0 + tile - 1)
        visible = Signal(16)
        m.d.comb += visible.eq(Mux(tile_limit <= j0, 0, smaller(tile_limit - j0, keys)))
        last = (j0 + desc.block_k) >= reach
        tile_last = (t0 + lanes) >= rows
        q_last = (q0 + desc.block_q) >= desc.sq
        head_last = (head + 1) == desc.hq
        batch_last = (batch + 1) == desc.b
        end = tile_last & last & q_last & head_last & batch_last

        item = self.items.payload
        m.d.comb += [item.batch.eq(batch), item.head.eq(head), item.kv_head.eq(kv),
                     item.q0.eq(q0), item.rows.eq(rows), item.j0.eq(j0), item.keys.eq(keys),
                     item.t0.eq(t0), item.tile.eq(tile), item.visible.eq(visible),
                     item.first.eq(j0 == 0), item.last.eq(last), item.end.eq(end),
                     self.items.valid.eq(self.busy)]

        with m.If(self.start & ~self.busy):
            m.d.sync += [self.busy.eq(1), batch.eq(0), head.eq(0), kv.eq(0), rem.eq(0),
                         q0.eq(0), j0.eq(0), t0.eq(0)]
        with m.If(self.items.valid & self.items.ready):
            with m.If(~tile_last):
                m.d.sync += t0.eq(t0 + lanes)
            with m.Else():
                m.d.sync += t0.eq(0)
                with m.If(~last):
                    m.d.sync += j0.eq(j0 + desc.block_k)
                with m.Else():
                    m.d.sync += j0.eq(0)
                    with m.If(~q_last):
                        m.d.sync += q0.eq(q0 + desc.block_q)
                    with m.Else():
                        m.d.sync += q0.eq(0)
                        # kv = floor(head * hkv / hq): rem = head * hkv mod hq, hkv <= hq.
                        step = rem + desc.hkv
                        with m.If(~head_last):
                            m.d.sync += head.eq(head + 1)
                            with m.If(step >= desc.hq):
                                m.d.sync += [rem.eq(step - desc.hq), kv.eq(kv + 1)]
                            with m.Else():
                                m.d.sync += rem.eq(step)
                        with m.Else():
                            m.d.sync += [head.eq(0), kv.eq(0), rem.eq(0)]
                            with m.If(~batch_last):
                                m.d.sync += batch.eq(batch + 1)
                            with m.Else():
                                m.d.sync += self.busy.eq(0)
        return m
