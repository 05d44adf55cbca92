"""The single import root: every module imports as ``hybridgen.<folder>...`` and nothing else.

``setup.py`` maps the design card's top-level folders to subpackages of ``hybridgen``; these tests
check that the mapping covers every package folder and that no source file imports a folder as a
top-level module (which would work from a checkout and break after ``pip install .``).
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("rtl", "gen", "golden", "verif", "synth", "bench")
_BARE_IMPORT = re.compile(rf"^\s*(from|import)\s+({'|'.join(FOLDERS)})(\.|\s|$)", re.M)
_BARE_MODULE_STRING = re.compile(rf"[\"']({'|'.join(FOLDERS)})\.[a-z_]+\.[a-z_]+[\"']")


def _python_files():
    for folder in (*FOLDERS, "tests", "hybridgen"):
        yield from (ROOT / folder).rglob("*.py")


def test_every_package_folder_is_mapped():
    import hybridgen
    for folder in FOLDERS:
        for init in (ROOT / folder).rglob("__init__.py"):
            dotted = ".".join(("hybridgen", *init.parent.relative_to(ROOT).parts))
            module = __import__(dotted, fromlist=["_"])
            assert Path(module.__file__).resolve() == init.resolve(), dotted
    assert hybridgen.__doc__


def test_no_bare_top_level_imports():
    offenders = []
    for path in _python_files():
        text = path.read_text()
        for pattern in (_BARE_IMPORT, _BARE_MODULE_STRING):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0).strip()}")
    assert not offenders, "imports outside the hybridgen root:\n" + "\n".join(offenders)
