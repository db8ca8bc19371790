"""SmolVLA training as LeRobot >= 0.5 does it: the loss over the real action dims and the
in-episode steps (`action_is_pad`), and which VLM layers stay frozen when the VLM trains.
(tools/check_checkpoint_with_lerobot.py compares both with LeRobot 0.6.1 itself.)"""

from __future__ import annotations

import pytest
import torch

from edgevla.policies.smolvla import SmolVLAPolicy, build_word_tokenizer
from edgevla.policies.smolvla.preprocess import pad_vector
from edgevla.policies.smolvla.testing import tiny_config, tiny_vlm_config

CAMERAS = ("top", "gripper")
VLM = "model.vlm_with_expert.vlm."


def _policy(**overrides) -> SmolVLAPolicy:
    torch.manual_seed(0)
    config = tiny_config("tiny-vlm", cameras=CAMERAS, **overrides)
    stats = {
        "observation.state": {"mean": [0.1] * 6, "std": [0.5] * 6},
        "action": {"mean": [-0.2] * 6, "std": [2.0] * 6},
    }
    return SmolVLAPolicy(
        config, stats, vlm_config=tiny_vlm_config(), tokenizer=build_word_tokenizer(128)
    )


def _batch(policy: SmolVLAPolicy) -> dict:
    gen = torch.Generator().manual_seed(1)
    batch = {f"observation.images.{c}": torch.rand(2, 3, 48, 64, generator=gen) for c in CAMERAS}
    batch["observation.state"] = torch.randn(2, 6, generator=gen)
    batch["action"] = torch.randn(2, 8, 6, generator=gen)
    batch["task"] = ["Put the tea bag in the mug", "put the bag"]
    return policy.preprocessor.normalize(batch)


def _raw_losses(policy: SmolVLAPolicy, batch: dict, noise, time) -> torch.Tensor:
    actions = pad_vector(batch["action"], policy.config.max_action_dim)
    with torch.no_grad():
        return policy.model(*policy.prepare_inputs(batch), actions, noise, time)


def test_loss_covers_the_real_action_dims_only():
    policy = _policy()
    batch = _batch(policy)
    noise, time = torch.randn(2, 8, 32), torch.tensor([0.3, 0.6])
    raw = _raw_losses(policy, batch, noise, time)
    loss, info = policy(batch, noise=noise, time=time)
    torch.testing.assert_close(loss, raw[:, :, :6].mean())
    assert loss.item() != pytest.approx(raw.mean().item(), rel=1e-3)  # not all 32 dims
    per_sample, _ = policy(batch, noise=noise, time=time, reduction="none")
    torch.testing.assert_close(per_sample, raw[:, :, :6].mean(dim=(1, 2)))
    assert info["loss"] == pytest.approx(loss.item())


def test_padded_steps_are_left_out_of_the_loss():
    policy = _policy()
    batch = _batch(policy)
    noise, time = torch.randn(2, 8, 32), torch.tensor([0.3, 0.6])
    raw = _raw_losses(policy, batch, noise, time)[:, :, :6]
    is_pad = torch.zeros(2, 8, dtype=torch.bool)
    is_pad[1, 5:] = True  # the second sample's chunk runs 3 steps past its episode's end
    batch["action_is_pad"] = is_pad
    loss, _ = policy(batch, noise=noise, time=time)
    valid = torch.cat([raw[0].reshape(-1), raw[1, :5].reshape(-1)])
    torch.testing.assert_close(loss, valid.mean())
    per_sample, _ = policy(batch, noise=noise, time=time, reduction="none")
    torch.testing.assert_close(per_sample, torch.stack([raw[0].mean(), raw[1, :5].mean()]))
    batch["action_is_pad"] = torch.ones(2, 8, dtype=torch.bool)
    assert policy(batch, noise=noise, time=time)[0].item() == 0.0  # nothing valid: no NaN
    with pytest.raises(ValueError, match="reduction"):
        policy(batch, reduction="sum")


def _frozen_vlm(policy: SmolVLAPolicy) -> set[str]:
    names = {n.removeprefix(VLM) for n, p in policy.named_parameters() if not p.requires_grad}
    return {n.rsplit(".", 1)[0] for n in names}  # module paths, weights and biases merged


@pytest.mark.parametrize(
    ("overrides", "frozen_layers"),
    [
        ({}, [1]),  # 2 VLM layers, 2 expert layers: the last VLM layer
        ({"num_vlm_layers": 4, "num_expert_layers": 2, "self_attn_every_n_layers": 4}, [2, 3]),
    ],
)
def test_a_training_vlm_keeps_lerobot_s_unused_layers_frozen(overrides, frozen_layers):
    policy = _policy(train_expert_only=False, freeze_vision_encoder=False, **overrides)
    frozen = _frozen_vlm(policy)
    assert {"lm_head", "model.text_model.norm"} <= frozen
    for i in range(policy.model.vlm_with_expert.num_vlm_layers):
        layer = f"model.text_model.layers.{i}.self_attn.k_proj"
        assert (layer in frozen) == (i in frozen_layers), layer
    assert not any(".vision_model." in n for n in frozen)
    assert not any(n.startswith("model.") and "lm_expert" in n for n in frozen)


def test_expert_only_training_freezes_the_whole_vlm():
    policy = _policy()
    trainable = [n for n, p in policy.named_parameters() if p.requires_grad]
    assert trainable and not any(n.startswith(VLM) for n in trainable)
    assert "model.vlm_with_expert.lm_expert.layers.0.self_attn.q_proj.weight" in trainable
