"""The PipeFlash attention descriptor of the URSC controller: its layout, its error codes and the
combinational verdict the controller gives :class:`~hybridgen.rtl.ctrl.descriptor.DescriptorIntake`.

One descriptor runs one whole attention kernel: Q [b, sq, hq, d] at ``q_addr``, K and V
[b, sk, hkv, d] at ``k_addr`` / ``v_addr``, O [b, sq, hq, d] at ``o_addr`` (all bf16, row-major,
byte addresses), ``causal`` (bottom-right aligned), ``scale`` (fp32 bits) and the block sizes
``block_q`` x ``block_k``. The semantics are those of :func:`hybridgen.golden.ursc.ursc_attention`.

The limits a descriptor must meet (:func:`attention_errors` is the reference; the RTL check
:class:`AttentionCheck` computes the same code, bit for bit, and the tests compare the two):

==============  ===========================================================================
code (flag)     raised when
==============  ===========================================================================
``SHAPE``       ``b``, ``sq``, ``sk``, ``hq`` or ``hkv`` is 0
``HEADS``       ``hq`` is not a multiple of ``hkv`` (GQA: q head i reads kv head
                ``i // (hq / hkv)``)
``HEAD_DIM``    ``d`` outside 16 ... 256
``BLOCK``       ``block_q`` or ``block_k`` is 0
``MEMORY``      the blocks do not fit the memories of the configuration
                (:func:`attention_footprint`, docs/ursc.md "Memory footprints")
``SCALE``       ``scale`` is not a finite fp32 (its exponent field is all ones)
==============  ===========================================================================

Every violated limit sets its flag (the code is the OR); 0 accepts the descriptor.
"""

from amaranth.hdl import Module, Mux
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AttentionError", "attention_descriptor", "attention_footprint",
           "attention_capacity", "attention_errors", "AttentionCheck", "HEAD_DIM_RANGE"]

#: Inclusive range of the head dimension the controller runs.
HEAD_DIM_RANGE = (16, 256)


class AttentionError(enum.Flag, shape=8):
    """Error flags of an attention descriptor (module docstring); 0 is success."""
    SHAPE = 1
    HEADS = 2
    HEAD_DIM = 4
    BLOCK = 8
    MEMORY = 16
    SCALE = 32


def attention_descriptor():
    """Payload of an attention descriptor beat (field widths are the register widths)."""
    return data.StructLayout({
        "q_addr": 64, "k_addr": 64, "v_addr": 64, "o_addr": 64,
        "b": 16, "sq": 24, "sk": 24, "hq": 8, "hkv": 8, "d": 9,
        "block_q": 16, "block_k": 16, "causal": 1, "scale": 32,
    })


def attention_footprint(*, lanes, block_q, block_k, d):
    """Bytes each on-chip memory must hold for blocks of ``block_q`` x ``block_k`` at head
    dimension ``d`` with ``lanes`` rows per DPE tile (docs/ursc.md "Memory footprints"):

    * ``operand`` (per DPE): K_j (DPE0) or V_j (DPE1), bf16, double-buffered:
      ``2 * block_k * d * 2``;
    * ``global``: the Q block (bf16) and the fp32 O accumulators, double-buffered:
      ``block_q * d * 2 + 2 * block_q * d * 4``;
    * ``vmem``: S (fp32) and P (bf16) rows of one row tile, double-buffered:
      ``2 * lanes * block_k * (4 + 2)``;
    * ``umem``: m and l (fp32) of the q-block, double-buffered: ``2 * 2 * block_q * 4``.
    """
    return {"operand": 4 * block_k * d, "global": 10 * block_q * d,
            "vmem": 12 * lanes * block_k, "umem": 16 * block_q}


def attention_capacity(config):
    """Bytes of each memory of a :class:`~hybridgen.gen.blocks.ursc.UrscConfig`, keyed as
    :func:`attention_footprint`."""
    return {"operand": config.operand_kib * 1024, "global": config.global_kib * 1024,
            "vmem": config.vmem_kib * 1024, "umem": config.umem_kib * 1024}


def attention_errors(config, *, b, sq, sk, hq, hkv, d, block_q, block_k, scale, **_ignored):
    """Reference verdict on a descriptor (ints; ``scale`` as fp32 bits): the
    :class:`AttentionError` code, 0 if accepted. Address and ``causal`` fields never fail."""
    code = AttentionError(0)
    if 0 in (b, sq, sk, hq, hkv):
        code |= AttentionError.SHAPE
    if hkv and hq % hkv:
        code |= AttentionError.HEADS
    if not HEAD_DIM_RANGE[0] <= d <= HEAD_DIM_RANGE[1]:
        code |= AttentionError.HEAD_DIM
    if 0 in (block_q, block_k):
        code |= AttentionError.BLOCK
    need = attention_footprint(lanes=config.dpe_lanes, block_q=block_q, block_k=block_k, d=d)
    have = attention_capacity(config)
    if any(need[name] > have[name] for name in need):
        code |= AttentionError.MEMORY
    if (scale >> 23) & 0xFF == 0xFF:
        code |= AttentionError.SCALE
    return code


class AttentionCheck(wiring.Component):
    """Combinational verdict on an attention descriptor: ``error`` is exactly
    :func:`attention_errors` of ``desc`` for the configuration given.

    Parameters
    ----------
    config : UrscConfig
        Supplies ``dpe_lanes`` and the memory sizes.

    Members
    -------
    desc : In(attention_descriptor())
    error : Out(AttentionError)
    """

    def __init__(self, config):
        self._lanes = config.dpe_lanes
        self._capacity = attention_capacity(config)
        super().__init__({"desc": In(attention_descriptor()), "error": Out(AttentionError)})

    def elaborate(self, platform):
        m = Module()
        desc, E = self.desc, AttentionError
        low, high = HEAD_DIM_RANGE
        need = attention_footprint(lanes=self._lanes, block_q=desc.block_q,
                                   block_k=desc.block_k, d=desc.d)
        over = 0
        for name, bytes_ in self._capacity.items():
            over = over | (need[name] > bytes_)
        code = [
            ((desc.b == 0) | (desc.sq == 0) | (desc.sk == 0) | (desc.hq == 0)
             | (desc.hkv == 0), E.SHAPE),
            # Amaranth defines x % 0 = 0, so hkv = 0 raises SHAPE alone, as the reference.
            ((desc.hq % desc.hkv) != 0, E.HEADS),
            ((desc.d < low) | (desc.d > high), E.HEAD_DIM),
            ((desc.block_q == 0) | (desc.block_k == 0), E.BLOCK),
            (over, E.MEMORY),
            (desc.scale[23:31] == 0xFF, E.SCALE),
        ]
        value = 0
        for cond, flag in code:
            value = value | Mux(cond, flag.value, 0)
        m.d.comb += self.error.as_value().eq(value)
        return m
