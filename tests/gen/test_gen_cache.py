"""The generation cache (``$HYBRIDGEN_GEN_CACHE``, gen/elaborate.py): a hit returns exactly
what a fresh elaboration returns, and the key separates presets, overrides and top names."""

from hybridgen.gen import elaborate


def _fresh(monkeypatch, *args, **kwargs):
    monkeypatch.delenv("HYBRIDGEN_GEN_CACHE", raising=False)
    return elaborate.generate(*args, **kwargs)


def test_cache_hit_equals_fresh_generation(tmp_path, monkeypatch):
    fresh = _fresh(monkeypatch, "mac-int8")
    monkeypatch.setenv("HYBRIDGEN_GEN_CACHE", str(tmp_path))
    miss = elaborate.generate("mac-int8")
    assert len(list(tmp_path.glob("*.json"))) == 1
    calls = []
    monkeypatch.setattr(elaborate, "_generate", lambda *a: calls.append(a))
    hit = elaborate.generate("mac-int8")
    assert not calls, "a cached design was elaborated again"
    for design in (miss, hit):
        assert design.verilog == fresh.verilog
        assert design.sidecar == miss.sidecar
        assert design.extra_files == fresh.extra_files
        assert design.top == fresh.top


def test_cache_key_separates_presets_overrides_and_tops(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRIDGEN_GEN_CACHE", str(tmp_path))
    designs = [elaborate.generate("mac-int8"), elaborate.generate("mac-bf16"),
               elaborate.generate("mac-int8", ["dtype=bf16"]),
               elaborate.generate("mac-int8", top="other_top")]
    assert len(list(tmp_path.glob("*.json"))) == 4
    assert [d.top for d in designs][3] == "other_top"
    assert designs[2].sidecar["overrides"] == ["dtype=bf16"]
    assert designs[2].verilog != designs[0].verilog
    for design, args in zip(designs, [("mac-int8",), ("mac-bf16",), ("mac-int8", ["dtype=bf16"])]):
        assert design.verilog == _fresh(monkeypatch, *args).verilog
