"""Checkpoint directories in LeRobot's layout: load, predict, save back, and every bad case."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from edgevla.policies.act import ACTPolicy
from edgevla.policies.checkpoint import (
    copy_pretrained,
    load_policy,
    save_pretrained,
    step_checkpoint_dir,
    update_last_checkpoint,
)
from edgevla.policies.chunk_policy import TorchChunkPolicy
from edgevla.policies.errors import CheckpointError


@pytest.fixture
def lerobot_run(tmp_path, tiny_config, random_stats, random_policy, write_lerobot_checkpoint):
    """A LeRobot training run dir with one checkpoint, and the policy that wrote it."""
    policy = random_policy(tiny_config(), random_stats())
    step_dir = step_checkpoint_dir(tmp_path / "run", 10, 20)
    pretrained = write_lerobot_checkpoint(step_dir, policy, random_stats())
    update_last_checkpoint(step_dir)
    return tmp_path / "run", pretrained, policy


def _chunk(policy, observation):
    return TorchChunkPolicy(policy).predict_chunk(observation(), timestep=3)


def test_lerobot_checkpoint_loads_and_predicts(lerobot_run, observation):
    run, pretrained, written = lerobot_run
    policy = load_policy(pretrained)
    assert isinstance(policy, ACTPolicy) and not policy.training
    for name, tensor in written.state_dict().items():
        assert torch.equal(policy.state_dict()[name], tensor), name
    chunk = _chunk(policy, observation)
    assert (
        chunk.actions.shape == (5, 6) and chunk.actions.dtype == np.float32 and chunk.timestep == 3
    )
    assert np.isfinite(chunk.actions).all()
    np.testing.assert_array_equal(chunk.actions, _chunk(written, observation).actions)


def test_float16_copy_is_half_the_weights_and_predicts_like_the_original(
    lerobot_run, observation, tmp_path
):
    run, pretrained, _ = lerobot_run
    copy = copy_pretrained(run, tmp_path / "ship", dtype="float16")
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in pretrained.iterdir())
    stored = load_file(str(copy / "model.safetensors"))
    assert {t.dtype for t in stored.values() if t.is_floating_point()} == {torch.float16}
    full = (pretrained / "model.safetensors").stat().st_size
    assert (copy / "model.safetensors").stat().st_size < 0.55 * full
    policy = load_policy(copy)
    assert next(policy.parameters()).dtype == torch.float32  # cast back on load
    want = _chunk(load_policy(pretrained), observation).actions
    got = _chunk(policy, observation).actions
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-2 * np.abs(want).max())
    with pytest.raises(FileExistsError, match="not empty"):
        copy_pretrained(run, copy)
    with pytest.raises(ValueError, match="dtype must be one of"):
        copy_pretrained(run, tmp_path / "other", dtype="int8")


def test_step_dir_last_link_and_run_dir_all_resolve(lerobot_run, observation):
    run, pretrained, _ = lerobot_run
    assert step_checkpoint_dir(run, 10, 20).name == "000010"
    assert step_checkpoint_dir(run, 5, 12_345_678).name == "00000005"
    assert os.readlink(run / "checkpoints" / "last") == "000010"
    want = _chunk(load_policy(pretrained), observation).actions
    for path in (pretrained.parent, run / "checkpoints" / "last", run):
        np.testing.assert_array_equal(_chunk(load_policy(path), observation).actions, want)


def test_resaving_a_lerobot_checkpoint_is_byte_identical(lerobot_run, tmp_path):
    _, pretrained, _ = lerobot_run
    out = save_pretrained(load_policy(pretrained), tmp_path / "resaved")
    written = sorted(p.name for p in out.iterdir())
    lerobot = sorted(p.name for p in pretrained.iterdir() if p.name != "train_config.json")
    assert written == lerobot
    for name in written:
        assert (out / name).read_bytes() == (pretrained / name).read_bytes(), name


def test_save_then_load_is_bit_exact(
    tiny_config, random_stats, random_policy, observation, tmp_path
):
    config = tiny_config(use_vae=False, pre_norm=True, feedforward_activation="gelu",
                         normalization_mapping={"VISUAL": "MEAN_STD", "STATE": "MIN_MAX", "ACTION": "QUANTILES"})  # fmt: skip
    policy = random_policy(config, random_stats(seed=4), seed=4)
    save_pretrained(policy, tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt")
    assert loaded.config == config
    mine, theirs = policy.state_dict(), loaded.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert loaded.preprocessor.state_dict().keys() == policy.preprocessor.state_dict().keys()
    np.testing.assert_array_equal(
        _chunk(loaded, observation).actions, _chunk(policy, observation).actions
    )
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == [
        "config.json",
        "model.safetensors",
        "policy_postprocessor.json",
        "policy_postprocessor_step_0_unnormalizer_processor.safetensors",
        "policy_preprocessor.json",
        "policy_preprocessor_step_3_normalizer_processor.safetensors",
    ]
    steps = json.loads((tmp_path / "ckpt" / "policy_preprocessor.json").read_text())["steps"]
    assert [s["registry_name"] for s in steps] == [
        "rename_observations_processor", "to_batch_processor", "device_processor", "normalizer_processor",
    ]  # fmt: skip
    stats = load_file(str(tmp_path / "ckpt" / steps[3]["state_file"]))
    assert "observation.images.top.mean" in stats and stats["action.q99"].dtype == torch.float32


# --- bad checkpoints: each error names the file and the key -----------------------------


def _expect(path, key, match, file_name):
    with pytest.raises(CheckpointError, match=match) as e:
        load_policy(path)
    assert e.value.file.name == file_name
    assert e.value.key == key
    assert file_name in str(e.value)
    return e.value


def test_missing_config(tmp_path):
    (tmp_path / "empty").mkdir()
    _expect(tmp_path / "empty", None, "policy config not found", "config.json")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_policy(tmp_path / "nope")


def test_missing_weights(lerobot_run):
    _, pretrained, _ = lerobot_run
    (pretrained / "model.safetensors").unlink()
    _expect(pretrained, None, "model weights not found", "model.safetensors")


def test_missing_processor_config_and_state(lerobot_run):
    _, pretrained, _ = lerobot_run
    state = pretrained / "policy_postprocessor_step_0_unnormalizer_processor.safetensors"
    state.unlink()
    _expect(
        pretrained,
        None,
        "state file named by policy_postprocessor.json steps\\[0\\] not found",
        state.name,
    )
    (pretrained / "policy_preprocessor.json").unlink()
    _expect(pretrained, None, "processor config not found", "policy_preprocessor.json")


def test_missing_stat_names_the_stat(lerobot_run):
    _, pretrained, _ = lerobot_run
    path = pretrained / "policy_preprocessor_step_3_normalizer_processor.safetensors"
    stats = load_file(str(path))
    del stats["observation.state.std"]
    save_file(stats, str(path))
    _expect(pretrained, "observation.state.std", "missing, needed for MEAN_STD", path.name)


def test_wrong_and_unknown_policy_type(lerobot_run):
    _, pretrained, _ = lerobot_run
    with pytest.raises(CheckpointError, match="policy type is 'act', expected 'smolvla'") as e:
        load_policy(pretrained, policy_type="smolvla")
    assert e.value.key == "type" and e.value.file.name == "config.json"
    config = json.loads((pretrained / "config.json").read_text())
    config["type"] = "diffusion"
    (pretrained / "config.json").write_text(json.dumps(config))
    _expect(pretrained, "type", "unknown policy type 'diffusion'", "config.json")
    (pretrained / "config.json").write_text("{not json")
    _expect(pretrained, None, "not valid JSON", "config.json")


def test_tensor_with_wrong_shape(lerobot_run):
    _, pretrained, _ = lerobot_run
    path = pretrained / "model.safetensors"
    weights = load_file(str(path))
    weights["model.action_head.weight"] = torch.zeros(7, 32)
    save_file(weights, str(path))
    _expect(
        pretrained, "model.action_head.weight", r"shape \(7, 32\), expected \(6, 32\)", path.name
    )


def test_missing_and_unexpected_tensors(lerobot_run):
    _, pretrained, _ = lerobot_run
    path = pretrained / "model.safetensors"
    weights = load_file(str(path))
    weights["model.extra_head.weight"] = torch.zeros(1)
    save_file(weights, str(path))
    _expect(
        pretrained,
        "model.extra_head.weight",
        "unexpected tensor model.extra_head.weight",
        path.name,
    )
    del weights["model.extra_head.weight"], weights["model.backbone.layer1.0.bn1.running_var"]
    save_file(weights, str(path))
    _expect(pretrained, "model.backbone.layer1.0.bn1.running_var", "missing tensor", path.name)


def test_config_disagreeing_with_weights_is_a_shape_error(lerobot_run):
    _, pretrained, _ = lerobot_run
    config = json.loads((pretrained / "config.json").read_text())
    config["chunk_size"] = config["n_action_steps"] = 8
    (pretrained / "config.json").write_text(json.dumps(config))
    _expect(pretrained, "model.vae_encoder_pos_enc", r"expected \(1, 10, 32\)", "model.safetensors")


def test_unknown_config_key_warns_but_loads(lerobot_run):
    _, pretrained, _ = lerobot_run
    config = json.loads((pretrained / "config.json").read_text())
    config["rtc_config"] = None
    (pretrained / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match="rtc_config"):
        assert isinstance(load_policy(Path(pretrained)), ACTPolicy)
