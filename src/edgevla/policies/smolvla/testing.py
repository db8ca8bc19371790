"""Small, fully offline SmolVLA setups for tests, benchmarks and parity checks against LeRobot.

`write_vlm_folder` writes a local SmolVLM model folder (config.json, a word tokenizer, and the
processor files LeRobot's SmolVLA also opens), so the same folder can be named by
`vlm_model_name` here and in LeRobot. `fill_deterministic` sets every tensor of a module to a
fixed pattern, so two implementations with the same key names hold the same weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import SmolVLMConfig

from edgevla.features import ACTION_KEY, CAMERAS, STATE_KEY, image_key
from edgevla.policies.smolvla.config import SmolVLAConfig
from edgevla.policies.smolvla.tokenizer import build_word_tokenizer, save_word_tokenizer
from edgevla.policies.smolvla.vlm import smolvlm_config
from edgevla.policies.types import FeatureType, PolicyFeature

# A SmolVLM of the real shape family, small: GQA (4 heads over 2 KV heads), 4 text layers,
# a 64 px / 16 px-patch vision tower, pixel shuffle x2 -> 4 image tokens.
TINY_TEXT: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": 128,
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5,
}
TINY_VISION: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": 64,
    "patch_size": 16,
}
TINY_SCALE_FACTOR = 2


def tiny_vlm_config() -> SmolVLMConfig:
    return smolvlm_config(TINY_TEXT, TINY_VISION, TINY_SCALE_FACTOR)


def tiny_config(
    vlm_model_name: str,
    cameras: tuple[str, ...] = CAMERAS,
    image_shape: tuple[int, int, int] = (3, 48, 64),
    **overrides: Any,
) -> SmolVLAConfig:
    """SmolVLA on the tiny VLM: 2 of its text layers, chunk 8, 2 flow steps, 64 px images."""
    inputs = {image_key(c): PolicyFeature(FeatureType.VISUAL, image_shape) for c in cameras}
    inputs[STATE_KEY] = PolicyFeature(FeatureType.STATE, (6,))
    kwargs: dict[str, Any] = {
        "input_features": inputs,
        "output_features": {ACTION_KEY: PolicyFeature(FeatureType.ACTION, (6,))},
        "chunk_size": 8,
        "n_action_steps": 8,
        "num_steps": 2,
        "num_vlm_layers": 2,
        "resize_imgs_with_padding": (64, 64),
        "vlm_model_name": vlm_model_name,
        "device": "cpu",
    }
    kwargs.update(overrides)
    return SmolVLAConfig(**kwargs)


def write_vlm_folder(
    folder: str | Path,
    text: dict[str, Any] = TINY_TEXT,
    vision: dict[str, Any] = TINY_VISION,
    scale_factor: int = TINY_SCALE_FACTOR,
) -> Path:
    """A local SmolVLM model folder without weights: config.json (plain numbers, readable by
    transformers 4.5x and 5.x), a word tokenizer of the text vocabulary's size, and
    SmolVLM processor files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["SmolVLMForConditionalGeneration"],
        "model_type": "smolvlm",
        "scale_factor": scale_factor,
        "image_token_id": 5,  # "<image>" in the word tokenizer
        "tie_word_embeddings": False,
        "text_config": {"model_type": "llama", "tie_word_embeddings": False, **text},
        "vision_config": {"model_type": "smolvlm_vision", **vision},
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_word_tokenizer(build_word_tokenizer(text["vocab_size"]), folder)
    size = vision["image_size"]
    tokens = (size // vision["patch_size"]) ** 2 // scale_factor**2
    image_processor = {
        "image_processor_type": "SmolVLMImageProcessor",
        "processor_class": "SmolVLMProcessor",
        "do_resize": True,
        "size": {"longest_edge": size},
        "max_image_size": {"longest_edge": size},
        "do_image_splitting": False,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(image_processor, indent=2))
    processor = {"image_seq_len": tokens, "processor_class": "SmolVLMProcessor"}
    (folder / "processor_config.json").write_text(json.dumps(processor, indent=2))
    return folder


@torch.no_grad()
def fill_deterministic(module: nn.Module, scale: float = 0.1) -> None:
    """Every state_dict tensor (keys sorted) := a sine pattern; norm weights around 1."""
    for i, (name, tensor) in enumerate(sorted(module.state_dict().items())):
        wave = torch.sin(torch.arange(tensor.numel(), dtype=torch.float64) * 0.37 + i)
        wave = wave.reshape(tensor.shape)
        is_norm_weight = name.endswith("weight") and "norm" in name
        value = 1.0 + scale * wave if is_norm_weight else scale * wave
        tensor.copy_(value.to(tensor.dtype))
