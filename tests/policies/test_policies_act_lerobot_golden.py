"""Numerical parity with LeRobot: the reference numbers below were produced by LeRobot 0.4.4's
own ACTPolicy and processors (torch 2.13 CPU) on the same deterministic weights and inputs;
our code must reproduce them. (LeRobot itself is not needed to run this test.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgevla.policies.act import ACTPolicy
from edgevla.policies.chunk_policy import TorchChunkPolicy

LEROBOT_CHUNK = [
    [2.863656, 3.954131, 2.9607, -0.021768, -3.541788, -5.462349],
    [2.863689, 3.954165, 2.960713, -0.021792, -3.541845, -5.462413],
    [2.862064, 3.942849, 2.943247, -0.036548, -3.54421, -5.447897],
    [2.870596, 3.94187, 2.929594, -0.058572, -3.563702, -5.45275],
    [2.892128, 3.973884, 2.955294, -0.057343, -3.594677, -5.505744],
]
LEROBOT_L1, LEROBOT_KLD = 3.1811399459838867, 3.880188226699829


def _fill(policy: ACTPolicy) -> None:
    """Every tensor (keys sorted) gets a sine pattern; scales ~1 where LeRobot expects them."""
    with torch.no_grad():
        for i, (name, t) in enumerate(sorted(policy.state_dict().items())):
            if name.endswith("vae_encoder_pos_enc"):
                continue
            wave = torch.sin(torch.arange(t.numel(), dtype=torch.float64) * 0.37 + i).reshape(
                t.shape
            )
            is_scale = name.endswith("weight") and (
                "norm" in name or "bn" in name or "downsample.1" in name
            )
            value = 1.0 + 0.1 * wave if name.endswith("running_var") or is_scale else 0.5 * wave
            t.copy_(value.to(t.dtype))


@pytest.fixture
def golden(tiny_config):
    config = tiny_config(
        dropout=0.0,
        normalization_mapping={"VISUAL": "MEAN_STD", "STATE": "MIN_MAX", "ACTION": "MEAN_STD"},
    )
    idx = np.arange(6)
    stats = {
        "observation.state": {"min": (-1 - 0.1 * idx).tolist(), "max": (1 + 0.2 * idx).tolist()},
        "action": {"mean": (0.1 * idx).tolist(), "std": (0.5 + 0.1 * idx).tolist()},
    }
    yy, xx = np.meshgrid(np.arange(48), np.arange(64), indexing="ij")
    obs = {}
    for k, cam in enumerate(("top", "gripper")):
        stats[f"observation.images.{cam}"] = {
            "mean": [[[0.4 + 0.05 * k]], [[0.5]], [[0.45]]],
            "std": [[[0.25]], [[0.2]], [[0.3]]],
        }
        channels = [(yy * 5 + xx * 3 + ch * 40 + k * 17) % 256 for ch in range(3)]
        obs[f"observation.images.{cam}"] = np.stack(channels, -1).astype(np.uint8)
    obs["observation.state"] = np.linspace(-0.5, 0.7, 6).astype(np.float32)
    policy = ACTPolicy(config, stats)
    _fill(policy)
    return policy, obs


def test_predicted_chunk_matches_lerobot(golden):
    policy, obs = golden
    chunk = TorchChunkPolicy(policy).predict_chunk(obs).actions
    np.testing.assert_allclose(chunk, np.array(LEROBOT_CHUNK, dtype=np.float32), rtol=0, atol=1e-5)


def test_vae_training_loss_matches_lerobot(golden):
    policy, obs = golden
    batch = TorchChunkPolicy(policy).to_batch(obs)
    batch["action"] = torch.sin(torch.arange(30, dtype=torch.float32)).reshape(1, 5, 6)
    batch = policy.preprocessor.normalize(batch)
    batch["action_is_pad"] = torch.tensor([[False, False, False, False, True]])
    policy.train()
    torch.manual_seed(0)  # the latent sample draws from torch's generator, as in LeRobot
    _, info = policy(batch)
    assert info["l1_loss"] == pytest.approx(LEROBOT_L1, rel=1e-5)
    assert info["kld_loss"] == pytest.approx(LEROBOT_KLD, rel=1e-5)
