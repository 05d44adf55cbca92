"""Kernels run on the generated RTL: ``hybridgen bench KERNEL --preset P ...``.

The contract (docs/cli.md, "hybridgen bench"), implemented once here for every kernel:

* inputs are random from ``--seed`` (drawn and reported when not given) or read from
  ``--inputs F.npz`` (same layout as ``--save``; only the input keys are needed);
* the design is generated from the preset with ``--set`` overrides; kernel flags that mirror
  configuration fields (``--dtype``, ...) are aliases of ``--set field=value`` and a conflict with
  an explicit ``--set`` is an error;
* the kernel runs on the RTL through cocotb; cycles are counted by the testbench from the first
  input accepted to the last output accepted;
* ``correct`` compares every output with the bit-exact golden model;
* ``--save F.npz`` writes every input and output as raw bit patterns plus ``meta`` (a JSON
  string: kernel, preset, resolved config, seed, the format of every key, git revision, tool
  versions);
* ``--json`` prints exactly one JSON object with ``kernel, preset, sim, shape, correct, cycles,
  ideal_cycles, utilization, wall_s`` and kernel-specific figures.

A kernel is a :class:`Kernel` subclass registered in :data:`KERNELS`.
"""

from .kernel import Kernel, run_bench
from .mac import MacKernel
from .gemm import GemmKernel
from .kvcodec import KvCodecKernel
from .vector import SfuKernel, VectorKernel
from .gemv import GemvKernel
from .ssm_step import SsmStepKernel
from .attention import AttentionKernel
from .decode_attn import DecodeAttnKernel

KERNELS = {kernel.name: kernel for kernel in (MacKernel(), GemmKernel(), SfuKernel(), VectorKernel(),
                                              KvCodecKernel(), GemvKernel(),
                                              SsmStepKernel(), DecodeAttnKernel(),
                                              AttentionKernel())}

__all__ = ["KERNELS", "Kernel", "run_bench"]
