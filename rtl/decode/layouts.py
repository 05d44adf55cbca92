"""Codes, widths and payload layouts of the decode array's host interface.

The host interface (descriptor in, completion out) is what the generated register map
(``<top>_regs.json`` / ``_regs.h``, :mod:`hybridgen.gen.regmap`) documents.
"""

from amaranth.lib import data, enum

from hybridgen.rtl.ctrl.counters import counter_layout
from hybridgen.rtl.ctrl.descriptor import completion_layout as _completion_layout

__all__ = ["DIM_BITS", "BATCH_BITS", "COUNTER_BITS", "Op", "KvFormat", "KV_FORMAT_NAMES",
           "Error", "COUNTED",
           "STALL_CLASSES", "DESCRIPTOR_DOCS", "descriptor_layout", "counter_names",
           "counter_docs", "counters_layout", "completion_layout"]

#: Width of k and n in a descriptor.
DIM_BITS = 20
#: Width of the descriptor's batch field.
BATCH_BITS = 8
#: Width of every performance counter and of the completion's error flags.
COUNTER_BITS = 32
OP_BITS = 8
#: Width of the decode-attention head counts and head dimension.
HEAD_BITS = 16


class Op(enum.Enum, shape=OP_BITS):
    """The kernel a descriptor runs."""
    GEMV = 0
    SSM_STEP = 1   # the Mamba-2 decode step (rtl/decode/ssm_channel.py)
    ATTN = 2       # decode attention over a packed KV cache (rtl/decode/attn_unit.py)


class KvFormat(enum.Enum, shape=2):
    """The descriptor's ``kv_format``: the format of the K and V tiles in memory."""
    BFP8 = 0
    BFP4 = 1
    BF16 = 2


class Error(enum.Flag, shape=COUNTER_BITS):
    """Error flags of the completion beat (0: the kernel ran)."""
    OP = 1           # an op code this array does not run
    BATCH = 2        # batch is 0 or above max_batch
    SHAPE = 4        # k or n is 0
    K_TOO_LARGE = 8  # k above max_k (the activation buffer)
    SSM_SHAPE = 16   # decode step: batch, heads, headdim or dstate 0, or above the buffers
    ATTN_SHAPE = 32  # decode attention: batch 0 or above max_batch; hq, hkv, sk 0; d not a
                     # multiple of 32 in 32..attn_max_d; hq not hkv * g with g in 1..attn_heads
    ATTN_FORMAT = 64  # decode attention: a kv_format this array's read path does not decode


#: :class:`KvFormat` by its name in the configuration and on the command line
KV_FORMAT_NAMES = {"bfp8": KvFormat.BFP8, "bfp4": KvFormat.BFP4, "bf16": KvFormat.BF16}


#: The counters the array's counter bank holds; every counted cycle is in exactly one of the
#: classes :data:`STALL_CLASSES` (they add up to ``cycles``).
COUNTED = ("cycles", "busy_cycles", "stall_memory", "stall_compute", "stall_drain")
STALL_CLASSES = COUNTED[1:]

DESCRIPTOR_DOCS = {
    "op": "0 GEMV (y = x @ W), 1 decode step, 2 decode attention", "batch": "rows of x and y (1..max_batch)",
    "k": "columns of x, rows of W (1..max_k)", "n": "columns of W and y (>= 1)",
    "w_addr": "byte address of W in every channel's memory (channel layout: "
              "<top>_layout.json)",
    "x_addr": "byte address of x[0][0] in channel 0's memory",
    "ldx": "bytes from x[b][0] to x[b+1][0]",
    "y_addr": "byte address of y[0][0] (y[b][col] is written in the channel of col)",
    "ldy": "bytes from y[b][0] to y[b+1][0]",
    "heads": "decode step: heads per batch element",
    "headdim": "decode step: p (1..ssm_headdim)", "dstate": "decode step: n (1..ssm_dstate)",
    "flags": "decode step: 1 softplus on dt, 2 z (y *= silu(z)), 4 bf16 state (else fp32)",
    "state_addr": "decode step: the state in every channel (channel layout: <top>_layout.json)",
    "record_addr": "decode step: the head records in every channel",
    "q_addr": "decode attention: q [b, hq, d] bf16 in every channel's memory (a copy each)",
    "lens_addr": "decode attention: cache lengths, uint32 [b], in every channel's memory",
    "k_addr": "decode attention: the channel's K tiles (channel layout: <top>_layout.json)",
    "v_addr": "decode attention: the channel's V tiles",
    "o_addr": "decode attention: o [b, hq, d] bf16, written by channel 0",
    "hq": "decode attention: q heads (hkv * g, g in 1..attn_heads)",
    "hkv": "decode attention: kv heads (>= 1)",
    "d": "decode attention: head dimension (a multiple of 32, <= attn_max_d)",
    "sk": "decode attention: positions allocated per (batch, kv head) (>= 1); a length "
          "above sk is taken as sk",
    "kv_format": "decode attention: 0 BFP8, 1 BFP4, 2 bf16 tiles (one the build decodes)",
}


def descriptor_layout(addr_bits):
    """One kernel: op code (:class:`Op`), shape, addresses and row strides (bytes)."""
    return data.StructLayout({
        "op": Op, "batch": BATCH_BITS, "k": DIM_BITS, "n": DIM_BITS,
        "w_addr": addr_bits, "x_addr": addr_bits, "ldx": addr_bits,
        "y_addr": addr_bits, "ldy": addr_bits,
        "heads": 16, "headdim": 16, "dstate": 16, "flags": 4,
        "state_addr": addr_bits, "record_addr": addr_bits,
        "q_addr": addr_bits, "lens_addr": addr_bits, "k_addr": addr_bits,
        "v_addr": addr_bits, "o_addr": addr_bits, "hq": HEAD_BITS, "hkv": HEAD_BITS,
        "d": HEAD_BITS, "sk": DIM_BITS, "kv_format": KvFormat,
    })


def counter_names(channels):
    """Completion counters: :data:`COUNTED`, then bytes read and written per channel."""
    return COUNTED + tuple(f"read_bytes{c}" for c in range(channels)) \
        + tuple(f"write_bytes{c}" for c in range(channels))


def counter_docs(channels):
    docs = {
        "cycles": "descriptor accepted to last write response",
        "busy_cycles": "every channel with beats left consumed a beat of W",
        "stall_memory": "a channel with beats left waited for its W beat (or for x)",
        "stall_compute": "a beat was there but the lanes could not take it (results queue)",
        "stall_drain": "no beat left: accumulator flush and the last writes",
        "error": "0 ok; 1 unknown op, 2 batch 0 or > max_batch, 4 k or n zero, "
                 "8 k > max_k, 16 decode-step shape 0 or above the buffers, 32 decode-attention "
                 "shape (batch, hq, hkv, d, sk), 64 decode-attention kv_format not built",
    }
    for c in range(channels):
        docs[f"read_bytes{c}"] = f"bytes of row data read by channel {c}"
        docs[f"write_bytes{c}"] = f"bytes written by channel {c}"
    return docs


def counters_layout(channels):
    return counter_layout(counter_names(channels), COUNTER_BITS)


def completion_layout(channels):
    """Counters (:func:`counter_names` order) and the error flags (:class:`Error`)."""
    return _completion_layout(counters_layout(channels), Error)
