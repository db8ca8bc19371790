"""Numerical parity with LeRobot: the reference numbers below were produced by LeRobot 0.4.4's own
SmolVLAPolicy and processors (transformers 4.57.1, torch 2.13 CPU) on the same tiny VLM, the
same deterministic weights (`fill_deterministic`), inputs and noise. Our code must reproduce
them under the explicit LeRobot 0.4 float32 option, `patch_positions="transformers-4.57-float32"`
(the default, exact patch ids, is LeRobot >= 0.5's; tools/check_checkpoint_with_lerobot.py checks
that against LeRobot 0.6.1 itself). LeRobot 0.4's loss is the mean of the unreduced flow-matching
losses over all max_action_dim dims. (LeRobot itself is not needed to run this test.)

Variants: A the tiny default (3 cameras, cross-attention every other layer); B image special
tokens, tasks padded to max_length, MIN_MAX state, a placeholder camera, 3 layers with
self-attention every 3rd; C all self-attention, a 40-token padded prefix, a half-width expert and
other time periods; D = A with a batch of two tasks of different length; E an expert with half
the layers beside 4 VLM layers, everything trainable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from edgevla.policies.smolvla import SmolVLAPolicy, build_word_tokenizer
from edgevla.policies.smolvla.preprocess import pad_vector
from edgevla.policies.smolvla.testing import (
    TINY_TEXT,
    fill_deterministic,
    tiny_config,
    tiny_vlm_config,
)

H, W = 48, 64
VARIANTS: dict[str, dict[str, Any]] = {
    "A": {"cameras": ("top", "gripper", "left"), "config": {}},
    "B": {
        "cameras": ("top", "gripper"),
        "config": {
            "num_vlm_layers": 3,
            "self_attn_every_n_layers": 3,
            "add_image_special_tokens": True,
            "pad_language_to": "max_length",
            "tokenizer_max_length": 16,
            "empty_cameras": 1,
            "normalization_mapping": {
                "VISUAL": "IDENTITY",
                "STATE": "MIN_MAX",
                "ACTION": "MEAN_STD",
            },
        },
    },
    "C": {
        "cameras": ("top", "gripper", "left"),
        "config": {
            "attention_mode": "self_attn",
            "prefix_length": 40,
            "expert_width_multiplier": 0.5,
            "min_period": 1e-3,
            "max_period": 2.0,
        },
    },
    "D": {"cameras": ("top", "gripper", "left"), "config": {}, "batch": 2},
    "E": {
        "cameras": ("top",),
        "config": {
            "num_vlm_layers": 4,
            "num_expert_layers": 2,
            "self_attn_every_n_layers": 4,
            "train_expert_only": False,
            "freeze_vision_encoder": False,
        },
    },
}
# LeRobot's un-normalized actions: first and last step of the chunk per sample, and the loss.
LEROBOT = {
    "A": (
        [[[0.997009, 0.776256, -0.199901, -0.780406, -0.340124, 0.445426],
          [1.125747, 0.903334, -0.127277, -0.864712, -0.626958, 0.080597]]],
        0.9246124029159546,
    ),
    "B": (
        [[[0.355669, 0.510919, 0.26152, -0.032957, -0.124439, -0.171045],
          [1.335285, 0.995511, -0.272654, -1.109794, -0.704256, 0.276339]]],
        0.7234847545623779,
    ),
    "C": (
        [[[0.187762, 0.54098, 0.598217, 0.273072, -0.31511, -0.88656],
          [0.329717, 0.638201, 0.591412, 0.153826, -0.493875, -1.03345]]],
        0.3873746395111084,
    ),
    "D": (
        [[[0.99701, 0.776256, -0.199901, -0.780406, -0.340124, 0.445426],
          [1.125747, 0.903334, -0.127277, -0.864712, -0.626958, 0.080596]],
         [[0.067483, -0.194208, -0.614643, -0.482824, 0.378096, 1.185645],
          [0.338585, 0.117048, -0.475374, -0.53934, 0.25704, 1.097602]]],
        0.863364040851593,
    ),
    "E": (
        [[[0.809143, 0.705114, -0.058286, -0.56251, -0.285138, 0.258042],
          [1.028188, 0.861076, -0.058945, -0.75071, -0.591789, -0.01122]]],
        0.849408745765686,
    ),
}  # fmt: skip
# LeRobot's token ids for the tasks (right-padded with the pad id 1 where the config pads).
LEROBOT_TOKENS = {
    "A": [[7, 8, 9, 10, 11, 8, 12, 6]],
    "B": [[7, 8, 9, 10, 11, 8, 12, 6, 1, 1, 1, 1, 1, 1, 1, 1]],
    "D": [[7, 8, 9, 10, 11, 8, 12, 6], [7, 8, 10, 6, 1, 1, 1, 1]],
}


def _stats() -> dict[str, dict[str, list[float]]]:
    idx = np.arange(6)
    return {
        "observation.state": {
            "mean": (0.1 * idx).tolist(),
            "std": (0.5 + 0.1 * idx).tolist(),
            "min": (-1 - 0.1 * idx).tolist(),
            "max": (1 + 0.2 * idx).tolist(),
        },
        "action": {"mean": (-0.05 * idx).tolist(), "std": (0.8 + 0.05 * idx).tolist()},
    }


def _image(k: int) -> torch.Tensor:
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    pixels = np.stack([(yy * 5 + xx * 3 + ch * 40 + k * 17) % 256 for ch in range(3)], -1)
    return torch.from_numpy(pixels.astype(np.uint8)).float().div(255).permute(2, 0, 1)


def _setup(name: str) -> tuple[SmolVLAPolicy, dict[str, Any], torch.Tensor, torch.Tensor, int]:
    variant = VARIANTS[name]
    config = tiny_config("tiny-vlm", cameras=variant["cameras"], **variant["config"])
    policy = SmolVLAPolicy(
        config,
        _stats(),
        vlm_config=tiny_vlm_config(),
        tokenizer=build_word_tokenizer(TINY_TEXT["vocab_size"]),
        patch_positions="transformers-4.57-float32",
    )
    fill_deterministic(policy)
    batch_size = variant.get("batch", 1)
    raw: dict[str, Any] = {}
    for k, cam in enumerate(variant["cameras"]):
        image = _image(k)
        images = [image, image.flip(-1)][:batch_size]
        raw[f"observation.images.{cam}"] = torch.stack(images)
    state = torch.from_numpy(np.linspace(-0.5, 0.7, 6).astype(np.float32))
    raw["observation.state"] = torch.stack([state, -state][:batch_size])
    raw["task"] = ["Put the tea bag in the mug", "put the bag"][:batch_size]
    steps = np.sin(np.arange(8 * 6) * 0.3).reshape(8, 6) * 0.5
    action = torch.from_numpy(steps.astype(np.float32))
    raw["action"] = torch.stack([action, action * 0.5][:batch_size])
    noise = 0.8 * torch.sin(torch.arange(batch_size * 8 * 32, dtype=torch.float32) * 0.731)
    return (
        policy,
        raw,
        noise.reshape(batch_size, 8, 32),
        torch.tensor([0.37, 0.81][:batch_size]),
        batch_size,
    )


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_actions_and_loss_match_lerobot(name):
    policy, raw, noise, time, _ = _setup(name)
    batch = policy.preprocessor.normalize(raw)
    if name in LEROBOT_TOKENS:
        tokens, _ = policy.prepare_language(batch)
        assert tokens.tolist() == LEROBOT_TOKENS[name]
    actions = policy.postprocessor.unnormalize_action(
        policy.predict_action_chunk(batch, noise=noise.clone())
    )
    want_steps, want_loss = LEROBOT[name]
    got = torch.stack([actions[:, 0], actions[:, -1]], dim=1)
    np.testing.assert_allclose(got.numpy(), np.asarray(want_steps), atol=2e-5)
    policy.train()
    actions = pad_vector(batch["action"], policy.config.max_action_dim)
    with torch.no_grad():
        losses = policy.model(*policy.prepare_inputs(batch), actions, noise.clone(), time)
    assert losses.mean().item() == pytest.approx(want_loss, abs=2e-6)


def test_default_exact_patch_positions_differ_from_lerobot_0_4_float32():
    """The golden numbers need the option: with exact ids (the default) the chunk moves."""
    policy, raw, noise, _, _ = _setup("A")
    policy.patch_positions = "exact"
    batch = policy.preprocessor.normalize(raw)
    actions = policy.postprocessor.unnormalize_action(
        policy.predict_action_chunk(batch, noise=noise.clone())
    )
    got = torch.stack([actions[:, 0], actions[:, -1]], dim=1).numpy()
    assert np.abs(got - np.asarray(LEROBOT["A"][0])).max() > 1e-3
