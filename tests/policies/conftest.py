"""Fixtures for the policy tests: tiny ACT configs and checkpoint directories written the way
LeRobot 0.4 writes them (file names, JSON key order and indentation, state-file key names),
by hand here, independently of edgevla's own writer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from edgevla.policies.act import ACTConfig, ACTPolicy
from edgevla.policies.resnet import FrozenBatchNorm2d
from edgevla.policies.testing import tiny_act_config
from edgevla.policies.types import NormalizationMode, PolicyFeature

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `import act_lerobot_golden`

H, W = 48, 64
CAMERAS = ("top", "gripper")


def _tiny_config(**overrides: Any) -> ACTConfig:
    return tiny_act_config(CAMERAS, (H, W), **{"chunk_size": 5, "n_action_steps": 5, **overrides})


def _random_stats(seed: int = 0) -> dict[str, dict[str, Any]]:
    """Stats as a LeRobot v3.0 meta/stats.json holds them (lists), plus a feature ACT ignores."""
    rng = np.random.default_rng(seed)

    def vector(dim: int) -> dict[str, Any]:
        lo, hi = -rng.uniform(1, 2, dim), rng.uniform(1, 2, dim)
        return {
            "min": lo.tolist(),
            "max": hi.tolist(),
            "mean": rng.normal(0, 0.3, dim).tolist(),
            "std": rng.uniform(0.5, 2, dim).tolist(),
            "count": [120],
            "q01": (lo * 0.9).tolist(),
            "q10": (lo * 0.5).tolist(),
            "q50": np.zeros(dim).tolist(),
            "q90": (hi * 0.5).tolist(),
            "q99": (hi * 0.9).tolist(),
        }

    stats = {"observation.state": vector(6), "action": vector(6), "timestamp": vector(1)}
    for cam in CAMERAS:
        stats[f"observation.images.{cam}"] = {
            "min": np.zeros((3, 1, 1)).tolist(),
            "max": np.ones((3, 1, 1)).tolist(),
            "mean": rng.uniform(0.3, 0.6, (3, 1, 1)).tolist(),
            "std": rng.uniform(0.1, 0.3, (3, 1, 1)).tolist(),
            "count": [120],
        }
    return stats


def _random_policy(config: ACTConfig, stats: dict[str, Any], seed: int = 0) -> ACTPolicy:
    """Random weights, with frozen batch-norm buffers moved off their identity defaults."""
    torch.manual_seed(seed)
    policy = ACTPolicy(config, stats)
    with torch.no_grad():
        for module in policy.modules():
            if isinstance(module, FrozenBatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    return policy.eval()


def _lerobot_config_json(config: ACTConfig) -> dict[str, Any]:
    """config.json exactly as LeRobot 0.4.4 (draccus) writes an ACTConfig: this key order."""

    def feats(features: dict[str, PolicyFeature]) -> dict[str, Any]:
        return {k: {"type": f.type.value, "shape": list(f.shape)} for k, f in features.items()}

    return {
        "type": "act",
        "n_obs_steps": 1,
        "input_features": feats(config.input_features),
        "output_features": feats(config.output_features),
        "device": config.device,
        "use_amp": False,
        "use_peft": False,
        "push_to_hub": True,
        "repo_id": None,
        "private": None,
        "tags": None,
        "license": None,
        "pretrained_path": None,
        "chunk_size": config.chunk_size,
        "n_action_steps": config.n_action_steps,
        "normalization_mapping": {
            k: NormalizationMode(v).value for k, v in config.normalization_mapping.items()
        },
        "vision_backbone": "resnet18",
        "pretrained_backbone_weights": config.pretrained_backbone_weights,
        "replace_final_stride_with_dilation": False,
        "pre_norm": config.pre_norm,
        "dim_model": config.dim_model,
        "n_heads": config.n_heads,
        "dim_feedforward": config.dim_feedforward,
        "feedforward_activation": config.feedforward_activation,
        "n_encoder_layers": config.n_encoder_layers,
        "n_decoder_layers": config.n_decoder_layers,
        "use_vae": config.use_vae,
        "latent_dim": config.latent_dim,
        "n_vae_encoder_layers": config.n_vae_encoder_layers,
        "temporal_ensemble_coeff": config.temporal_ensemble_coeff,
        "dropout": config.dropout,
        "kl_weight": config.kl_weight,
        "optimizer_lr": config.optimizer_lr,
        "optimizer_weight_decay": config.optimizer_weight_decay,
        "optimizer_lr_backbone": config.optimizer_lr_backbone,
    }


def _write_lerobot_checkpoint(
    step_dir: Path,
    policy: ACTPolicy,
    stats: dict[str, Any],
    config_json: dict[str, Any] | None = None,
) -> Path:
    """Write <step_dir>/pretrained_model/ as LeRobot's save_pretrained + processors do."""
    config = policy.config
    out = step_dir / "pretrained_model"
    out.mkdir(parents=True)
    config_json = config_json or _lerobot_config_json(config)
    (out / "config.json").write_text(json.dumps(config_json, indent=4))
    save_file(
        {k: v.contiguous() for k, v in policy.state_dict().items()}, str(out / "model.safetensors")
    )
    flat = {
        f"{key}.{name}": torch.tensor(np.asarray(value, dtype=np.float64), dtype=torch.float32)
        for key, sub in stats.items()
        for name, value in sub.items()
    }
    norm_map = config_json["normalization_mapping"]
    all_features = {**config_json["input_features"], **config_json["output_features"]}
    pre_state = "policy_preprocessor_step_3_normalizer_processor.safetensors"
    post_state = "policy_postprocessor_step_0_unnormalizer_processor.safetensors"
    save_file(dict(flat), str(out / pre_state))
    save_file(dict(flat), str(out / post_state))
    device = {"device": config_json["device"], "float_dtype": None}
    pre = {
        "name": "policy_preprocessor",
        "steps": [
            {"registry_name": "rename_observations_processor", "config": {"rename_map": {}}},
            {"registry_name": "to_batch_processor", "config": {}},
            {"registry_name": "device_processor", "config": device},
            {
                "registry_name": "normalizer_processor",
                "config": {"eps": 1e-08, "features": all_features, "norm_map": norm_map},
                "state_file": pre_state,
            },
        ],
    }
    post = {
        "name": "policy_postprocessor",
        "steps": [
            {
                "registry_name": "unnormalizer_processor",
                "config": {
                    "eps": 1e-08,
                    "features": config_json["output_features"],
                    "norm_map": norm_map,
                },
                "state_file": post_state,
            },
            {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}},
        ],
    }
    (out / "policy_preprocessor.json").write_text(json.dumps(pre, indent=2))
    (out / "policy_postprocessor.json").write_text(json.dumps(post, indent=2))
    (out / "train_config.json").write_text(json.dumps({"steps": 10, "batch_size": 2}, indent=4))
    state_dir = step_dir / "training_state"
    state_dir.mkdir()
    (state_dir / "training_step.json").write_text(json.dumps({"step": 10}, indent=4))
    return out


def _observation(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    obs: dict[str, Any] = {
        f"observation.images.{c}": rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for c in CAMERAS
    }
    obs["observation.state"] = rng.normal(size=6).astype(np.float32)
    obs["task"] = "Put the tea bag in the mug"
    return obs


@pytest.fixture
def tiny_config():
    return _tiny_config


@pytest.fixture
def random_stats():
    return _random_stats


@pytest.fixture
def random_policy():
    return _random_policy


@pytest.fixture
def lerobot_config_json():
    return _lerobot_config_json


@pytest.fixture
def write_lerobot_checkpoint():
    return _write_lerobot_checkpoint


@pytest.fixture
def observation():
    return _observation
