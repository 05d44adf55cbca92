"""The Verilator runtime object cache (``hybridgen.verif.objcache``) with a stand-in compiler.

A compile of a source outside the build directory runs once and is copied afterwards; a changed
header or source is a miss; the design's own sources (inside the build directory) always compile.
"""

import sys
from pathlib import Path

from hybridgen.verif import objcache

FAKE_COMPILER = """
import sys
from pathlib import Path
args = sys.argv[1:]
out, src = args[args.index("-o") + 1], args[-1]
calls = Path(sys.argv[0]).with_name("calls")
calls.write_text(str(int(calls.read_text()) + 1) if calls.exists() else "1")
header = Path(src).with_name("runtime.h")
Path(out).write_text(Path(src).read_text() + header.read_text())
Path(out).with_suffix(".d").write_text(f"{out}: {src} \\\\\\n  {header}\\n")
"""


def _setup(tmp_path, monkeypatch):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "cc.py").write_text(FAKE_COMPILER)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "runtime.cpp").write_text("runtime source\n")
    (runtime / "runtime.h").write_text("runtime header\n")
    monkeypatch.setenv("HYBRIDGEN_OBJCACHE_DIR", str(tmp_path / "cache"))
    return tools, runtime


def _compile(tmp_path, monkeypatch, build, tools, source):
    directory = tmp_path / build
    directory.mkdir(exist_ok=True)
    monkeypatch.chdir(directory)
    code = objcache.main([sys.executable, str(tools / "cc.py"), "-Os", "-MMD", "-c", "-o",
                          "runtime.o", str(source)])
    assert code == 0
    return directory


def _calls(tools):
    return int((tools / "calls").read_text())


def test_runtime_compiled_once_and_copied(tmp_path, monkeypatch):
    tools, runtime = _setup(tmp_path, monkeypatch)
    first = _compile(tmp_path, monkeypatch, "build1", tools, runtime / "runtime.cpp")
    second = _compile(tmp_path, monkeypatch, "build2", tools, runtime / "runtime.cpp")
    assert _calls(tools) == 1
    for name in ("runtime.o", "runtime.d"):
        assert (second / name).read_text() == (first / name).read_text()


def test_changed_header_or_source_is_a_miss(tmp_path, monkeypatch):
    tools, runtime = _setup(tmp_path, monkeypatch)
    _compile(tmp_path, monkeypatch, "build1", tools, runtime / "runtime.cpp")
    (runtime / "runtime.h").write_text("another header\n")
    again = _compile(tmp_path, monkeypatch, "build2", tools, runtime / "runtime.cpp")
    assert _calls(tools) == 2
    assert (again / "runtime.o").read_text() == "runtime source\nanother header\n"
    (runtime / "runtime.cpp").write_text("another source\n")
    again = _compile(tmp_path, monkeypatch, "build3", tools, runtime / "runtime.cpp")
    assert _calls(tools) == 3
    assert (again / "runtime.o").read_text() == "another source\nanother header\n"


def test_sources_in_the_build_directory_always_compile(tmp_path, monkeypatch):
    tools, _ = _setup(tmp_path, monkeypatch)
    for build in ("build1", "build2"):
        directory = tmp_path / build
        directory.mkdir()
        (directory / "Vtop__ALL.cpp").write_text("design\n")
        (directory / "runtime.h").write_text("header\n")
        _compile(tmp_path, monkeypatch, build, tools, directory / "Vtop__ALL.cpp")
    assert _calls(tools) == 2
    assert not Path(tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
