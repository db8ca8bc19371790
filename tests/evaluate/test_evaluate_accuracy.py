"""`edgevla bench accuracy`: per recipe, a bundle, its errors against fp32, its latency and its
closed-loop success, as one table; bad input refused before any export."""

from __future__ import annotations

import json
import shutil

import pytest

from edgevla.cli import main
from edgevla.evaluate.accuracy import AccuracyBenchConfig
from edgevla.export.testing import loose_recipe

QUICK = ["--clusters", "1", "--holdout", "none", "--sets", "test", "--episodes", "1",
         "--max-seconds", "0.3", "--latency-runs", "2", "--error-frames", "2", "--no-progress"]  # fmt: skip


def _argv(checkpoint, dataset, out, recipes: str) -> list[str]:
    return ["bench", "accuracy", "--policy", str(checkpoint), "--dataset", str(dataset),
            "--recipes", recipes, "--out", str(out), *QUICK]  # fmt: skip


def test_the_table_has_a_row_per_recipe_with_errors_latency_and_success(
    tiny_export_inputs, fp32_bundle, tmp_path, capsys
):
    checkpoint, dataset = tiny_export_inputs
    out = tmp_path / "acc"
    shutil.copytree(fp32_bundle, out / "bundles" / "fp32")  # reused: same checkpoint and recipe
    assert main(_argv(checkpoint, dataset, out, "fp32")) == 0, capsys.readouterr().err
    table = (out / "results.md").read_text()
    assert "| recipe | latency p50 ms | size MB |" in table
    assert "| `fp32` |" in table and "x eager" in table and "/1 = " in table
    assert table in capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    (row,) = data["recipes"]
    assert row["vs_fp32"]["end_to_end"]["max_abs"] == 0.0  # the reference against itself
    assert set(row["vs_fp32"]["blocks"]) == {"backbone", "transformer"}
    assert row["gate_vs_pytorch"]["end_to_end"]["passed"]
    assert row["latency"]["end_to_end"]["p50_ms"] > 0 and data["eager"]["end_to_end"]["p50_ms"] > 0
    assert row["success"]["test"]["episodes"] == 1 and len(row["episodes"]) == 1
    config = json.loads((out / "config.json").read_text())
    assert config["recipes"] == ["fp32"] and config["episodes_per_set"] == 1


def test_an_unknown_recipe_is_refused_naming_the_shipped_ones(tiny_export_inputs, tmp_path, capsys):
    checkpoint, dataset = tiny_export_inputs
    out = tmp_path / "acc"
    assert main(_argv(checkpoint, dataset, out, "optimized,int9")) == 2
    err = capsys.readouterr().err
    assert "'int9' is neither a shipped recipe" in err and "fp32, int8-dynamic" in err
    assert not out.exists()  # refused before any export


def test_fp32_is_added_as_the_reference_and_bad_configs_are_named(tiny_export_inputs):
    checkpoint, dataset = tiny_export_inputs
    common = {"policy": str(checkpoint), "dataset": str(dataset), "clusters": (1,), "holdout": None}
    with pytest.raises(ValueError, match="must include 'fp32'"):
        AccuracyBenchConfig(**common, recipes=("optimized",))
    with pytest.raises(ValueError, match=r"named twice: \['fp32'\]"):
        AccuracyBenchConfig(**common, recipes=("fp32", "x/fp32.json"))
    with pytest.raises(ValueError, match="evaluation sets"):
        AccuracyBenchConfig(**common, sets=("validation",)).starts()  # no held-out cluster


def test_missing_inputs_are_one_line_errors(tiny_export_inputs, tmp_path, capsys):
    checkpoint, dataset = tiny_export_inputs
    assert main(_argv(checkpoint, tmp_path / "nowhere", tmp_path / "a", "fp32")) == 2
    assert "pass --dataset DIR" in capsys.readouterr().err
    assert main(_argv(tmp_path / "no-ckpt", dataset, tmp_path / "b", "fp32")) == 2
    assert "checkpoint directory does not exist" in capsys.readouterr().err
    argv = _argv(checkpoint, dataset, tmp_path / "c", "fp32")
    argv.remove("--clusters"), argv.remove("1"), argv.remove("--holdout"), argv.remove("none")
    assert main(argv) == 2
    assert "no edgevla split metadata" in capsys.readouterr().err


def test_a_bundle_of_another_recipe_in_the_way_is_refused(
    tiny_export_inputs, fp32_bundle, tmp_path, capsys
):
    checkpoint, dataset = tiny_export_inputs
    out = tmp_path / "acc"
    shutil.copytree(fp32_bundle, out / "bundles" / "fp32")
    shutil.copytree(fp32_bundle, out / "bundles" / "optimized")
    assert main(_argv(checkpoint, dataset, out, "fp32,optimized")) == 2
    assert "bundles/optimized holds a bundle of another recipe" in capsys.readouterr().err


@pytest.mark.slow  # two exports (~20 s each here) and an episode per recipe
def test_a_reduced_recipe_shows_its_error_and_a_refused_one_says_why(
    tiny_export_inputs, fp32_bundle, tmp_path, capsys
):
    checkpoint, dataset = tiny_export_inputs
    out = tmp_path / "acc"
    shutil.copytree(fp32_bundle, out / "bundles" / "fp32")
    dynamic = loose_recipe("int8-dynamic", tmp_path)
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"blocks": {
        "transformer": {"precision": "int8-dynamic", "tolerance": {"abs": 1e-9, "rel": 0}},
        "*": {"precision": "fp32"}}}))  # fmt: skip
    assert main(_argv(checkpoint, dataset, out, f"fp32,{dynamic},{strict}")) == 0
    data = json.loads((out / "results.json").read_text())
    rows = {r["recipe"]: r for r in data["recipes"]}
    assert list(rows) == ["fp32", "int8-dynamic-loose", "strict"]
    errors = rows["int8-dynamic-loose"]["vs_fp32"]
    assert errors["blocks"]["transformer"]["max_abs"] > 0 and errors["actions"]["max_abs"] > 0
    assert errors["blocks"]["backbone"]["max_abs"] == 0.0  # Conv stays float in int8-dynamic
    assert "block transformer: max abs" in rows["strict"]["refused"]
    assert "success" not in rows["strict"] and rows["int8-dynamic-loose"]["success"]["test"]
    table = (out / "results.md").read_text()
    assert "| `strict` | — | — | refused by the parity gate (below) |" in table
    assert f"- `strict`: {rows['strict']['refused']}" in table
