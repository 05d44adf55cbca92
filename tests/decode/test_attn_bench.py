"""``hybridgen bench decode-attn``: the one-line errors of its flags (no simulation) and, under
``-m slow``, the JSON and npz contract end to end on ``decode-attn-tiny`` (Icarus)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from hybridgen.gen.cli import main
from hybridgen.golden.decode_attn import decode_attention_bytes


def _bench(*argv, timeout=120):
    return subprocess.run([sys.executable, "-m", "hybridgen.gen.cli", "bench", "decode-attn",
                           *argv], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("argv, message", [
    (["--preset", "decode-tiny"], "--preset: this preset has no decode-attention hardware "
                                  "(attn_heads = 0)"),
    (["--preset", "decode-attn-tiny", "--d", "48"], "--d: must be a multiple of 32 in 32..128, "
                                                    "not 48"),
    (["--preset", "decode-attn-tiny", "--hq", "6", "--hkv", "2"],
     "--hq: must be hkv x g with g in 1..2 (attn_heads), not 6"),
    (["--preset", "decode-attn-tiny", "--batch", "3"], "--batch: must be in 1..2 (max_batch), "
                                                       "not 3"),
    (["--preset", "decode-attn-tiny", "--batch", "2", "--sk", "40", "--cache-lens", "41,3"],
     "--cache-lens: must be 2 lengths in 0..40, not 41,3"),
    (["--preset", "decode-attn-tiny", "--cache-lens", "x"],
     "--cache-lens: must be comma-separated integers, not 'x'"),
    (["--preset", "decode-attn-tiny", "--set", "kv_formats=bfp8", "--kv-format", "bf16"],
     "--kv-format: must be one of bfp8 (kv_formats), not bf16"),
])
def test_bench_errors_are_one_line(argv, message, capsys):
    # in-process (hybridgen.gen.cli.main, what the command runs): a subprocess per case costs
    # an import of ~10 s on the loaded machine; test_decode_config runs the command itself
    assert main(["bench", "decode-attn", *argv]) == 2
    err = capsys.readouterr().err
    assert err == f"hybridgen: error: {message}\n", err


@pytest.mark.slow
@pytest.mark.sims("icarus")
def test_bench_decode_attn_json_and_npz(tmp_path, sim):
    save = tmp_path / "attn.npz"
    run = _bench("--preset", "decode-attn-tiny", "--batch", "2", "--sk", "50", "--hq", "2",
                 "--hkv", "1", "--d", "64", "--kv-format", "bfp4", "--cache-lens", "50,0",
                 "--sim", sim, "--seed", "3", "--save", str(save), "--json", timeout=1800)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["correct"] and result["guard_ok"]
    assert result["bytes"] == decode_attention_bytes(2, 2, 1, 64, [50, 0], "bfp4")
    assert result["write_bytes"] == [2 * 2 * 2 * 64, 0]          # o only: no dequantized copy
    assert result["kv_bytes"] == 2 * 2 * 2 * 576 and result["kv_bytes_bf16"] == 2 * 2 * 2 * 2048
    assert result["counter_cycles"] == result["cycles"]
    assert sum(result["stalls"].values()) == result["cycles"]
    with np.load(save) as npz:
        assert npz["k_packed"].shape == (2, 1, 2, 2, 576) and npz["o"].shape == (2, 2, 64)
        assert list(npz["cache_lens"]) == [50, 0]
        assert np.all(npz["o"][1] == 0)                           # length 0: o = +0
