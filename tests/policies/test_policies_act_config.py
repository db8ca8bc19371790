from __future__ import annotations

import json
import warnings

import pytest

from edgevla.policies.act import ACTConfig
from edgevla.policies.types import FeatureType, NormalizationMode, PolicyFeature


def test_json_has_lerobots_keys_in_lerobots_order(tiny_config, lerobot_config_json):
    config = tiny_config()
    ours = config.to_json()
    assert list(ours) == list(lerobot_config_json(config))
    assert ours == lerobot_config_json(config)
    assert ours["type"] == "act" and ours["input_features"]["observation.state"] == {
        "type": "STATE",
        "shape": [6],
    }


def test_defaults_are_lerobots():
    data = ACTConfig(
        input_features={"observation.images.top": PolicyFeature(FeatureType.VISUAL, (3, 480, 640))},
        output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))},
    ).to_json()
    expected = {
        "chunk_size": 100, "n_action_steps": 100, "vision_backbone": "resnet18",
        "pretrained_backbone_weights": "ResNet18_Weights.IMAGENET1K_V1",
        "replace_final_stride_with_dilation": False, "pre_norm": False, "dim_model": 512,
        "n_heads": 8, "dim_feedforward": 3200, "feedforward_activation": "relu",
        "n_encoder_layers": 4, "n_decoder_layers": 1, "use_vae": True, "latent_dim": 32,
        "n_vae_encoder_layers": 4, "temporal_ensemble_coeff": None, "dropout": 0.1,
        "kl_weight": 10.0, "optimizer_lr": 1e-5, "optimizer_weight_decay": 1e-4,
        "optimizer_lr_backbone": 1e-5, "push_to_hub": True, "use_amp": False,
        "normalization_mapping": {"VISUAL": "MEAN_STD", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"},
    }  # fmt: skip
    assert {k: data[k] for k in expected} == expected


def test_round_trip_through_json_text(tiny_config):
    config = tiny_config(tags=("a", "b"), temporal_ensemble_coeff=0.01, n_action_steps=1)
    text = json.dumps(config.to_json(), indent=4)
    again = ACTConfig.from_json(json.loads(text))
    assert again == config
    assert again.normalization_mapping["STATE"] is NormalizationMode.MEAN_STD


def test_unknown_keys_warn_and_are_dropped(tiny_config):
    data = tiny_config().to_json()
    data["future_option"] = 3
    with pytest.warns(UserWarning, match=r"future_option"):
        config = ACTConfig.from_json(data)
    assert config == tiny_config()


def test_lerobot_0_6_hub_keys_load_quietly_and_are_not_written_back(tiny_config):
    data = {**tiny_config().to_json(), "pretrained_revision": None}  # LeRobot >= 0.5 writes it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = ACTConfig.from_json(data)
    assert config == tiny_config() and "pretrained_revision" not in config.to_json()


def test_draccus_int_dilation_flag_is_accepted(tiny_config):
    data = tiny_config().to_json()
    data["replace_final_stride_with_dilation"] = 0  # draccus re-writes the bool as an int
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ACTConfig.from_json(data).replace_final_stride_with_dilation == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"temporal_ensemble_coeff": 0.01, "n_action_steps": 5}, "n_action_steps == 1"),
        ({"n_action_steps": 6}, r"n_action_steps must be in \[1, chunk_size=5\]"),
        ({"vision_backbone": "vit"}, "vision_backbone"),
        ({"n_obs_steps": 2}, "n_obs_steps"),
        ({"dim_model": 30}, "divisible"),
        ({"chunk_size": "5"}, "chunk_size must be a positive int"),
        ({"feedforward_activation": "glu"}, "feedforward_activation"),
        (
            {"input_features": {"observation.state": PolicyFeature(FeatureType.STATE, (6,))}},
            "VISUAL",
        ),
        ({"output_features": {}}, "output_features"),
    ],
)
def test_invalid_configs_are_clear_errors(tiny_config, overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**overrides)


def test_bad_json_values_name_the_field(tiny_config):
    data = tiny_config().to_json()
    data["input_features"]["observation.state"] = {"type": "STAT", "shape": [6]}
    with pytest.raises(
        ValueError, match=r"input_features\.observation\.state: unknown feature type 'STAT'"
    ):
        ACTConfig.from_json(data, "ckpt/config.json")
    data = tiny_config().to_json()
    data["type"] = "smolvla"
    with pytest.raises(ValueError, match="type is 'smolvla', expected 'act'"):
        ACTConfig.from_json(data)
