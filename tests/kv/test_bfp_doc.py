"""The worked examples of docs/bfp.md, checked entry by entry against golden/kvquant.py.

The tests read the tables and the tile dumps of the doc's "Worked examples" section, so the doc
cannot drift from the model: every shared exponent, shifted significand, code, decoded bf16 pattern
and packed byte written there is recomputed here.
"""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from hybridgen.golden.kvquant import (bfp_decode_blocks_bf16_bits, bfp_encode_blocks,
                                      bfp_pack_tile)

DOC = Path(__file__).resolve().parents[2] / "docs" / "bfp.md"


def _section(text, heading):
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def _tables(section):
    """[(caption, [row dicts])] of every markdown table in ``section``; the caption is the
    nearest non-empty line above the table."""
    tables, lines = [], section.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("| ---"):
            caption = next(line for line in reversed(lines[:i]) if line.strip())
            header = [cell.strip() for cell in lines[i].strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = [cell.strip() for cell in lines[i].strip().strip("|").split("|")]
                rows.append(dict(zip(header, cells)))
                i += 1
            tables.append((caption, rows))
        else:
            i += 1
    return tables


def _value(text):
    """Python float of a value as the doc writes it (``2^-10``, ``-1.5 * 2^-7``, ``inf``, ...)."""
    text = text.strip()
    if text == "NaN":
        return math.nan
    expression = text.replace("^", "**").replace("inf", "math.inf")
    if not re.fullmatch(r"[-+*/.() 0-9a-z]+", expression):
        raise ValueError(f"not a value: {text!r}")
    return float(eval(expression, {"__builtins__": {}, "math": math}))


def _hex(text):
    return int(text.strip(), 16)


SECTION = _section(DOC.read_text(), "Worked examples")
TABLES = _tables(SECTION)
ENCODE_TABLES = [(caption, rows) for caption, rows in TABLES if "fp32 bits" in rows[0]]
DECODE_TABLES = [(caption, rows) for caption, rows in TABLES if "bf16" in rows[0]]


def _face_row(rows):
    """The 16 fp32 bit patterns of an example (``(x n)`` repeats a row n times)."""
    bits = []
    for row in rows:
        repeat = re.search(r"\(x (\d+)\)", row["value"])
        count = int(repeat.group(1)) if repeat else 1
        value = _value(re.sub(r"\(x \d+\)", "", row["value"]))
        pattern = _hex(row["fp32 bits"])
        if math.isnan(value):
            assert (pattern >> 23) & 0xFF == 0xFF and pattern & 0x7FFFFF, row
        else:
            assert pattern == int(np.float32(value).view(np.uint32)), row
        bits += [pattern] * count
    assert len(bits) == 16, f"a face row has 16 values, the example has {len(bits)}"
    return np.array(bits, np.uint32)


def test_the_doc_has_its_examples():
    assert len(ENCODE_TABLES) == 3 and len(DECODE_TABLES) == 1
    assert "1.0" == ENCODE_TABLES[0][1][0]["value"]


def _example_id(caption):
    found = re.search(r"Example (\d+)", caption) if isinstance(caption, str) else None
    return f"example{found.group(1)}" if found else None


@pytest.mark.parametrize("caption, rows", ENCODE_TABLES,
                         ids=[_example_id(caption) for caption, _ in ENCODE_TABLES])
def test_encode_example(caption, rows):
    bits = _face_row(rows)
    stated_e = int(re.search(r"`E = (\d+)`", caption).group(1))
    for fmt in ("bfp8", "bfp4"):
        exponent, codes = bfp_encode_blocks(bits, fmt)
        decoded = bfp_decode_blocks_bf16_bits(exponent, codes, fmt)
        assert int(exponent) == stated_e, (caption, fmt)
        index = 0
        for row in rows:
            pattern = _hex(row["fp32 bits"])
            e = (pattern >> 23) & 0xFF
            assert int(row["e"]) == e, row
            if row["E - e"] != "-":
                assert int(row["E - e"]) == stated_e - e, row
                m = (1 << 23) | (pattern & 0x7FFFFF)
                shift = stated_e - e
                assert _hex(row["m >> (E - e)"]) == (m >> shift if shift < 24 else 0), row
            name = fmt.upper()
            assert int(codes[index]) == _hex(row[f"{name} code"]), (row, fmt)
            assert int(decoded[index]) == _hex(row[f"{name} decoded"]), (row, fmt)
            index += int(re.search(r"\(x (\d+)\)", row["value"]).group(1)) \
                if "(x " in row["value"] else 1


def _dump(text):
    """Bytes of a dump like ``7F 00*63 | 40 30 A0 00 00*1020``."""
    out = bytearray()
    for token in text.replace("|", " ").split():
        byte, _, count = token.partition("*")
        out += bytes([int(byte, 16)]) * (int(count) if count else 1)
    return bytes(out)


def test_packed_tiles_of_example_1():
    dumps = dict(re.findall(r"^(BFP[48]) tile \(\d+ bytes\): (.*)$", SECTION, re.M))
    sizes = dict(re.findall(r"^(BFP[48]) tile \((\d+) bytes\):", SECTION, re.M))
    assert set(dumps) == {"BFP8", "BFP4"}
    tile = np.zeros((32, 32), np.uint32)
    tile[0, :16] = _face_row(ENCODE_TABLES[0][1])
    for name, dump in dumps.items():
        packed = bfp_pack_tile(tile.view(np.float32), name.lower())
        assert len(packed) == int(sizes[name])
        assert _dump(dump) == packed, name


@pytest.mark.parametrize("row", DECODE_TABLES[0][1] if DECODE_TABLES else [],
                         ids=lambda r: f"{r['format']}-{r['E']}-{r['code']}")
def test_decode_example(row):
    codes = np.zeros(16, np.uint8)
    codes[0] = _hex(row["code"])
    bits = int(bfp_decode_blocks_bf16_bits(np.uint8(int(row["E"])), codes, row["format"])[0])
    assert bits == _hex(row["bf16"])
    value = float((np.uint32(bits) << np.uint32(16)).view(np.float32))
    stated = _value(row["value"])
    assert value == stated and math.copysign(1, value) == math.copysign(1, stated)
