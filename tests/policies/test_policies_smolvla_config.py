"""SmolVLAConfig reads every key LeRobot writes, writes them back in LeRobot's order, and refuses
what cannot run with a reason; the VLM and tokenizer are found offline or not at all."""

from __future__ import annotations

import json

import pytest

from edgevla.policies.smolvla import SmolVLAConfig, load_tokenizer, load_vlm_config
from edgevla.policies.smolvla.config import EMPTY_CAMERA_SHAPE
from edgevla.policies.smolvla.testing import tiny_config, write_vlm_folder
from edgevla.policies.smolvla.vlm import smolvlm2_500m_config
from edgevla.policies.types import FeatureType

# A config.json as LeRobot 0.4.4 writes it for SmolVLA on SO-101 (one placeholder camera added
# by its validate_features, after the state), trimmed of nothing.
LEROBOT_JSON = {
    "type": "smolvla", "n_obs_steps": 1,
    "input_features": {
        "observation.state": {"type": "STATE", "shape": [6]},
        "observation.images.top": {"type": "VISUAL", "shape": [3, 480, 640]},
        "observation.images.empty_camera_0": {"type": "VISUAL", "shape": [3, 480, 640]},
    },
    "output_features": {"action": {"type": "ACTION", "shape": [6]}},
    "device": "cuda", "use_amp": False, "use_peft": False, "push_to_hub": True,
    "repo_id": "user/smolvla_teabag", "private": None, "tags": ["so101"], "license": None,
    "pretrained_path": "lerobot/smolvla_base", "chunk_size": 50, "n_action_steps": 50,
    "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"},
    "max_state_dim": 32, "max_action_dim": 32, "resize_imgs_with_padding": [512, 512],
    "empty_cameras": 1, "adapt_to_pi_aloha": False, "use_delta_joint_actions_aloha": False,
    "tokenizer_max_length": 48, "num_steps": 10, "use_cache": True,
    "freeze_vision_encoder": True, "train_expert_only": True, "train_state_proj": True,
    "optimizer_lr": 0.0001, "optimizer_betas": [0.9, 0.95], "optimizer_eps": 1e-08,
    "optimizer_weight_decay": 1e-10, "optimizer_grad_clip_norm": 10,
    "scheduler_warmup_steps": 1000, "scheduler_decay_steps": 30000, "scheduler_decay_lr": 2.5e-06,
    "vlm_model_name": "HuggingFaceTB/SmolVLM2-500M-Video-Instruct", "load_vlm_weights": True,
    "add_image_special_tokens": False, "attention_mode": "cross_attn", "prefix_length": -1,
    "pad_language_to": "longest", "num_expert_layers": -1, "num_vlm_layers": 16,
    "self_attn_every_n_layers": 2, "expert_width_multiplier": 0.75, "min_period": 0.004,
    "max_period": 4.0, "rtc_config": {"enabled": False, "execution_horizon": 10},
    "compile_model": False, "compile_mode": "max-autotune",
}  # fmt: skip


def test_lerobot_json_round_trips_unchanged():
    config = SmolVLAConfig.from_json(LEROBOT_JSON)
    assert config.to_json() == LEROBOT_JSON
    assert list(config.to_json()) == list(LEROBOT_JSON)
    assert config.resize_imgs_with_padding == (512, 512) and config.optimizer_betas == (0.9, 0.95)
    assert list(config.camera_features) == ["observation.images.top"]
    assert config.robot_state_feature.shape == (6,) and config.action_feature.shape == (6,)


def test_defaults_are_lerobots():
    config = tiny_config("x")
    assert (config.chunk_size, config.num_steps) == (8, 2)  # the tiny overrides
    defaults = SmolVLAConfig.from_json(
        {
            "input_features": LEROBOT_JSON["input_features"],
            "output_features": LEROBOT_JSON["output_features"],
        }  # fmt: skip
    )
    assert (defaults.chunk_size, defaults.n_action_steps, defaults.num_steps) == (50, 50, 10)
    assert (defaults.max_state_dim, defaults.tokenizer_max_length) == (32, 48)
    assert defaults.resize_imgs_with_padding == (512, 512)
    assert (defaults.num_vlm_layers, defaults.self_attn_every_n_layers) == (16, 2)
    assert defaults.expert_width_multiplier == 0.75 and defaults.attention_mode == "cross_attn"
    assert (defaults.min_period, defaults.max_period) == (4e-3, 4.0)
    assert defaults.norm_map[FeatureType.VISUAL].value == "IDENTITY"


def test_empty_cameras_join_the_inputs_like_lerobots_validate_features():
    config = tiny_config("x", cameras=("top",), empty_cameras=2)
    assert list(config.input_features)[-2:] == [
        "observation.images.empty_camera_0",
        "observation.images.empty_camera_1",
    ]
    assert config.input_features["observation.images.empty_camera_1"].shape == EMPTY_CAMERA_SHAPE
    assert SmolVLAConfig.from_json(config.to_json()) == config  # not added twice


def test_unknown_keys_warn_and_are_dropped():
    data = dict(LEROBOT_JSON, future_option=3)
    with pytest.warns(UserWarning, match="future_option"):
        config = SmolVLAConfig.from_json(data, "ckpt/config.json")
    assert "future_option" not in config.to_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "act"}, "type is 'act', expected 'smolvla'"),
        ({"n_action_steps": 60}, "n_action_steps must be in"),
        ({"num_steps": 0}, "num_steps must be a positive int"),
        ({"max_state_dim": 4}, "more than max_state_dim=4"),
        ({"adapt_to_pi_aloha": True}, "ALOHA"),
        ({"use_cache": False}, "KV cache"),
        ({"attention_mode": "mixed"}, "attention_mode"),
        ({"pad_language_to": "left"}, "pad_language_to"),
        ({"num_expert_layers": 5}, "multiple of num_expert_layers=5"),
        ({"output_features": {}}, "needs 'action'"),
        ({"normalization_mapping": {"STATE": "WHITEN"}}, "normalization_mapping"),
    ],
)
def test_bad_configs_say_what_and_where(change, message):
    with pytest.raises(ValueError, match=message) as e:
        SmolVLAConfig.from_json(dict(LEROBOT_JSON, **change), "ckpt/config.json")
    assert str(e.value).startswith("ckpt/config.json")


def test_vlm_config_from_folder_and_built_in_numbers(tmp_path):
    folder = write_vlm_folder(tmp_path / "vlm")
    tiny = load_vlm_config(str(folder))
    assert tiny.text_config.hidden_size == 64 and tiny.vision_config.patch_size == 16
    full = load_vlm_config("HuggingFaceTB/SmolVLM2-500M-Video-Instruct")
    assert full.to_dict() == smolvlm2_500m_config().to_dict()
    text, vision = full.text_config, full.vision_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads) == (960, 32, 15)
    assert (text.num_key_value_heads, text.head_dim, text.intermediate_size) == (5, 64, 2560)
    assert text.vocab_size == 49280 and full.scale_factor == 4
    assert (vision.hidden_size, vision.num_hidden_layers, vision.image_size) == (768, 12, 512)
    # 512 / 16 = 32 patches a side, pixel shuffle by 4: 64 tokens per image
    assert (vision.image_size // vision.patch_size) ** 2 // full.scale_factor**2 == 64


def test_nothing_is_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_vlm_config("someone/some-other-vlm")
    with pytest.raises(FileNotFoundError, match="looked at"):
        load_tokenizer(tmp_path, "someone/some-other-vlm")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="expected 'smolvlm'"):
        load_vlm_config(str(tmp_path))
