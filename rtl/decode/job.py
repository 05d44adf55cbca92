"""The job parameters the controller hands every channel (registered, stable while a job runs)."""

from amaranth.lib import data

from .layouts import BATCH_BITS, DIM_BITS

__all__ = ["job_layout"]


def job_layout(geometry):
    """``batch``, ``k``, ``n``, ``chunks`` (KC = ceil(k / V)), ``groups`` (G = ceil(n / I)) and the
    descriptor's addresses and strides."""
    a = geometry.addr_bits
    return data.StructLayout({
        "batch": BATCH_BITS, "k": DIM_BITS, "n": DIM_BITS, "chunks": DIM_BITS,
        "groups": DIM_BITS, "w_addr": a, "x_addr": a, "ldx": a, "y_addr": a, "ldy": a,
    })
