"""ACTPolicy's state_dict must carry exactly LeRobot's key names and shapes.

The reference lists below are written out from LeRobot 0.4.4's modeling_act.py (ACTPolicy ->
`model` = ACT) and torchvision's resnet18 as kept by IntermediateLayerGetter up to layer4.
"""

from __future__ import annotations

from edgevla.policies.types import FeatureType, PolicyFeature

BN = ("weight", "bias", "running_mean", "running_var")  # FrozenBatchNorm2d buffers


def _backbone_keys() -> list[str]:
    keys = ["conv1.weight", *(f"bn1.{b}" for b in BN)]
    for layer in (1, 2, 3, 4):
        for block in (0, 1):
            p = f"layer{layer}.{block}"
            keys += [f"{p}.conv1.weight", *(f"{p}.bn1.{b}" for b in BN)]
            keys += [f"{p}.conv2.weight", *(f"{p}.bn2.{b}" for b in BN)]
        if layer > 1:  # stride-2 stages project the residual
            keys += [f"layer{layer}.0.downsample.0.weight"]
            keys += [f"layer{layer}.0.downsample.1.{b}" for b in BN]
    return keys


ENCODER_LAYER = [
    "self_attn.in_proj_weight",
    "self_attn.in_proj_bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "linear1.weight",
    "linear1.bias",
    "linear2.weight",
    "linear2.bias",
    "norm1.weight",
    "norm1.bias",
    "norm2.weight",
    "norm2.bias",
]
DECODER_LAYER = [
    *ENCODER_LAYER,
    "multihead_attn.in_proj_weight",
    "multihead_attn.in_proj_bias",
    "multihead_attn.out_proj.weight",
    "multihead_attn.out_proj.bias",
    "norm3.weight",
    "norm3.bias",
]

# state + 2 cameras, use_vae, 1 encoder / 1 decoder / 1 VAE-encoder layer, post-norm.
LEROBOT_KEYS = sorted(
    [
        *(f"model.backbone.{k}" for k in _backbone_keys()),
        *(f"model.encoder.layers.0.{k}" for k in ENCODER_LAYER),
        *(f"model.decoder.layers.0.{k}" for k in DECODER_LAYER),
        "model.decoder.norm.weight",
        "model.decoder.norm.bias",
        *(f"model.vae_encoder.layers.0.{k}" for k in ENCODER_LAYER),
        "model.vae_encoder_cls_embed.weight",
        "model.vae_encoder_robot_state_input_proj.weight",
        "model.vae_encoder_robot_state_input_proj.bias",
        "model.vae_encoder_action_input_proj.weight",
        "model.vae_encoder_action_input_proj.bias",
        "model.vae_encoder_latent_output_proj.weight",
        "model.vae_encoder_latent_output_proj.bias",
        "model.vae_encoder_pos_enc",
        "model.encoder_robot_state_input_proj.weight",
        "model.encoder_robot_state_input_proj.bias",
        "model.encoder_latent_input_proj.weight",
        "model.encoder_latent_input_proj.bias",
        "model.encoder_img_feat_input_proj.weight",
        "model.encoder_img_feat_input_proj.bias",
        "model.encoder_1d_feature_pos_embed.weight",
        "model.decoder_pos_embed.weight",
        "model.action_head.weight",
        "model.action_head.bias",
    ]
)


def test_backbone_reference_list_is_resnet18_sized():
    keys = _backbone_keys()
    assert len(keys) == 100 and len(set(keys)) == 100
    assert sum(k.endswith("conv1.weight") or k.endswith("conv2.weight") for k in keys) == 17


def test_state_dict_keys_equal_lerobot(tiny_config, random_stats, random_policy):
    policy = random_policy(tiny_config(), random_stats())
    assert sorted(policy.state_dict()) == LEROBOT_KEYS


def test_state_dict_shapes_follow_config(tiny_config, random_stats, random_policy):
    config = tiny_config(chunk_size=7, dim_model=32, latent_dim=8)
    sd = random_policy(config, random_stats()).state_dict()
    assert sd["model.backbone.conv1.weight"].shape == (64, 3, 7, 7)
    assert sd["model.backbone.layer4.0.downsample.0.weight"].shape == (512, 256, 1, 1)
    assert sd["model.encoder.layers.0.self_attn.in_proj_weight"].shape == (96, 32)
    assert sd["model.encoder_img_feat_input_proj.weight"].shape == (32, 512, 1, 1)
    assert sd["model.encoder_1d_feature_pos_embed.weight"].shape == (2, 32)  # latent, state
    assert sd["model.vae_encoder_pos_enc"].shape == (1, 7 + 2, 32)  # cls, state, 7 actions
    assert sd["model.vae_encoder_latent_output_proj.weight"].shape == (16, 32)
    assert sd["model.decoder_pos_embed.weight"].shape == (7, 32)
    assert sd["model.action_head.weight"].shape == (6, 32)


def test_no_vae_env_state_and_pre_norm_change_keys_as_lerobot(tiny_config, random_stats):
    from edgevla.policies.act import ACTPolicy

    config = tiny_config(
        use_vae=False,
        pre_norm=True,
        input_features={
            "observation.environment_state": PolicyFeature(FeatureType.ENV, (4,)),
            "observation.state": PolicyFeature(FeatureType.STATE, (6,)),
        },
        normalization_mapping={"STATE": "MEAN_STD", "ACTION": "MEAN_STD"},
    )
    stats = random_stats()
    stats["observation.environment_state"] = {"mean": [0.0] * 4, "std": [1.0] * 4}
    state_dict = ACTPolicy(config, stats).state_dict()
    keys = set(state_dict)
    assert not any(k.startswith(("model.vae_encoder", "model.backbone")) for k in keys)
    assert "model.encoder_img_feat_input_proj.weight" not in keys
    assert {"model.encoder_env_state_input_proj.weight", "model.encoder.norm.weight"} <= keys
    # pre-norm adds the encoder's final LayerNorm (post-norm has none); latent+state+env tokens.
    assert state_dict["model.encoder_1d_feature_pos_embed.weight"].shape == (3, 32)
