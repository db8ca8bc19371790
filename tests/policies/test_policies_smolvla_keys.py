"""State-dict keys and shapes: exactly LeRobot's, in LeRobot's order.

The reference list is derived by hand from LeRobot 0.4.4's SmolVLA source for the tiny config
(`edgevla.policies.smolvla.testing`: text width 64, 4 heads over 2 KV heads of 16, MLP 128,
vocab 128, first 2 of 4 text layers; vision width 32, 2 layers, 16 px patches on 64 px, pixel
shuffle x2; expert width 0.75 x 64 = 48):

- `model.vlm_with_expert.vlm` is transformers' SmolVLMForConditionalGeneration: `model.vision_model`
  (SigLIP embeddings, encoder layers with q/k/v/out projections, layer norms and fc1/fc2,
  post_layernorm), `model.connector.modality_projection.proj` (no bias, 4 * 32 -> 64),
  `model.text_model` (embed_tokens, Llama layers, norm) cut to num_vlm_layers, and `lm_head`.
- `model.vlm_with_expert.lm_expert` is a Llama stack of the text config with hidden 48, MLP
  get_intermediate_size(48) = 256 (4 * int(2 * 48 / 3) rounded up to 256), head_dim kept at 16,
  embed_tokens removed; in layers i % self_attn_every_n_layers != 0 k/v read the VLM's 2 * 16.
- `model.state_proj` (32 -> 64), `model.action_in_proj` (32 -> 48), `model.action_out_proj`
  (48 -> 32), `model.action_time_mlp_in` (96 -> 48), `model.action_time_mlp_out` (48 -> 48).
"""

from __future__ import annotations

import pytest
import torch

from edgevla.policies.smolvla import SmolVLAConfig, SmolVLAPolicy, build_word_tokenizer
from edgevla.policies.smolvla.expert import expert_intermediate_size
from edgevla.policies.smolvla.testing import tiny_config, tiny_vlm_config
from edgevla.policies.types import FeatureType, NormalizationMode, PolicyFeature


def _linear(name: str, out_features: int, in_features: int, bias: bool = True) -> list:
    keys = [(f"{name}.weight", (out_features, in_features))]
    return keys + ([(f"{name}.bias", (out_features,))] if bias else [])


def _lerobot_keys(text_layers: int = 2, cross_every: int = 2) -> list[tuple[str, tuple]]:
    vlm, exp = "model.vlm_with_expert.vlm", "model.vlm_with_expert.lm_expert"
    vis = f"{vlm}.model.vision_model"
    keys = [
        (f"{vis}.embeddings.patch_embedding.weight", (32, 3, 16, 16)),
        (f"{vis}.embeddings.patch_embedding.bias", (32,)),
        (f"{vis}.embeddings.position_embedding.weight", (16, 32)),  # (64 / 16)^2 positions
    ]
    for i in range(2):
        layer = f"{vis}.encoder.layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            keys += _linear(f"{layer}.self_attn.{proj}", 32, 32)
        keys += [(f"{layer}.layer_norm1.weight", (32,)), (f"{layer}.layer_norm1.bias", (32,))]
        keys += _linear(f"{layer}.mlp.fc1", 64, 32) + _linear(f"{layer}.mlp.fc2", 32, 64)
        keys += [(f"{layer}.layer_norm2.weight", (32,)), (f"{layer}.layer_norm2.bias", (32,))]
    keys += [(f"{vis}.post_layernorm.weight", (32,)), (f"{vis}.post_layernorm.bias", (32,))]
    keys += _linear(f"{vlm}.model.connector.modality_projection.proj", 64, 128, bias=False)
    keys += [(f"{vlm}.model.text_model.embed_tokens.weight", (128, 64))]

    def llama_layer(prefix: str, width: int, mlp: int, kv_in: int) -> list:
        out = _linear(f"{prefix}.self_attn.q_proj", 64, width, bias=False)
        out += _linear(f"{prefix}.self_attn.k_proj", 32, kv_in, bias=False)
        out += _linear(f"{prefix}.self_attn.v_proj", 32, kv_in, bias=False)
        out += _linear(f"{prefix}.self_attn.o_proj", width, 64, bias=False)
        out += _linear(f"{prefix}.mlp.gate_proj", mlp, width, bias=False)
        out += _linear(f"{prefix}.mlp.up_proj", mlp, width, bias=False)
        out += _linear(f"{prefix}.mlp.down_proj", width, mlp, bias=False)
        return out + [
            (f"{prefix}.input_layernorm.weight", (width,)),
            (f"{prefix}.post_attention_layernorm.weight", (width,)),
        ]

    for i in range(text_layers):
        keys += llama_layer(f"{vlm}.model.text_model.layers.{i}", 64, 128, 64)
    keys += [(f"{vlm}.model.text_model.norm.weight", (64,)), (f"{vlm}.lm_head.weight", (128, 64))]
    for i in range(text_layers):
        cross = i % cross_every != 0
        keys += llama_layer(f"{exp}.layers.{i}", 48, 256, 32 if cross else 48)
    keys += [(f"{exp}.norm.weight", (48,))]
    keys += _linear("model.state_proj", 64, 32) + _linear("model.action_in_proj", 48, 32)
    keys += _linear("model.action_out_proj", 32, 48) + _linear("model.action_time_mlp_in", 48, 96)
    return keys + _linear("model.action_time_mlp_out", 48, 48)


def _policy(**overrides) -> SmolVLAPolicy:
    config = tiny_config(
        "tiny-vlm",
        normalization_mapping={"VISUAL": "IDENTITY", "STATE": "IDENTITY", "ACTION": "IDENTITY"},
        **overrides,
    )
    return SmolVLAPolicy(config, vlm_config=tiny_vlm_config(), tokenizer=build_word_tokenizer(128))


def test_expert_mlp_width_follows_lerobot():
    assert expert_intermediate_size(48) == 256
    assert expert_intermediate_size(720) == 2048  # SmolVLA's expert: 0.75 x 960


@pytest.mark.parametrize(("layers", "every"), [(2, 2), (3, 3), (4, 2)])
def test_state_dict_keys_and_shapes_are_lerobots(layers, every):
    policy = _policy(num_vlm_layers=layers, self_attn_every_n_layers=every)
    ours = [(k, tuple(v.shape)) for k, v in policy.state_dict().items()]
    assert ours == _lerobot_keys(layers, every)
    assert all(v.dtype == torch.float32 for v in policy.state_dict().values())


def test_lm_head_is_its_own_tensor():
    """safetensors refuses shared tensors; SmolVLM2's lm_head is untied, and stays so here."""
    vlm = _policy().model.vlm_with_expert.vlm
    assert vlm.lm_head.weight.data_ptr() != vlm.model.text_model.embed_tokens.weight.data_ptr()


def test_trainable_parameters_follow_lerobots_defaults():
    policy = _policy()
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert not any(n.startswith("model.vlm_with_expert.vlm.") for n in trainable)
    assert "model.state_proj.weight" in trainable and "model.action_out_proj.bias" in trainable
    assert any(n.startswith("model.vlm_with_expert.lm_expert.") for n in trainable)
    policy = _policy(train_expert_only=False, freeze_vision_encoder=True, train_state_proj=False)
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert (
        "model.vlm_with_expert.vlm.model.text_model.layers.0.self_attn.q_proj.weight" in trainable
    )
    assert not any(".vision_model." in n or "lm_head" in n for n in trainable)
    assert "model.state_proj.weight" not in trainable


def _full_size_config() -> SmolVLAConfig:
    inputs = {
        f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, 480, 640))
        for c in ("top", "gripper", "left")
    }
    inputs["observation.state"] = PolicyFeature(FeatureType.STATE, (6,))
    identity = {t: NormalizationMode.IDENTITY for t in ("VISUAL", "STATE", "ACTION")}
    return SmolVLAConfig(
        input_features=inputs,
        output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))},
        normalization_mapping=identity,
    )


def test_full_size_smolvla_has_lerobots_shapes():
    """SmolVLM2-500M's built-in numbers, 16 of 32 text layers: ~450 M parameters (built on the
    meta device, so nothing is allocated)."""
    with torch.device("meta"):
        policy = SmolVLAPolicy(_full_size_config())
    shapes = {k: tuple(v.shape) for k, v in policy.state_dict().items()}
    vlm, exp = "model.vlm_with_expert.vlm.model", "model.vlm_with_expert.lm_expert"
    assert shapes[f"{vlm}.vision_model.embeddings.position_embedding.weight"] == (1024, 768)
    assert shapes[f"{vlm}.connector.modality_projection.proj.weight"] == (960, 768 * 16)
    assert shapes[f"{vlm}.text_model.embed_tokens.weight"] == (49280, 960)
    assert shapes[f"{vlm}.text_model.layers.15.self_attn.k_proj.weight"] == (320, 960)
    assert f"{vlm}.text_model.layers.16.self_attn.k_proj.weight" not in shapes
    assert shapes[f"{exp}.layers.0.self_attn.k_proj.weight"] == (320, 720)
    assert shapes[f"{exp}.layers.1.self_attn.k_proj.weight"] == (320, 320)
    assert shapes[f"{exp}.layers.15.self_attn.q_proj.weight"] == (960, 720)
    assert shapes[f"{exp}.layers.15.mlp.gate_proj.weight"] == (2048, 720)
    assert shapes["model.action_time_mlp_in.weight"] == (720, 1440)
    assert len(shapes) == 500
    total = sum(p.numel() for p in policy.parameters())
    assert 449_000_000 < total < 451_000_000, total
