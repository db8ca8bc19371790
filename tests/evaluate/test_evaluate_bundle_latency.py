"""`edgevla bench latency`: per-block and end-to-end timings of a bundle beside eager."""

from __future__ import annotations

import json

from edgevla.cli import main


def test_bench_latency_times_each_block_and_eager_on_the_same_inputs(
    fp32_bundle, tiny_export_inputs, tmp_path, capsys
):
    checkpoint, _ = tiny_export_inputs
    argv = ["bench", "latency", "--policy", str(fp32_bundle), "--compare", str(checkpoint),
            "--runs", "3", "--warmup", "1", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| backbone | fp32 |" in printed and "| PyTorch eager | fp32 |" in printed
    result = json.loads((tmp_path / "latency.json").read_text())
    blocks = result["bundle"]["blocks"]
    assert set(blocks) == {"backbone", "transformer"}
    assert all(0 < b["p50_ms"] <= b["p95_ms"] for b in blocks.values())
    assert result["speedup_p50"] > 0 and result["bundle"]["size_mb"] > 0


def test_bench_latency_of_a_broken_bundle_is_one_line(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text("{}")
    assert main(["bench", "latency", "--policy", str(tmp_path)]) == 2
    assert "schema_version None is not one this runtime reads" in capsys.readouterr().err
