"""ACT's training objective: masked L1 on the chunk plus kl_weight * KL with the VAE."""

from __future__ import annotations

import pytest
import torch

from edgevla.policies.chunk_policy import TorchChunkPolicy


def _batch(policy, observation, seed=0, batch_size=2):
    torch.manual_seed(seed)
    obs = TorchChunkPolicy(policy).to_batch(observation())
    T = policy.config.chunk_size
    batch = {k: v.expand(batch_size, *v.shape[1:]).clone() for k, v in obs.items()}
    batch["action"] = torch.randn(batch_size, T, 6)
    batch["action_is_pad"] = torch.zeros(batch_size, T, dtype=torch.bool)
    batch["action_is_pad"][:, -2:] = True
    return policy.preprocessor.normalize(batch)


def test_vae_training_step_gives_finite_loss_and_gradients(
    tiny_config, random_stats, random_policy, observation
):
    policy = random_policy(tiny_config(), random_stats()).train()
    loss, info = policy(_batch(policy, observation))
    assert torch.isfinite(loss) and set(info) == {"l1_loss", "kld_loss"}
    assert loss.item() == pytest.approx(info["l1_loss"] + 10.0 * info["kld_loss"], rel=1e-5)
    loss.backward()
    grads = {n: p.grad for n, p in policy.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    # The VAE encoder, the backbone and the decoder all learn from this loss.
    for name in (
        "model.vae_encoder.layers.0.self_attn.in_proj_weight",
        "model.vae_encoder_action_input_proj.weight",
        "model.backbone.layer4.1.conv2.weight",
        "model.decoder.layers.0.multihead_attn.in_proj_weight",
    ):
        assert grads[name].abs().sum() > 0, name
    # Frozen batch norm stays out of the optimizer.
    assert all("bn" not in n for n, _ in policy.named_parameters())


def test_padded_steps_do_not_count(tiny_config, random_stats, random_policy, observation):
    policy = random_policy(tiny_config(use_vae=False, dropout=0.0), random_stats())
    policy.train()
    batch = _batch(policy, observation)
    loss_a, info = policy(batch)
    assert set(info) == {"l1_loss"}
    batch["action"][:, -2:] += 100.0  # only padded steps change
    loss_b, _ = policy(batch)
    assert loss_a.item() == pytest.approx(loss_b.item(), rel=1e-6)
    batch["action"][:, 0] += 1.0  # a real step changes the loss
    assert policy(batch)[0].item() != pytest.approx(loss_a.item(), rel=1e-6)


def test_kl_term_matches_closed_form(tiny_config, random_stats, random_policy, observation):
    policy = random_policy(tiny_config(dropout=0.0), random_stats()).train()
    batch = _batch(policy, observation)
    batch_images = policy._with_image_list(batch)
    mu, log_var = policy.model._encode_latent(batch_images, 2)
    want = (0.5 * (mu**2 + log_var.exp() - 1 - log_var)).sum(-1).mean()
    _, info = policy(batch)
    assert info["kld_loss"] == pytest.approx(want.item(), rel=1e-5)


def test_vae_training_without_actions_is_an_error(
    tiny_config, random_stats, random_policy, observation
):
    policy = random_policy(tiny_config(), random_stats()).train()
    batch = _batch(policy, observation)
    del batch["action"]
    with pytest.raises(ValueError, match="needs 'action'"):
        policy.model(policy._with_image_list(batch))


def test_optimizer_groups_split_backbone(tiny_config, random_stats, random_policy):
    policy = random_policy(tiny_config(optimizer_lr_backbone=3e-6), random_stats())
    main, backbone = policy.optim_param_groups()
    assert backbone["lr"] == 3e-6
    n_backbone = sum(1 for n, _ in policy.named_parameters() if n.startswith("model.backbone"))
    assert len(backbone["params"]) == n_backbone == 20  # 17 convs + 3 downsample convs
    assert len(main["params"]) + n_backbone == len(list(policy.parameters()))
