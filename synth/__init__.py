"""Yosys synthesis flow: per-module area (standard cells + SRAM macros) and logic depth."""

from .flow import SynthError, synthesize

__all__ = ["SynthError", "synthesize"]
