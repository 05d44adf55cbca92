"""Area breakdown by module groups (``hybridgen synth`` of blocks that define ``area_groups``)."""

from hybridgen.synth.flow import area_breakdown


def _module(instances, logic, memory=0.0, flops=0, depth=0):
    return {"instances": instances, "logic_area_um2": logic, "memory_area_um2": memory,
            "flops": flops, "logic_depth": depth}


def test_groups_count_every_instance_and_keep_macros_apart():
    result = {"modules": {
        "top": _module(1, 100.0, memory=1000.0, flops=10, depth=7),
        "top__pe_int8": _module(16, 10.0, flops=5, depth=39),
        "top__core_4x4": _module(1, 0.0),
        "top.reader": _module(1, 50.0, flops=3, depth=12),
        "top.reader.rows": _module(1, 5.0, memory=20.0, depth=2),
    }}
    groups = {"array": ["__pe_", "__core_"], "dma": [".reader"], "controller": []}
    out = area_breakdown(result, groups)
    assert list(out) == ["array", "dma", "controller", "memories (SRAM macros)"]
    assert out["array"] == {"area_um2": 160.0, "flops": 80, "logic_depth": 39}
    assert out["dma"] == {"area_um2": 55.0, "flops": 3, "logic_depth": 12}
    assert out["controller"] == {"area_um2": 100.0, "flops": 10, "logic_depth": 7}
    assert out["memories (SRAM macros)"]["area_um2"] == 1020.0


def test_unmatched_modules_go_to_other_without_a_catch_all():
    out = area_breakdown({"modules": {"x": _module(2, 1.5)}}, {"array": ["__pe_"]})
    assert out["other"]["area_um2"] == 3.0 and out["array"]["area_um2"] == 0.0
