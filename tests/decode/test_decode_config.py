"""Decode array configuration, presets, generation (register map, channel layout) and the
one-line errors of ``generate`` and ``bench gemv`` (no simulation)."""

import json
import subprocess
import sys

import pytest

from hybridgen.gen.elaborate import generate, write_design
from hybridgen.gen.errors import ConfigError
from hybridgen.gen.presets import resolve
from hybridgen.rtl.decode.geometry import DecodeGeometry


def test_presets_and_derived_figures():
    _, small = resolve("decode-small")
    assert small.peak_bytes_per_cycle == 256 and small.peak_macs_per_cycle == 1024
    assert small.peak_macs_per_cycle >= 4 * small.peak_bytes_per_cycle
    assert small.outstanding >= 64 and small.max_k >= 4096
    # bytes in flight cover latency 128 x 64 bytes per cycle per channel
    assert small.bytes_in_flight >= 128 * small.bus_bits // 8
    _, spad = resolve("spad-decode-core")
    assert spad.channels == 1 and spad.bus_bits == 256 and spad.peak_macs_per_cycle == 512
    _, duet = resolve("duet-decode-package")
    assert duet.peak_bytes_per_cycle == 1024 and duet.peak_macs_per_cycle == 4096
    _, tiny = resolve("decode-tiny")
    assert (tiny.channels, tiny.bus_bits, tiny.max_batch, tiny.interleave) == (2, 128, 4, 4)


@pytest.mark.parametrize("assignment, message", [
    ("dot=16", "dot: must be bus_bits / 16 = 32 (a lane takes one beat per cycle), not 16"),
    ("max_batch=4", "max_batch: must be units * width / channels = 8 (one lane per batch "
                    "element per channel), not 4"),
    ("channels=3", "channels: must be a power of two in 1..64, not 3"),
    ("bus_bits=1024", "bus_bits: must be a power of two in 64..512, not 1024"),
    ("kv_formats=bfp8,mx4", "kv_formats: must be distinct names from bfp8, bfp4, bf16, not "
                            "'bfp8,mx4'"),
    ("state_dtype=fp16", "state_dtype: must be one of 'fp32', 'bf16', not 'fp16'"),
])
def test_bad_values_name_the_field(assignment, message):
    _, config = resolve("decode-small")
    with pytest.raises(ConfigError) as info:
        config.override([assignment])
    assert str(info.value) == message


def test_geometry_rejects_bad_values():
    with pytest.raises(ValueError, match="dot"):
        DecodeGeometry(units=1, width=1, dot=4, channels=1, bus_bytes=16, addr_bits=32,
                       outstanding=1, max_batch=1, x_kib=1)


def test_generate_writes_register_map_and_layout(tmp_path):
    design = generate("decode-tiny")
    paths = write_design(design, tmp_path)
    names = {p.name for p in paths}
    assert {"decode_tiny.v", "decode_tiny_regs.json", "decode_tiny_regs.h",
            "decode_tiny_layout.json"} <= names
    regs = json.loads((tmp_path / "decode_tiny_regs.json").read_text())
    fields = {f["name"] for f in regs["descriptor"]["fields"]}
    assert {"op", "batch", "k", "n", "w_addr", "x_addr", "ldx", "y_addr", "ldy",
            "heads", "headdim", "dstate", "flags", "state_addr", "record_addr",
            "q_addr", "lens_addr", "k_addr", "v_addr", "o_addr", "hq", "hkv", "d", "sk",
            "kv_format"} == fields
    completion = {f["name"] for f in regs["completion"]["fields"]}
    assert {"cycles", "stall_memory", "stall_compute", "stall_drain", "read_bytes1",
            "write_bytes0", "error"} <= completion
    layout = json.loads((tmp_path / "decode_tiny_layout.json").read_text())
    assert layout["interleave"] == 4 and layout["channels"] == 2
    assert layout["ssm_step"]["chunk_values"] == 4 and "state" in layout["ssm_step"]
    ports = {p["name"] for p in design.sidecar["ports"]}
    assert {"m_axi__0__araddr", "m_axi__1__wdata", "desc__payload"} <= ports


@pytest.mark.parametrize("argv, message", [
    (["generate", "decode-tiny", "--set", "dot=4"],
     "dot: must be bus_bits / 16 = 8 (a lane takes one beat per cycle), not 4"),
    (["bench", "gemv", "--preset", "decode-tiny", "--batch", "5"],
     "--batch: must be in 1..4 (max_batch), not 5"),
    (["bench", "gemv", "--preset", "decode-tiny", "--k", "0"],
     "--k: must be in 1..256 (max_k), not 0"),
])
def test_cli_errors_are_one_line(tmp_path, argv, message):
    run = subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", *argv, *(
        ["--out", str(tmp_path)] if argv[0] == "generate" else [])],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not list(tmp_path.iterdir())
