"""SmolVLA checkpoint directories in LeRobot's layout: load, predict, save back, and bad cases.

The LeRobot-side files are written by hand here, as LeRobot 0.4.4 writes them for SmolVLA
(config.json key order, processor steps, state-file names), independently of edgevla's writer.
The VLM is a local model folder (config.json + tokenizer) named by `vlm_model_name`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from edgevla.policies.checkpoint import load_policy, save_pretrained
from edgevla.policies.chunk_policy import TorchChunkPolicy
from edgevla.policies.errors import CheckpointError
from edgevla.policies.smolvla import SmolVLAPolicy, load_tokenizer
from edgevla.policies.smolvla.testing import tiny_config, tiny_vlm_config, write_vlm_folder

CAMERAS = ("top", "gripper", "left")
PRE_STATE = "policy_preprocessor_step_5_normalizer_processor.safetensors"
POST_STATE = "policy_postprocessor_step_0_unnormalizer_processor.safetensors"
# config.json's keys in the order LeRobot (draccus) writes a SmolVLAConfig.
LEROBOT_CONFIG_KEYS = [
    "type", "n_obs_steps", "input_features", "output_features", "device", "use_amp", "use_peft",
    "push_to_hub", "repo_id", "private", "tags", "license", "pretrained_path", "chunk_size",
    "n_action_steps", "normalization_mapping", "max_state_dim", "max_action_dim",
    "resize_imgs_with_padding", "empty_cameras", "adapt_to_pi_aloha",
    "use_delta_joint_actions_aloha", "tokenizer_max_length", "num_steps", "use_cache",
    "freeze_vision_encoder", "train_expert_only", "train_state_proj", "optimizer_lr",
    "optimizer_betas", "optimizer_eps", "optimizer_weight_decay", "optimizer_grad_clip_norm",
    "scheduler_warmup_steps", "scheduler_decay_steps", "scheduler_decay_lr", "vlm_model_name",
    "load_vlm_weights", "add_image_special_tokens", "attention_mode", "prefix_length",
    "pad_language_to", "num_expert_layers", "num_vlm_layers", "self_attn_every_n_layers",
    "expert_width_multiplier", "min_period", "max_period", "rtc_config", "compile_model",
    "compile_mode",
]  # fmt: skip


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory) -> str:
    return str(write_vlm_folder(tmp_path_factory.mktemp("vlm") / "tiny-smolvlm"))


def _stats(seed: int = 0) -> dict[str, dict[str, list]]:
    rng = np.random.default_rng(seed)

    def vector(dim: int) -> dict[str, list]:
        lo, hi = -rng.uniform(1, 2, dim), rng.uniform(1, 2, dim)
        return {"min": lo.tolist(), "max": hi.tolist(), "mean": rng.normal(0, 0.3, dim).tolist(),
                "std": rng.uniform(0.5, 2, dim).tolist(), "count": [120]}  # fmt: skip

    stats = {"observation.state": vector(6), "action": vector(6), "timestamp": vector(1)}
    for cam in CAMERAS:  # image stats exist in a dataset even though VISUAL is IDENTITY
        stats[f"observation.images.{cam}"] = {
            "mean": rng.uniform(0.3, 0.6, (3, 1, 1)).tolist(),
            "std": rng.uniform(0.1, 0.3, (3, 1, 1)).tolist(),
        }
    return stats


def _policy(vlm_dir: str, seed: int = 0, **overrides: Any) -> SmolVLAPolicy:
    torch.manual_seed(seed)
    config = tiny_config(vlm_dir, **overrides)
    return SmolVLAPolicy(
        config, _stats(seed), vlm_config=tiny_vlm_config(), tokenizer=load_tokenizer(vlm_dir)
    ).eval()


def _lerobot_config_json(policy: SmolVLAPolicy) -> dict[str, Any]:
    c = policy.config

    def feats(features):
        return {k: {"type": f.type.value, "shape": list(f.shape)} for k, f in features.items()}

    values = {
        "type": "smolvla", "input_features": feats(c.input_features),
        "output_features": feats(c.output_features), "tags": None,
        "normalization_mapping": {k: str(v) for k, v in c.normalization_mapping.items()},
        "resize_imgs_with_padding": list(c.resize_imgs_with_padding),
        "optimizer_betas": [0.9, 0.95],
    }  # fmt: skip
    return {k: values[k] if k in values else getattr(c, k) for k in LEROBOT_CONFIG_KEYS}


def _write_lerobot_checkpoint(out: Path, policy: SmolVLAPolicy) -> Path:
    """<out>/ as LeRobot's SmolVLAPolicy.save_pretrained + its two processor pipelines write it."""
    out.mkdir(parents=True)
    config_json = _lerobot_config_json(policy)
    (out / "config.json").write_text(json.dumps(config_json, indent=4))
    save_file(
        {k: v.contiguous() for k, v in policy.state_dict().items()}, str(out / "model.safetensors")
    )
    flat = {
        f"{key}.{name}": torch.tensor(np.asarray(value, dtype=np.float64), dtype=torch.float32)
        for key, sub in _stats().items()
        for name, value in sub.items()
    }
    save_file(dict(flat), str(out / PRE_STATE))
    save_file(dict(flat), str(out / POST_STATE))
    norm_map = config_json["normalization_mapping"]
    c = policy.config
    pre = {"name": "policy_preprocessor", "steps": [
        {"registry_name": "rename_observations_processor", "config": {"rename_map": {}}},
        {"registry_name": "to_batch_processor", "config": {}},
        {"registry_name": "smolvla_new_line_processor", "config": {}},
        {"registry_name": "tokenizer_processor", "config": {
            "max_length": c.tokenizer_max_length, "task_key": "task", "padding_side": "right",
            "padding": c.pad_language_to, "truncation": True, "tokenizer_name": c.vlm_model_name}},
        {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}},
        {"registry_name": "normalizer_processor", "config": {
            "eps": 1e-08,
            "features": {**config_json["input_features"], **config_json["output_features"]},
            "norm_map": norm_map}, "state_file": PRE_STATE},
    ]}  # fmt: skip
    post = {"name": "policy_postprocessor", "steps": [
        {"registry_name": "unnormalizer_processor", "config": {
            "eps": 1e-08, "features": config_json["output_features"], "norm_map": norm_map},
         "state_file": POST_STATE},
        {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}},
    ]}  # fmt: skip
    (out / "policy_preprocessor.json").write_text(json.dumps(pre, indent=2))
    (out / "policy_postprocessor.json").write_text(json.dumps(post, indent=2))
    return out


def _observation(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    obs = {
        f"observation.images.{c}": rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        for c in CAMERAS
    }
    obs["observation.state"] = rng.normal(size=6).astype(np.float32)
    obs["task"] = "Put the tea bag in the mug"
    return obs


def _chunk(policy: SmolVLAPolicy) -> np.ndarray:
    return TorchChunkPolicy(policy, seed=3).predict_chunk(_observation()).actions


@pytest.fixture
def lerobot_dir(tmp_path, vlm_dir):
    policy = _policy(vlm_dir)
    return _write_lerobot_checkpoint(tmp_path / "pretrained_model", policy), policy


def test_lerobot_checkpoint_loads_and_predicts(lerobot_dir):
    directory, written = lerobot_dir
    policy = load_policy(directory)
    assert isinstance(policy, SmolVLAPolicy) and not policy.training
    loaded = policy.state_dict()
    for name, tensor in written.state_dict().items():
        assert torch.equal(loaded[name], tensor), name
    chunk = _chunk(policy)
    assert chunk.shape == (8, 6) and chunk.dtype == np.float32 and np.isfinite(chunk).all()
    np.testing.assert_array_equal(chunk, _chunk(written))


def test_resaving_a_lerobot_checkpoint_is_byte_identical(lerobot_dir, tmp_path):
    directory, _ = lerobot_dir
    out = save_pretrained(load_policy(directory), tmp_path / "resaved")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in directory.iterdir())
    for path in directory.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_fresh_policy_saves_lerobots_layout(vlm_dir, tmp_path):
    policy = _policy(vlm_dir, seed=2)
    ours = save_pretrained(policy, tmp_path / "ours")
    lerobot = _write_lerobot_checkpoint(tmp_path / "lerobot", policy)
    for path in lerobot.iterdir():
        if path.suffix == ".json":
            assert json.loads((ours / path.name).read_text()) == json.loads(path.read_text()), (
                path.name
            )
    assert list(json.loads((ours / "config.json").read_text())) == LEROBOT_CONFIG_KEYS


def test_save_then_load_is_bit_exact(vlm_dir, tmp_path):
    policy = _policy(vlm_dir, seed=4, add_image_special_tokens=True, pad_language_to="max_length",
                     tokenizer_max_length=12, normalization_mapping={
                         "VISUAL": "IDENTITY", "STATE": "MIN_MAX", "ACTION": "MEAN_STD"})  # fmt: skip
    with torch.no_grad():  # move the VLM off its init so a skipped tensor would show
        for p in policy.model.vlm_with_expert.vlm.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    save_pretrained(policy, tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt")
    assert loaded.config == policy.config
    assert loaded.task_tokens == policy.task_tokens
    for name, tensor in policy.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    np.testing.assert_array_equal(_chunk(loaded), _chunk(policy))
    save_pretrained(loaded, tmp_path / "again")
    for path in (tmp_path / "ckpt").iterdir():
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes(), path.name


def test_tokenizer_settings_come_from_the_processor_file(lerobot_dir):
    directory, _ = lerobot_dir
    pre = json.loads((directory / "policy_preprocessor.json").read_text())
    pre["steps"][3]["config"].update(max_length=20, padding="max_length")
    (directory / "policy_preprocessor.json").write_text(json.dumps(pre, indent=2))
    tokens, _ = load_policy(directory).tokenize("Put the tea bag")
    assert tokens.shape == (1, 20)


def _corrupt(directory: Path, file: str, edit) -> None:
    path = directory / file
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))
    else:
        tensors = load_file(str(path))
        edit(tensors)
        save_file(tensors, str(path))


def test_missing_weights_file(lerobot_dir):
    directory, _ = lerobot_dir
    (directory / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model weights not found") as e:
        load_policy(directory)
    assert e.value.file == directory / "model.safetensors"


def test_wrong_shape_names_file_and_key(lerobot_dir):
    directory, _ = lerobot_dir
    key = "model.vlm_with_expert.lm_expert.layers.1.self_attn.k_proj.weight"
    _corrupt(directory, "model.safetensors", lambda t: t.update({key: torch.zeros(32, 48)}))
    with pytest.raises(CheckpointError, match=r"\(32, 48\), expected \(32, 32\)") as e:
        load_policy(directory)
    assert e.value.key == key and e.value.file.name == "model.safetensors"


def test_missing_tensor_names_it(lerobot_dir):
    directory, _ = lerobot_dir
    key = "model.vlm_with_expert.vlm.lm_head.weight"
    _corrupt(directory, "model.safetensors", lambda t: t.pop(key))
    with pytest.raises(CheckpointError, match="missing tensor") as e:
        load_policy(directory)
    assert e.value.key == key


def test_wrong_policy_type(lerobot_dir):
    directory, _ = lerobot_dir
    with pytest.raises(CheckpointError, match="expected 'act'") as e:
        load_policy(directory, policy_type="act")
    assert e.value.key == "type" and e.value.file.name == "config.json"
    _corrupt(directory, "config.json", lambda c: c.update(type="act"))
    # read as ACT, the SmolVLA keys are ignored and the weights cannot fit
    warns = pytest.warns(UserWarning, match="unknown ACT config keys")
    with warns, pytest.raises(CheckpointError, match="missing tensor") as e:
        load_policy(directory)
    assert e.value.file.name == "model.safetensors"


def test_missing_statistics_name_the_state_file_and_stat(lerobot_dir):
    directory, _ = lerobot_dir
    _corrupt(directory, POST_STATE, lambda t: t.pop("action.std"))
    with pytest.raises(CheckpointError, match="missing") as e:
        load_policy(directory)
    assert e.value.key == "action.std" and e.value.file.name == POST_STATE
    (directory / "policy_preprocessor.json").unlink()
    with pytest.raises(CheckpointError, match="processor config not found") as e:
        load_policy(directory)
    assert e.value.file.name == "policy_preprocessor.json"


def test_unknown_vlm_is_an_error_naming_the_config_key(lerobot_dir, tmp_path):
    directory, _ = lerobot_dir
    _corrupt(directory, "config.json", lambda c: c.update(vlm_model_name=str(tmp_path / "nowhere")))
    with pytest.raises(CheckpointError, match="nowhere") as e:
        load_policy(directory)
    assert e.value.key == "vlm_model_name" and e.value.file.name == "config.json"


def test_missing_tokenizer_loads_but_cannot_tokenize(lerobot_dir, vlm_dir, tmp_path):
    directory, _ = lerobot_dir
    bare = tmp_path / "bare-vlm"
    bare.mkdir()
    (bare / "config.json").write_bytes((Path(vlm_dir) / "config.json").read_bytes())
    _corrupt(directory, "config.json", lambda c: c.update(vlm_model_name=str(bare)))
    _corrupt(directory, "policy_preprocessor.json",
             lambda p: p["steps"][3]["config"].update(tokenizer_name=str(bare)))  # fmt: skip
    policy = load_policy(directory)
    with pytest.raises(RuntimeError, match="no tokenizer found; looked at"):
        TorchChunkPolicy(policy).predict_chunk(_observation())
