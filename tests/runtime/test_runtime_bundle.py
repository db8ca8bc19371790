"""The bundle runtime: refused bundles name their file, observations are checked as the torch
policy checks them, and a bundle runs with torch unimportable."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgevla.export.frames import dataset_observations
from edgevla.runtime.bundle import BundleRuntimeConfig, load_bundle
from edgevla.runtime.bundle_manifest import BundleError, sha256_of
from edgevla.sources import PolicySourceError, resolve_policy


@pytest.fixture
def bundle(fp32_bundle, tmp_path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(fp32_bundle, copy)
    return copy


def _edit_manifest(bundle: Path, edit) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_missing_manifest_and_bad_json_are_named(bundle):
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"manifest\.json: not valid JSON"):
        load_bundle(bundle)
    (bundle / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"manifest\.json: bundle manifest not found"):
        load_bundle(bundle)


def test_unknown_schema_version_is_refused(bundle):
    _edit_manifest(bundle, lambda d: d.update(schema_version=99))
    with pytest.raises(BundleError, match=r"manifest\.json: schema_version 99 is not one"):
        load_bundle(bundle)


def test_missing_block_file_is_named(bundle):
    (bundle / "blocks" / "transformer.onnx").unlink()
    with pytest.raises(BundleError, match=r"transformer\.onnx: block 'transformer' file not found"):
        load_bundle(bundle)


def test_sha256_mismatch_is_named(bundle):
    with open(bundle / "blocks" / "backbone.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match=r"backbone\.onnx: SHA-256 mismatch for block"):
        load_bundle(bundle)


def test_corrupt_graph_with_a_matching_hash_is_named(bundle):
    block = bundle / "blocks" / "backbone.onnx"
    block.write_bytes(b"not an onnx graph")
    _edit_manifest(bundle, lambda d: d["blocks"][0].update(sha256=sha256_of(block)))
    with pytest.raises(BundleError, match=r"backbone\.onnx: onnxruntime cannot load block"):
        load_bundle(bundle)


def test_manifest_disagreeing_with_the_graph_is_named(bundle):
    def rename(data):
        data["blocks"][1]["inputs"][0]["name"] = "joints"

    _edit_manifest(bundle, rename)
    with pytest.raises(BundleError, match=r"transformer\.onnx: block 'transformer': graph inputs"):
        load_bundle(bundle)


def test_a_bad_bundle_through_sources_is_a_policy_source_error(bundle):
    (bundle / "blocks" / "backbone.onnx").unlink()
    with pytest.raises(PolicySourceError, match=r"backbone\.onnx: block 'backbone' file not"):
        resolve_policy(str(bundle))


def test_observations_are_checked_like_the_torch_policys(fp32_bundle, tiny_export_inputs):
    policy = load_bundle(fp32_bundle, BundleRuntimeConfig(threads=1))
    good = dataset_observations(tiny_export_inputs[1], policy.spec, 1)[0]
    assert policy.predict_chunk(good, timestep=7).timestep == 7
    missing = {k: v for k, v in good.items() if k != "observation.images.top"}
    with pytest.raises(KeyError, match="lacks 'observation.images.top'"):
        policy.predict_chunk(missing)
    with pytest.raises(ValueError, match="expected a uint8 image, got dtype float64"):
        policy.predict_chunk(
            {**good, "observation.images.top": good["observation.images.top"] / 1.0}
        )
    with pytest.raises(ValueError, match=r"expected image shape \(32, 32, 3\).*not resized"):
        policy.predict_chunk(
            {**good, "observation.images.gripper": np.zeros((48, 64, 3), np.uint8)}
        )
    with pytest.raises(ValueError, match=r"observation\.state: expected float32\[6\]"):
        policy.predict_chunk({**good, "observation.state": np.zeros(5, np.float32)})


BLOCKED_RUN = """
import importlib.abc, json, sys
import numpy as np
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers") or name.startswith(
            ("edgevla.policies", "edgevla.export")
        ):
            raise ImportError(f"blocked {name}")
sys.meta_path.insert(0, Blocker())
from edgevla.sources import resolve_policy
policy = resolve_policy(sys.argv[1])
data = np.load(sys.argv[2])
observation = {k: data[k] for k in data.files}
print(json.dumps(policy.predict_chunk(observation).actions.tolist()))
"""


def test_a_bundle_runs_with_torch_unimportable(fp32_bundle, tiny_export_inputs, tmp_path):
    policy = load_bundle(fp32_bundle)
    observation = dataset_observations(tiny_export_inputs[1], policy.spec, 1)[0]
    arrays = {k: v for k, v in observation.items() if k != "task"}
    np.savez(tmp_path / "obs.npz", **arrays)
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, str(fp32_bundle), str(tmp_path / "obs.npz")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_array_equal(
        np.asarray(json.loads(done.stdout), np.float32), policy.predict_chunk(observation).actions
    )
