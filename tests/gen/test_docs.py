"""Every reference in the code and the docs points at a file of the repository.

* No file cites the private design brief the project started from (its contracts are
  docs/numerics.md, docs/bfp.md, docs/cli.md and docs/DEVELOPING.md now).
* Every repository path cited in a ``.py`` or ``.md`` file (``docs/*.md``, ``rtl/**.py``,
  ``golden/``, ``verif/``, ``bench/``, ``gen/``, ``synth/``, ``tests/``) exists.
* Every relative link of a Markdown file (``[text](target)``) resolves from that file's folder.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Folders never scanned when git cannot list the files.
_SKIP_DIRS = {".git", ".venv", "build", "__pycache__", ".pytest_cache", ".hypothesis",
              "sim_build"}

#: The brief's name, assembled so that this file does not cite it itself.
_BRIEF = "DESIGN" + ".md"
#: The brief as cited: by file name, or by a section number after its name (4a, 5, ...).
BRIEF_CITATION = re.compile(r"\bDESIGN(?:\.md\b| \d)")

#: A repository path: docs pages, or Python files under the top-level folders.
PATH_CITATION = re.compile(
    r"(?<![\w./-])((?:docs/[\w./-]*?\.md)|(?:(?:rtl|golden|verif|bench|gen|synth|tests)/"
    r"[\w./-]*?\.py))(?![\w/-])")
#: A relative Markdown link target.
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")

#: Paths that are examples in prose, not references (docs/DEVELOPING.md's template test).
PLACEHOLDERS = {"tests/x/test_x_cocotb.py"}


def repository_files():
    """The tracked files of the checkout (relative paths); every file but the ignored folders
    when git cannot tell (a source tree without ``.git``)."""
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                                check=True, timeout=60)
        files = [Path(line) for line in listed.stdout.splitlines() if line]
    except (OSError, subprocess.SubprocessError):
        files = [path.relative_to(ROOT) for path in ROOT.rglob("*")
                 if path.is_file() and not (_SKIP_DIRS & set(path.relative_to(ROOT).parts))
                 and not any(part.endswith(".egg-info") for part in path.parts)]
    return sorted(path for path in files if (ROOT / path).is_file())


#: This file, which holds deliberately bad examples for the self-test, is not scanned.
SELF = Path(__file__).resolve().relative_to(ROOT)
FILES = [path for path in repository_files() if path != SELF]
SOURCES = [path for path in FILES if path.suffix in (".py", ".md")]


def _text(path):
    try:
        return (ROOT / path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""


def brief_citations(files):
    """``[(file, line number, line)]`` of every citation of the brief in ``files``."""
    found = []
    for path in files:
        for number, line in enumerate(_text(path).splitlines(), 1):
            if BRIEF_CITATION.search(line):
                found.append((str(path), number, line.strip()))
    return found


def cited_paths(text):
    """Repository paths cited in ``text``, placeholders (``<block>``, ``x``) excluded."""
    return {path for path in PATH_CITATION.findall(text)
            if "<" not in path and "*" not in path and path not in PLACEHOLDERS}


def missing_paths(files):
    """``[(file, cited path)]`` for every cited path that does not exist."""
    missing = []
    for path in files:
        for cited in sorted(cited_paths(_text(path))):
            if not (ROOT / cited).exists():
                missing.append((str(path), cited))
    return missing


def broken_links(files):
    """``[(file, link target)]`` for relative Markdown links that do not resolve."""
    broken = []
    for path in files:
        if path.suffix != ".md":
            continue
        for target in MARKDOWN_LINK.findall(_text(path)):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # http(s), mailto, in-page anchors
            if not ((ROOT / path).parent / target.split("#")[0]).exists():
                broken.append((str(path), target))
    return broken


def test_the_scan_sees_the_repository():
    names = {str(path) for path in SOURCES}
    assert {"README.md", "docs/numerics.md", "docs/bfp.md", "docs/cli.md",
            "docs/DEVELOPING.md", "gen/cli.py", "tests/kv/test_bfp_doc.py"} <= names
    assert len(SOURCES) > 100


def test_no_file_cites_the_private_brief():
    found = brief_citations(FILES)
    assert not found, f"{_BRIEF} is not in the repository; cite docs/*.md instead: {found}"


def test_every_cited_path_exists():
    assert not missing_paths(SOURCES)


def test_every_markdown_link_resolves():
    assert not broken_links(SOURCES)


@pytest.mark.parametrize("text, expected", [
    ("see docs/bfp.md and rtl/kv/bfp.py, golden/kvquant.py::bfp_pack_tile",
     {"docs/bfp.md", "rtl/kv/bfp.py", "golden/kvquant.py"}),
    ("`tests/kv/test_kv_cocotb.py` (tests/kv)", {"tests/kv/test_kv_cocotb.py"}),
    ("gen/blocks/<block>.py, verif/<block>/tb_*.py, bench/<kernel>.py, gen/presets/*.toml", set()),
    ("tests/x/test_x_cocotb.py", set()),
    ("hybridgen/gen/cli.py is not a repository path; neither is rtl.kv.bfp", set()),
])
def test_citation_patterns(text, expected):
    assert cited_paths(text) == expected


def test_the_checks_can_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        f"See {_BRIEF} section 4a, docs/missing.md, rtl/nowhere.py and [b](b.md).\n")
    (tmp_path / "x.py").write_text('"""Numerics: DESIGN 4a."""\n')
    files = [Path("docs/a.md"), Path("x.py")]
    assert [(f, n) for f, n, _ in brief_citations(files)] == [("docs/a.md", 1), ("x.py", 1)]
    assert missing_paths(files) == [("docs/a.md", "docs/missing.md"),
                                    ("docs/a.md", "rtl/nowhere.py")]
    assert broken_links(files) == [("docs/a.md", "b.md")]
