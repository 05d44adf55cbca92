"""Compiler-output cache for the Verilator runtime: ``OBJCACHE="python -m hybridgen.verif.objcache"``.

Every Verilator build compiles the same runtime sources (``verilated.cpp``, ``verilated_vpi.cpp``,
``verilated_threads.cpp``, ``verilated_dpi.cpp`` and cocotb's ``verilator.cpp``) again: about
12 s of CPU per build, against about 1 s for a small design's own code. Verilator's makefile
runs every compile as ``$(OBJCACHE) $(CXX) ...``; with ``OBJCACHE`` pointing here, a compile
of a source outside the build directory (the runtime, which never changes within an install)
is done once and its object and dependency files are copied into every later build. Anything
else (the design's own ``Vtop__ALL.cpp``, the precompiled header) is run unchanged.

The cache entry is keyed by the compiler command (without the output name), the compiler
executable and the source's bytes; the dependency file written by ``-MMD`` lists the headers,
whose bytes are checked on every hit (a changed header is a miss; cocotb's ``verilator.cpp``
includes the design's ``Vtop.h``, so it is reused only between builds with the same header). Entries live in
``$HYBRIDGEN_OBJCACHE_DIR`` (the test suite sets ``build/objcache``). A file lock per entry lets
concurrent builds (pytest-xdist workers) compile each runtime file once between them.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _parse(args):
    """(output, source) of a ``-c -o OUT SRC`` compile, or None when not cacheable."""
    if "-c" not in args or "-o" not in args:
        return None
    output = args[args.index("-o") + 1]
    sources = [a for a in args if a.endswith((".cpp", ".cc", ".c")) and not a.startswith("-")]
    if len(sources) != 1 or not os.path.isabs(sources[0]) or os.path.isabs(output):
        return None
    source = sources[0]
    if Path(source).resolve().is_relative_to(Path.cwd().resolve()):
        return None  # generated in the build directory: the design's own code
    return output, source


def _dependencies(dep_file):
    """Headers listed in a make dependency file (``-MMD`` output)."""
    text = Path(dep_file).read_text().replace("\\\n", " ")
    _, _, deps = text.partition(":")
    return sorted({d for d in deps.split() if d and not d.endswith(":")})


def _key(args, output, source):
    command = [a if a != output else "<out>" for a in args]
    compiler = shutil.which(args[0]) or args[0]
    stat = os.stat(compiler) if os.path.exists(compiler) else None
    return hashlib.sha256(json.dumps(
        [command, compiler, stat and (stat.st_size, stat.st_mtime_ns), _digest(source)]
    ).encode()).hexdigest()[:24]


def _valid(entry):
    manifest = entry / "manifest.json"
    if not manifest.exists():
        return False
    deps = json.loads(manifest.read_text())
    return all(os.path.exists(path) and _digest(path) == digest for path, digest in deps.items())


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    parsed = _parse(args)
    root = os.environ.get("HYBRIDGEN_OBJCACHE_DIR")
    if parsed is None or not root:
        return subprocess.call(args)
    output, source = parsed
    dep_file = str(Path(output).with_suffix(".d"))
    entry = Path(root) / f"{Path(output).stem}-{_key(args, output, source)}"
    from filelock import FileLock

    entry.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(entry) + ".lock"):
        if _valid(entry):
            shutil.copyfile(entry / "object", output)
            if (entry / "deps").exists():
                shutil.copyfile(entry / "deps", dep_file)
            return 0
        code = subprocess.call(args)
        if code != 0:
            return code
        shutil.rmtree(entry, ignore_errors=True)
        entry.mkdir()
        shutil.copyfile(output, entry / "object")
        deps = {}
        if os.path.exists(dep_file):
            shutil.copyfile(dep_file, entry / "deps")
            # relative paths (cocotb's verilator.cpp includes the design's Vtop.h) are checked
            # in the build directory of the hit: another design's header is a miss
            deps = {path: _digest(path) for path in _dependencies(dep_file)
                    if os.path.exists(path)}
        deps[source] = _digest(source)
        (entry / "manifest.json").write_text(json.dumps(deps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
