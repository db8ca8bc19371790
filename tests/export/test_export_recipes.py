"""Export -> bundle -> runtime on a tiny random ACT, for every shipped recipe, and the gate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgevla.export import ExportConfig, ParityError, RecipeError, export_bundle, load_recipe
from edgevla.export.cpu import needs_reduced_range
from edgevla.export.frames import dataset_observations
from edgevla.export.recipes import shipped_recipes
from edgevla.export.testing import loose_recipe
from edgevla.runtime.bundle import load_bundle
from edgevla.sources import resolve_policy

INT8 = ("int8-dynamic", "int8-static", "optimized", "portable-int8")
REDUCED = (*INT8, "fp16")


def _torch_and_bundle_chunks(checkpoint, dataset, bundle):
    torch_policy = resolve_policy(str(checkpoint))
    runtime = load_bundle(bundle)
    frames = dataset_observations(dataset, torch_policy.spec, 4)
    return (
        [torch_policy.predict_chunk(o).actions for o in frames],
        [runtime.predict_chunk(o).actions for o in frames],
        runtime,
    )


def test_shipped_recipes_cover_the_issue():
    assert {"fp32", "int8-dynamic", "int8-static", "optimized", "portable-int8"} <= set(
        shipped_recipes()
    )
    static = load_recipe("int8-static").block("backbone")
    assert static.per_channel and static.reduce_range == "auto"  # 7-bit where no VNNI
    assert (static.activation_type, static.weight_type) == ("uint8", "int8")


def test_fp32_bundle_matches_the_torch_policy_on_dataset_frames(tiny_export_inputs, fp32_bundle):
    checkpoint, dataset = tiny_export_inputs
    want, got, runtime = _torch_and_bundle_chunks(checkpoint, dataset, fp32_bundle)
    for w, g in zip(want, got, strict=True):
        assert g.shape == (8, 6) and g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-3)  # un-normalized: degrees
    manifest = json.loads((fp32_bundle / "manifest.json").read_text())
    assert manifest["schema_version"] == 1 and manifest["cameras"] == ["top", "gripper"]
    assert manifest["image_shape"] == [32, 32] and manifest["chunk_size"] == 8
    assert manifest["fps"] == 30.0 and manifest["recipe"]["name"] == "fp32"
    assert len(manifest["source"]["sha256"]) == 64
    assert {b["name"] for b in manifest["blocks"]} == {"backbone", "transformer"}
    assert all(r["passed"] for r in manifest["parity"].values())
    assert set(manifest["parity"]) == {"backbone", "transformer", "end_to_end"}
    assert runtime.spec.cameras == ("top", "gripper") and runtime.spec.chunk_size == 8
    assert (fp32_bundle / "export_config.json").is_file()


@pytest.mark.slow  # one export per recipe, ~15 s each here
@pytest.mark.parametrize("recipe", REDUCED)
def test_every_reduced_precision_recipe_exports_and_its_bundle_runs_as_the_gate_measured(
    recipe, tiny_export_inputs, tmp_path
):
    checkpoint, dataset = tiny_export_inputs
    out = tmp_path / recipe
    path = loose_recipe(recipe, tmp_path)
    manifest = export_bundle(ExportConfig(checkpoint, out, dataset, str(path), parity_frames=4))
    quantized = {b.name: b.quantized_ops for b in manifest.blocks}
    if recipe in INT8:
        assert any(quantized.values()), f"{recipe}: nothing was quantized: {quantized}"
        assert all(b.weights_7bit is needs_reduced_range() for b in manifest.blocks)  # auto
    want, got, _ = _torch_and_bundle_chunks(checkpoint, dataset, out)
    error = max(float(np.abs(g - w).max()) for g, w in zip(got, want, strict=True))
    assert error > 1e-5  # it really is at reduced precision
    assert manifest.parity["end_to_end"]["max_abs"] > 0
    if recipe == "portable-int8":
        import onnx

        for block in manifest.blocks:
            model = onnx.load(str(out / block.file))
            assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
            assert block.float_ops is not None


def test_the_gate_refuses_a_block_over_its_tolerance_and_names_it(tiny_export_inputs, tmp_path):
    checkpoint, dataset = tiny_export_inputs
    recipe = tmp_path / "strict.json"
    recipe.write_text(
        json.dumps(
            {
                "name": "strict",
                "blocks": {
                    "backbone": {"precision": "int8-static", "tolerance": {"abs": 1e-6, "rel": 0}},
                    "*": {"precision": "fp32"},
                },
            }
        )
    )
    out = tmp_path / "refused"
    with pytest.raises(ParityError, match=r"block backbone: max abs .* recipe 'strict'"):
        export_bundle(ExportConfig(checkpoint, out, dataset, str(recipe), parity_frames=2))
    assert not out.exists()
    assert (tmp_path / "refused.export.log").is_file()


def test_bad_recipes_are_named(tmp_path):
    with pytest.raises(RecipeError, match="neither a shipped recipe"):
        load_recipe("no-such-recipe")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"blocks": {"backbone": {"precision": "int3"}}}))
    with pytest.raises(RecipeError, match=r"bad\.json: blocks\.backbone: precision must be"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="no settings for block 'transformer'"):
        load_recipe(_only_backbone(tmp_path)).block("transformer")


def _only_backbone(tmp_path):
    path = tmp_path / "only.json"
    path.write_text(json.dumps({"blocks": {"backbone": {"precision": "fp32"}}}))
    return path
