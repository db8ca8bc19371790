"""Numerical parity with LeRobot: the reference numbers (act_lerobot_golden) were produced by
LeRobot 0.4.4's own ACTPolicy and processors (torch 2.13 CPU) on the same deterministic weights
and inputs; our code must reproduce them. (LeRobot itself is not needed to run this test.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from act_lerobot_golden import (
    LEROBOT_CHUNK,
    LEROBOT_CHUNK_CONDITIONED,
    LEROBOT_KLD,
    LEROBOT_L1,
    golden_policy,
)

from edgevla.policies.chunk_policy import TorchChunkPolicy


@pytest.fixture
def golden():
    return golden_policy()


@pytest.mark.parametrize("conditioned", [False, True])
def test_predicted_chunk_matches_lerobot(conditioned):
    policy, obs = golden_policy(conditioned)
    want = LEROBOT_CHUNK_CONDITIONED if conditioned else LEROBOT_CHUNK
    chunk = TorchChunkPolicy(policy).predict_chunk(obs).actions
    np.testing.assert_allclose(chunk, np.array(want, dtype=np.float32), rtol=0, atol=1e-5)


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
