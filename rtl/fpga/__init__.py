"""FPGA support: the on-chip self-test top (:mod:`hybridgen.rtl.fpga.selftest`) that
``hybridgen fpga`` builds around a block for a board (docs/fpga.md)."""

from .selftest import Crc32, Lfsr16, RomSource, SelfTest, SignatureMonitor, StreamCheck

__all__ = ["StreamCheck", "Crc32", "Lfsr16", "RomSource", "SignatureMonitor", "SelfTest"]
