"""Tiny random-weight checkpoints for tests and smoke runs: every command's `--policy` is
tested with one, and nothing is downloaded (SmolVLA's VLM is a local, tiny config).

The checkpoints are saved exactly as training saves them (LeRobot's layout), with the sim's
cameras at a small size, so they run closed-loop in the sim like a trained policy would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgevla.features import ACTION_KEY, CAMERAS, NUM_JOINTS, STATE_KEY, image_key
from edgevla.policies.checkpoint import save_pretrained
from edgevla.policies.types import FeatureType, PolicyFeature

# The sim's rest pose and the gripper range, so un-normalized actions stay where the arm goes.
_ACTION_MEAN = [0.0, -52.0, 80.0, 29.0, 0.0, 50.0]
_ACTION_STD = [10.0, 10.0, 10.0, 10.0, 10.0, 20.0]


def _features(cameras: tuple[str, ...], image: tuple[int, int]) -> dict[str, PolicyFeature]:
    inputs = {image_key(c): PolicyFeature(FeatureType.VISUAL, (3, *image)) for c in cameras}
    inputs[STATE_KEY] = PolicyFeature(FeatureType.STATE, (NUM_JOINTS,))
    return inputs


def _stats(cameras: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Dataset statistics as meta/stats.json holds them (lists)."""
    vector = {
        "mean": _ACTION_MEAN,
        "std": _ACTION_STD,
        "min": [m - 3 * s for m, s in zip(_ACTION_MEAN, _ACTION_STD, strict=True)],
        "max": [m + 3 * s for m, s in zip(_ACTION_MEAN, _ACTION_STD, strict=True)],
    }
    image = {
        "mean": [[[0.5]]] * 3,
        "std": [[[0.25]]] * 3,
        "min": [[[0.0]]] * 3,
        "max": [[[1.0]]] * 3,
    }
    return {STATE_KEY: vector, ACTION_KEY: vector, **{image_key(c): image for c in cameras}}


def tiny_act_config(
    cameras: tuple[str, ...] = CAMERAS,
    image: tuple[int, int] = (48, 64),
    **overrides: Any,
):  # -> ACTConfig
    """ACT at test size: ResNet-18 from scratch, 1+1 layers, width 32; fields in `overrides`
    (LeRobot's names) replace these."""
    from edgevla.policies.act import ACTConfig

    fields: dict[str, Any] = {
        "input_features": _features(cameras, image),
        "output_features": {ACTION_KEY: PolicyFeature(FeatureType.ACTION, (NUM_JOINTS,))},
        "chunk_size": 10,
        "n_action_steps": 10,
        "dim_model": 32,
        "n_heads": 4,
        "dim_feedforward": 64,
        "n_encoder_layers": 1,
        "n_decoder_layers": 1,
        "n_vae_encoder_layers": 1,
        "latent_dim": 8,
        "pretrained_backbone_weights": None,
        "device": "cpu",
    }
    return ACTConfig(**{**fields, **overrides})


def tiny_act_checkpoint(
    directory: str | Path,
    *,
    cameras: tuple[str, ...] = CAMERAS,
    image: tuple[int, int] = (48, 64),
    chunk_size: int = 10,
    seed: int = 0,
) -> Path:
    """A random tiny ACT (`tiny_act_config`) saved under `directory`."""
    from edgevla.policies.act import ACTPolicy

    config = tiny_act_config(cameras, image, chunk_size=chunk_size, n_action_steps=chunk_size)
    torch.manual_seed(seed)
    return save_pretrained(ACTPolicy(config, _stats(cameras)).eval(), directory)


def tiny_smolvla_checkpoint(
    directory: str | Path,
    *,
    cameras: tuple[str, ...] = CAMERAS,
    image: tuple[int, int] = (48, 64),
    seed: int = 0,
) -> Path:
    """A SmolVLA on a tiny local VLM (written beside it, `<directory>-vlm`), random weights."""
    from edgevla.policies.smolvla.build import build_policy
    from edgevla.policies.smolvla.testing import tiny_config, write_vlm_folder

    directory = Path(directory)
    vlm = write_vlm_folder(directory.parent / f"{directory.name}-vlm")
    config = tiny_config(str(vlm), cameras=cameras, image_shape=(3, *image))
    torch.manual_seed(seed)
    np.random.seed(seed)
    return save_pretrained(build_policy(config, _stats(cameras)).eval(), directory)
