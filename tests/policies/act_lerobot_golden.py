"""The golden ACT: deterministic weights and inputs on which LeRobot 0.4.4's own ACTPolicy and
processors (torch 2.13 CPU) produced the numbers below. Shared by the torch policy's parity test
and the FP32 bundle's (LeRobot itself is needed by neither), and read by
tools/record_act_golden_with_lerobot.py, which re-records them with LeRobot. The module name is
unique: the tests/policies directory is on sys.path (its conftest) so test modules import it.

Two weight fillings. The plain one's sine-pattern convolutions are ill-conditioned (their sums
cancel: the backbone in float32 is 4 % off float64, and batching the cameras moves the chunk by
1e-2), so only the very same torch kernels reproduce LEROBOT_CHUNK; `conditioned` scales each
convolution by its fan-in (He), so float32 ONNX reproduces LEROBOT_CHUNK_CONDITIONED to 1e-6.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

CAMERAS = ("top", "gripper")
H, W = 48, 64
LEROBOT_CHUNK = [
    [2.863656, 3.954131, 2.9607, -0.021768, -3.541788, -5.462349],
    [2.863689, 3.954165, 2.960713, -0.021792, -3.541845, -5.462413],
    [2.862064, 3.942849, 2.943247, -0.036548, -3.54421, -5.447897],
    [2.870596, 3.94187, 2.929594, -0.058572, -3.563702, -5.45275],
    [2.892128, 3.973884, 2.955294, -0.057343, -3.594677, -5.505744],
]
LEROBOT_L1, LEROBOT_KLD = 3.1811399459838867, 3.880188226699829
LEROBOT_CHUNK_CONDITIONED = [
    [2.866975, 3.948587, 2.946381, -0.038844, -3.552100, -5.458137],
    [2.866071, 3.948248, 2.947057, -0.037239, -3.550268, -5.457099],
    [2.862674, 3.959412, 2.971285, -0.010722, -3.536817, -5.467897],
    [2.875913, 3.945489, 2.928464, -0.065330, -3.573615, -5.460772],
    [2.891576, 3.989467, 2.983251, -0.030348, -3.585215, -5.523769],
]
NORMALIZATION = {"VISUAL": "MEAN_STD", "STATE": "MIN_MAX", "ACTION": "MEAN_STD"}


def fill(policy: torch.nn.Module, conditioned: bool = False) -> None:
    """Every tensor (keys sorted) gets a sine pattern; scales ~1 where LeRobot expects them;
    `conditioned`: convolution kernels times 2 sqrt(2 / fan_in)."""
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
            if conditioned and t.ndim == 4:
                value = value * 2 * (2.0 / t[0].numel()) ** 0.5
            t.copy_(value.to(t.dtype))


def golden_config():  # -> edgevla ACTConfig
    from edgevla.policies.testing import tiny_act_config

    return tiny_act_config(
        CAMERAS, (H, W), chunk_size=5, n_action_steps=5, dropout=0.0,
        normalization_mapping=NORMALIZATION,
    )  # fmt: skip


def golden_inputs() -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """(dataset statistics as lists, observation as a robot gives it)."""
    idx = np.arange(6)
    stats: dict[str, dict[str, Any]] = {
        "observation.state": {"min": (-1 - 0.1 * idx).tolist(), "max": (1 + 0.2 * idx).tolist()},
        "action": {"mean": (0.1 * idx).tolist(), "std": (0.5 + 0.1 * idx).tolist()},
    }
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    obs = {}
    for k, cam in enumerate(CAMERAS):
        stats[f"observation.images.{cam}"] = {
            "mean": [[[0.4 + 0.05 * k]], [[0.5]], [[0.45]]],
            "std": [[[0.25]], [[0.2]], [[0.3]]],
        }
        channels = [(yy * 5 + xx * 3 + ch * 40 + k * 17) % 256 for ch in range(3)]
        obs[f"observation.images.{cam}"] = np.stack(channels, -1).astype(np.uint8)
    obs["observation.state"] = np.linspace(-0.5, 0.7, 6).astype(np.float32)
    return stats, obs


def golden_policy(conditioned: bool = False):  # -> (edgevla ACTPolicy, observation)
    """(policy, observation) exactly as LeRobot was given them."""
    from edgevla.policies.act import ACTPolicy

    stats, obs = golden_inputs()
    policy = ACTPolicy(golden_config(), stats)
    fill(policy, conditioned)
    return policy, obs
