"""The scheduling tokens the engine's agents hand each other, and their one owner.

Every token is a register of :class:`Tokens`; an agent changes one only by a pulse on its
port (one bit per bank: the change applies to that bank). When several pulses change the same
bank of a token in one cycle, the later in this list wins (the order is part of the schedule):

* ``start`` (the job signature): every token to its initial value;
* requests: ``spad_take`` (scratchpad bank now filling: not free), ``b_claim`` (weight slot
  claimed by the B fetch);
* fills: ``rows_inc`` (one more A row in the scratchpad bank), ``slot_fill`` (weight slot
  holds its job's B rows);
* weight loader: ``slot_done`` (weights shifted out of the slot: slot empty, unclaimed, and
  the weight bank in use), ``bank_ready`` (weight bank holds the next job's tile);
* WS feed: ``acc_claim`` (accumulator bank taken by an N tile), ``bank_used`` (the job's
  weight bank consumed), ``spad_release`` (scratchpad bank free, no rows), ``bank_release``
  (weight bank free: its last A row left the array);
* OS feed: ``acc_claim``, ``slot_done`` (B slab consumed: slot empty and unclaimed),
  ``spad_release``;
* accumulate: ``final_inc`` (one more final row written into the accumulator bank),
  ``os_end`` with ``os_end_write`` (OS: a job's last result written: rows up to the final
  count, plus this one if written, are in);
* write-back: ``acc_release`` (accumulator bank written back: free, no final rows).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Tokens", "requests_tokens", "fills_tokens", "loader_tokens", "ws_feed_tokens",
           "os_feed_tokens", "accumulate_tokens", "writeback_tokens"]


def _rows(acc_rows):
    return range(acc_rows + 1)


def requests_tokens():
    """The request arbiter's port (its direction)."""
    return wiring.Signature({"spad_take": Out(2), "b_claim": Out(2), "spad_free": In(2),
                             "slot_full": In(2), "b_slot_busy": In(2)})


def fills_tokens():
    return wiring.Signature({"rows_inc": Out(2), "slot_fill": Out(2)})


def loader_tokens():
    return wiring.Signature({"slot_done": Out(2), "bank_ready": Out(2), "bank_free": In(2),
                             "slot_full": In(2)})


def ws_feed_tokens(acc_rows):
    return wiring.Signature({"acc_claim": Out(2), "bank_used": Out(2), "spad_release": Out(2),
                             "bank_release": Out(2), "bank_loaded": In(2),
                             "rows_loaded": In(_rows(acc_rows)).array(2), "acc_free": In(2)})


def os_feed_tokens(acc_rows):
    return wiring.Signature({"acc_claim": Out(2), "slot_done": Out(2), "spad_release": Out(2),
                             "slot_full": In(2), "rows_loaded": In(_rows(acc_rows)).array(2),
                             "acc_free": In(2)})


def accumulate_tokens():
    return wiring.Signature({"final_inc": Out(2), "os_end": Out(2), "os_end_write": Out(1)})


def writeback_tokens(acc_rows):
    return wiring.Signature({"acc_release": Out(2),
                             "final_rows": In(_rows(acc_rows)).array(2),
                             "os_final": In(_rows(acc_rows)).array(2)})


class Tokens(wiring.Component):
    """Owner of the shared scheduling tokens (see the module docstring); two banks each.

    Members
    -------
    start : In(1)
        Every token to its initial value (scratchpad, weight and accumulator banks free;
        slots empty; no rows).
    requests, fills, loader, ws_feed, os_feed, accumulate, writeback : In(<agent>_tokens)
        Each agent's pulses (in) and the tokens it reads (out); ``rows_loaded``,
        ``final_rows`` and ``os_final`` are row counts per bank.
    """

    def __init__(self, geometry):
        acc_rows = geometry.acc_rows
        super().__init__({
            "start": In(1),
            "requests": In(requests_tokens()), "fills": In(fills_tokens()),
            "loader": In(loader_tokens()), "ws_feed": In(ws_feed_tokens(acc_rows)),
            "os_feed": In(os_feed_tokens(acc_rows)), "accumulate": In(accumulate_tokens()),
            "writeback": In(writeback_tokens(acc_rows)),
        })
        self._acc_rows = acc_rows

    def elaborate(self, platform):
        m = Module()
        rq, fl, ld, ws, os_, ac, wb = (self.requests, self.fills, self.loader, self.ws_feed,
                                       self.os_feed, self.accumulate, self.writeback)
        acc_rows = self._acc_rows
        spad_free = Signal(2, init=0b11)      # scratchpad bank may take a new M block
        rows_loaded = [Signal(_rows(acc_rows), name=f"rows_loaded{i}") for i in range(2)]
        slot_full = Signal(2)                 # weight buffer slot holds a job's B rows
        b_slot_busy = Signal(2)               # slot claimed by the fetcher, not yet loaded
        bank_free = Signal(2, init=0b11)      # weight bank may be overwritten
        bank_loaded = Signal(2)               # weight bank holds the next job's tile
        acc_free = Signal(2, init=0b11)       # accumulator bank may take a new N tile
        # rows of the N tile in each accumulator bank whose final value is written
        final_rows = [Signal(_rows(acc_rows), name=f"final_rows{i}") for i in range(2)]
        # OS: rows of the N tile below which every result is written (results of a job arrive
        # in any order; at the end of a job's results all rows up to its last are in)
        os_final = [Signal(_rows(acc_rows), name=f"os_final{i}") for i in range(2)]

        m.d.comb += [rq.spad_free.eq(spad_free), rq.slot_full.eq(slot_full),
                     rq.b_slot_busy.eq(b_slot_busy),
                     ld.bank_free.eq(bank_free), ld.slot_full.eq(slot_full),
                     ws.bank_loaded.eq(bank_loaded), ws.acc_free.eq(acc_free),
                     os_.slot_full.eq(slot_full), os_.acc_free.eq(acc_free)]
        for i in range(2):
            m.d.comb += [ws.rows_loaded[i].eq(rows_loaded[i]),
                         os_.rows_loaded[i].eq(rows_loaded[i]),
                         wb.final_rows[i].eq(final_rows[i]), wb.os_final[i].eq(os_final[i])]

        with m.If(self.start):
            m.d.sync += [spad_free.eq(0b11), slot_full.eq(0), bank_free.eq(0b11),
                         bank_loaded.eq(0), acc_free.eq(0b11), b_slot_busy.eq(0)]
            m.d.sync += [s.eq(0) for s in final_rows + os_final + rows_loaded]
        # the agents' pulses, in schedule order (a later one wins)
        for i in range(2):
            with m.If(rq.b_claim[i]):
                m.d.sync += b_slot_busy[i].eq(1)
            with m.If(rq.spad_take[i]):
                m.d.sync += spad_free[i].eq(0)
            with m.If(fl.rows_inc[i]):
                m.d.sync += rows_loaded[i].eq(rows_loaded[i] + 1)
            with m.If(fl.slot_fill[i]):
                m.d.sync += slot_full[i].eq(1)
            with m.If(ld.slot_done[i]):
                m.d.sync += [bank_free[i].eq(0), slot_full[i].eq(0), b_slot_busy[i].eq(0)]
            with m.If(ld.bank_ready[i]):
                m.d.sync += bank_loaded[i].eq(1)
            with m.If(ws.acc_claim[i]):
                m.d.sync += acc_free[i].eq(0)
            with m.If(ws.bank_used[i]):
                m.d.sync += bank_loaded[i].eq(0)
            with m.If(ws.spad_release[i]):
                m.d.sync += [spad_free[i].eq(1), rows_loaded[i].eq(0)]
            with m.If(ws.bank_release[i]):
                m.d.sync += bank_free[i].eq(1)
            with m.If(os_.acc_claim[i]):
                m.d.sync += acc_free[i].eq(0)
            with m.If(os_.slot_done[i]):
                m.d.sync += [slot_full[i].eq(0), b_slot_busy[i].eq(0)]
            with m.If(os_.spad_release[i]):
                m.d.sync += [spad_free[i].eq(1), rows_loaded[i].eq(0)]
            with m.If(ac.final_inc[i]):
                m.d.sync += final_rows[i].eq(final_rows[i] + 1)
            with m.If(ac.os_end[i]):
                m.d.sync += os_final[i].eq(final_rows[i] + ac.os_end_write)
            with m.If(wb.acc_release[i]):
                m.d.sync += [acc_free[i].eq(1), final_rows[i].eq(0), os_final[i].eq(0)]
        return m
