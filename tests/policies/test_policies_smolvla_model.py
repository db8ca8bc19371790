"""SmolVLA's network on the tiny config: training step, sampling, the three inference stages that
export cuts out, the KV-cache path against the full pass, images, tokens, and config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
import transformers

from edgevla.policies.chunk_policy import TorchChunkPolicy
from edgevla.policies.smolvla import (
    SmolVLAPolicy,
    SmolVLMWithExpertModel,
    build_word_tokenizer,
)
from edgevla.policies.smolvla.attention import make_att_2d_masks
from edgevla.policies.smolvla.patches import patch_position_ids
from edgevla.policies.smolvla.preprocess import prepare_image, resize_with_pad
from edgevla.policies.smolvla.testing import tiny_config, tiny_vlm_config

CAMERAS = ("top", "gripper", "left")
TASK = "Put the tea bag in the mug"


def _stats() -> dict:
    return {
        "observation.state": {"mean": [0.1] * 6, "std": [0.5] * 6},
        "action": {"mean": [-0.2] * 6, "std": [2.0] * 6},
    }


def _policy(seed: int = 0, **overrides) -> SmolVLAPolicy:
    torch.manual_seed(seed)
    config = tiny_config("tiny-vlm", **overrides)
    return SmolVLAPolicy(
        config, _stats(), vlm_config=tiny_vlm_config(), tokenizer=build_word_tokenizer(128)
    )


def _batch(batch_size: int = 2, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    batch = {
        f"observation.images.{c}": torch.rand(batch_size, 3, 48, 64, generator=gen) for c in CAMERAS
    }
    batch["observation.state"] = torch.randn(batch_size, 6, generator=gen)
    batch["action"] = torch.randn(batch_size, 8, 6, generator=gen)
    batch["task"] = [TASK, "put the bag in the mug"][:batch_size]
    return batch


def _observation(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    obs = {
        f"observation.images.{c}": rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        for c in CAMERAS
    }
    obs["observation.state"] = rng.normal(size=6).astype(np.float32)
    obs["task"] = TASK
    return obs


@pytest.mark.parametrize("expert_only", [True, False])
def test_training_step_gives_finite_loss_and_gradients(expert_only):
    policy = _policy(train_expert_only=expert_only, freeze_vision_encoder=expert_only)
    policy.train()
    loss, info = policy(policy.preprocessor.normalize(_batch()))
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.item() > 0
    assert info["loss"] == pytest.approx(loss.item())
    loss.backward()
    grads = {n: p.grad for n, p in policy.named_parameters() if p.grad is not None}
    assert all(torch.isfinite(g).all() for g in grads.values())
    for name in ("model.action_in_proj.weight", "model.state_proj.weight",
                 "model.vlm_with_expert.lm_expert.layers.1.self_attn.k_proj.weight"):  # fmt: skip
        assert grads[name].abs().sum() > 0, name
    vlm_grads = [n for n in grads if n.startswith("model.vlm_with_expert.vlm.")]
    if expert_only:
        assert not vlm_grads
    else:  # the VLM learns through the keys/values the expert reads, the vision tower too
        assert (
            "model.vlm_with_expert.vlm.model.text_model.layers.0.self_attn.k_proj.weight" in grads
        )
        assert any(".vision_model." in n for n in vlm_grads)
    optimizer = torch.optim.AdamW(policy.optim_param_groups(), lr=1e-3)
    before = policy.model.action_out_proj.weight.detach().clone()
    optimizer.step()
    assert not torch.equal(before, policy.model.action_out_proj.weight)


def test_frozen_vlm_stays_in_eval_mode_when_training():
    policy = _policy()
    policy.train()
    assert policy.model.action_in_proj.training and not policy.model.vlm_with_expert.vlm.training


def test_loss_per_sample_and_padding_of_short_actions():
    policy = _policy()
    batch = policy.preprocessor.normalize(_batch())
    noise, time = torch.randn(2, 8, 32), torch.tensor([0.3, 0.6])
    per_sample, _ = policy(batch, noise=noise, time=time, reduction="none")
    mean, _ = policy(batch, noise=noise, time=time)
    assert per_sample.shape == (2,)
    torch.testing.assert_close(per_sample.mean(), mean)
    # the padded action dims hold zeros, so their target is the noise itself (as in LeRobot)
    losses = policy.model(
        *policy.prepare_inputs(batch), F.pad(batch["action"], (0, 26)), noise, time
    )
    assert losses.shape == (2, 8, 32)


def test_predict_chunk_returns_float32_chunk_and_is_reproducible_per_seed():
    chunk_policy = TorchChunkPolicy(_policy(), fps=30.0, seed=7)
    assert chunk_policy.spec.chunk_size == 8 and chunk_policy.spec.cameras == CAMERAS
    assert chunk_policy.spec.image_shape == (48, 64) and chunk_policy.spec.state_dim == 6
    chunk = chunk_policy.predict_chunk(_observation(), timestep=12)
    assert chunk.actions.shape == (8, 6) and chunk.actions.dtype == np.float32
    assert chunk.timestep == 12 and np.isfinite(chunk.actions).all()
    second = chunk_policy.predict_chunk(_observation(), timestep=13)
    assert not np.array_equal(second.actions, chunk.actions)  # fresh noise for each chunk
    chunk_policy.reset()
    np.testing.assert_array_equal(chunk_policy.predict_chunk(_observation()).actions, chunk.actions)


def test_chunk_policy_rejects_bad_observations():
    chunk_policy = TorchChunkPolicy(_policy())
    obs = _observation()
    with pytest.raises(KeyError, match="task"):
        chunk_policy.predict_chunk({k: v for k, v in obs.items() if k != "task"})
    with pytest.raises(KeyError, match="observation.images.left"):
        chunk_policy.predict_chunk({k: v for k, v in obs.items() if k != "observation.images.left"})
    bad = dict(obs, **{"observation.images.top": np.zeros((64, 64, 3), np.uint8)})
    with pytest.raises(ValueError, match=r"observation.images.top.*\(48, 64, 3\)"):
        chunk_policy.predict_chunk(bad)
    with pytest.raises(ValueError, match="observation.state"):
        chunk_policy.predict_chunk(dict(obs, **{"observation.state": np.zeros(7, np.float32)}))


def test_three_stages_composed_equal_sample_actions():
    """What export relies on: vision per camera, prefix + prefill, then the expert's steps."""
    policy = _policy(num_steps=3).eval()
    batch = policy.preprocessor.normalize(_batch())
    images, img_masks, tokens, lang_masks, state = policy.prepare_inputs(batch)
    noise = torch.randn(2, 8, 32)
    model = policy.model
    with torch.no_grad():
        want = model.sample_actions(images, img_masks, tokens, lang_masks, state, noise=noise)
        image_tokens = [model.embed_image(image) for image in images]  # stage 1
        assert all(t.shape == (2, 4, 64) for t in image_tokens)  # 16 patches / 2^2
        prefix, pad, att = model.embed_prefix_tokens(
            image_tokens, img_masks, tokens, lang_masks, state
        )
        cache = model.prefill(prefix, pad, att)  # stage 2
        assert len(cache) == 2 and cache[0][0].shape == (2, prefix.shape[1], 2, 16)
        x_t, dt = noise, -1.0 / 3
        for step in range(3):  # stage 3, run three times on the same cache
            time = torch.full((2,), 1.0 + step * dt, dtype=torch.float32)
            x_t = x_t + dt * model.denoise_step(x_t, time, pad, cache)
    assert torch.equal(x_t, want)


def test_cached_denoise_step_equals_the_full_training_pass():
    """The expert reading the KV cache sees what it sees when run beside the VLM (training)."""
    policy = _policy(num_vlm_layers=4).eval()
    batch = policy.preprocessor.normalize(_batch())
    model = policy.model
    x_t, time = torch.randn(2, 8, 32), torch.tensor([0.7, 0.2])
    with torch.no_grad():
        prefix, pad, att = model.embed_prefix(*policy.prepare_inputs(batch))
        cached = model.denoise_step(x_t, time, pad, model.prefill(prefix, pad, att))
        suffix, suffix_pad, suffix_att = model.embed_suffix(x_t, time)
        pads = torch.cat([pad, suffix_pad], dim=1)
        mask = make_att_2d_masks(pads, torch.cat([att, suffix_att], dim=1))
        out = model.vlm_with_expert.joint(prefix, suffix, mask, torch.cumsum(pads, dim=1) - 1)
        full = model.action_out_proj(out)
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=1e-5)


def test_padded_task_tokens_do_not_change_the_actions():
    """Padding to max_length (what a fixed-shape export uses) gives LeRobot's 'longest' result."""
    noise = torch.randn(1, 8, 32)
    results = []
    for padding in ("longest", "max_length"):
        policy = _policy(pad_language_to=padding).eval()
        batch = policy.preprocessor.normalize(_batch(batch_size=1))
        tokens, _ = policy.prepare_language(batch)
        assert tokens.shape[1] == (8 if padding == "longest" else 48)
        results.append(policy.predict_action_chunk(batch, noise=noise))
    torch.testing.assert_close(results[0], results[1], atol=1e-5, rtol=1e-5)


def test_task_is_tokenized_with_a_newline_and_truncated():
    policy = _policy(tokenizer_max_length=5)
    tokens, mask = policy.tokenize("Put the tea\n")
    assert tokens.tolist() == [[7, 8, 9, 6]] and mask.all()  # "\n" added once, not twice
    tokens, mask = policy.tokenize([TASK, "mug"])
    assert tokens.shape == (2, 5) and mask[1].tolist() == [True, True, False, False, False]
    with pytest.raises(RuntimeError, match="no tokenizer"):
        SmolVLAPolicy(tiny_config("tiny-vlm"), _stats(), vlm_config=tiny_vlm_config()).tokenize(
            TASK
        )
    with pytest.raises(ValueError, match="200 tokens"):
        _policy().set_tokenizer(build_word_tokenizer(200))


def test_images_are_resized_with_padding_and_scaled_to_minus_one_one():
    images = torch.rand(2, 3, 48, 64)
    out = prepare_image(images, (64, 64))
    assert out.shape == (2, 3, 64, 64)
    assert torch.all(out[:, :, :16] == -1.0)  # 48 -> 48 rows, padded on top
    resized = F.interpolate(images, size=(48, 64), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[:, :, 16:], resized * 2 - 1)
    wide = resize_with_pad(torch.rand(1, 3, 32, 128), 64, 64)
    assert wide.shape == (1, 3, 64, 64) and torch.all(wide[:, :, :48] == 0)


def _installed_transformers_rule() -> str:
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "transformers-4.57-float32" if (major, minor) >= (4, 55) and major < 5 else "exact"


def test_patch_positions_follow_the_installed_transformers_rule():
    """Each rule reproduces transformers' own vision embeddings for the versions it names."""
    policy = _policy(freeze_vision_encoder=False)
    expert = policy.model.vlm_with_expert
    pixels = torch.rand(2, 3, 64, 64) * 2 - 1
    expert.patch_position_rule = _installed_transformers_rule()
    with torch.no_grad():
        ours = expert.embed_image(pixels)
        hf = expert.vlm.model.connector(expert.vision_model(pixel_values=pixels).last_hidden_state)
    torch.testing.assert_close(ours, hf, atol=1e-5, rtol=1e-5)


def test_lerobot_0_4_float32_patch_positions_shift_boundary_patches():
    # LeRobot >= 0.5 (transformers 5.x) gives the exact ids, the default here; LeRobot 0.4 runs
    # transformers 4.57, whose float32 rule shifts boundary patches one cell down.
    assert patch_position_ids(32, 32, 32).tolist() == list(range(1024))
    assert patch_position_ids(4, 4, 4, "exact").tolist() == list(range(16))
    legacy = patch_position_ids(32, 32, 32, "transformers-4.57-float32").reshape(32, 32)
    assert (legacy[:, 0] // 32).tolist() == [0, 0, *range(1, 31)]  # rows: 0, 0, 1, ..., 30
    assert legacy[0, :3].tolist() == [0, 0, 1] and legacy.max() == 30 * 32 + 30
    with pytest.raises(ValueError, match="rule"):
        patch_position_ids(4, 4, 4, "nearest")
    policy = _policy()
    assert policy.patch_positions == "exact"
    with pytest.raises(ValueError, match="rule"):
        policy.patch_positions = "transformers-4.57"


def test_config_layouts_lerobot_cannot_run_are_refused():
    config = tiny_config("tiny-vlm", num_vlm_layers=4, num_expert_layers=2)
    with pytest.raises(ValueError, match="self-attention layer"):
        SmolVLMWithExpertModel(config, tiny_vlm_config())
    with pytest.raises(ValueError, match="only 4 text layers"):
        SmolVLMWithExpertModel(tiny_config("tiny-vlm", num_vlm_layers=6), tiny_vlm_config())
    with pytest.raises(ValueError, match="vlm_config is needed"):
        SmolVLAPolicy(tiny_config("somewhere/else"), _stats())


def test_empty_cameras_become_masked_placeholder_images():
    policy = _policy(empty_cameras=1).eval()
    assert "observation.images.empty_camera_0" in policy.config.image_features
    assert "observation.images.empty_camera_0" not in policy.config.camera_features
    images, masks = policy.prepare_images(policy.preprocessor.normalize(_batch()))
    assert len(images) == 4 and torch.all(images[3] == -1) and not masks[3].any()
    chunk = TorchChunkPolicy(policy).predict_chunk(_observation())
    assert chunk.actions.shape == (8, 6) and np.isfinite(chunk.actions).all()
