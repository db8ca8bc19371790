"""Building a SmolVLA from a config, with the file reading the constructor leaves out.

`build_policy` resolves the VLM (`vlm_model_name`: a local SmolVLM folder, the Hugging Face
cache, or the built-in SmolVLM2-500M numbers), finds the tokenizer, and with
`load_vlm_weights` copies the pretrained VLM's weights in (the expert and projections stay
random, as in LeRobot when fine-tuning starts from a bare VLM).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from transformers import PreTrainedTokenizerBase

from edgevla.policies.smolvla.config import SmolVLAConfig
from edgevla.policies.smolvla.policy import SmolVLAPolicy
from edgevla.policies.smolvla.vlm import cached_hub_file, load_tokenizer, load_vlm_config
from edgevla.policies.types import PolicyFeature

WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"


def build_policy(
    config: SmolVLAConfig,
    stats: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> SmolVLAPolicy:
    """A SmolVLA with random expert weights (and the VLM's if `config.load_vlm_weights`)."""
    vlm_config = load_vlm_config(config.vlm_model_name)
    if tokenizer is None:
        tokenizer = load_tokenizer(config.vlm_model_name)
    policy = SmolVLAPolicy(config, stats, vlm_config=vlm_config, tokenizer=tokenizer)
    if config.load_vlm_weights:
        load_vlm_weights(policy, config.vlm_model_name)
    return policy


def build_for_training(
    inputs: Mapping[str, PolicyFeature],
    outputs: Mapping[str, PolicyFeature],
    stats: Mapping[str, Mapping[str, Any]],
    overrides: Mapping[str, Any],
) -> SmolVLAPolicy:
    """A fresh SmolVLA for `edgevla train`: the dataset's features and statistics, and config
    fields (LeRobot's names) from `overrides`, e.g. {"vlm_model_name": "/models/SmolVLM2",
    "load_vlm_weights": True, "chunk_size": 50}. The VLM folder (or the Hugging Face cache) must
    hold the tokenizer; checkpoints name it, so keep it where it is."""
    fields = {f.name for f in dataclasses.fields(SmolVLAConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown SmolVLA config fields {unknown}; known: {sorted(fields)}")
    kwargs = dict(overrides)
    for key in ("tags", "optimizer_betas", "resize_imgs_with_padding"):  # JSON lists
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    config = SmolVLAConfig(input_features=dict(inputs), output_features=dict(outputs), **kwargs)
    return build_policy(config, stats)


def _weight_files(name_or_path: str) -> list[Path]:
    folder = Path(name_or_path).expanduser()
    for filename in (WEIGHTS_FILE, WEIGHTS_INDEX):
        path = folder / filename if folder.is_dir() else cached_hub_file(name_or_path, filename)
        if path is None or not path.is_file():
            continue
        if filename == WEIGHTS_FILE:
            return [path]
        try:
            shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a safetensors index ({e})") from None
        return [path.parent / shard for shard in shards]
    raise FileNotFoundError(
        f"load_vlm_weights: no {WEIGHTS_FILE} or {WEIGHTS_INDEX} for {name_or_path!r} (a local "
        "folder or the Hugging Face cache); nothing is downloaded at run time"
    )


def load_vlm_weights(policy: SmolVLAPolicy, name_or_path: str) -> None:
    """Copy a SmolVLM checkpoint (transformers' keys: model.vision_model.*, model.connector.*,
    model.text_model.*, lm_head.weight) into `policy.model.vlm_with_expert.vlm`, keeping the
    first num_vlm_layers text layers. Every VLM weight must be there, with its shape."""
    vlm = policy.model.vlm_with_expert.vlm
    expected = vlm.state_dict()
    found: dict[str, torch.Tensor] = {}
    files = _weight_files(name_or_path)
    for path in files:
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise ValueError(f"{path}: not a readable safetensors file ({e})") from None
        found.update({k: v for k, v in tensors.items() if k in expected})
    missing = [k for k in expected if k not in found]
    if missing:
        raise KeyError(f"{files[0]}: missing VLM weight {missing[0]} ({len(missing)} missing)")
    for key, want in expected.items():
        if tuple(found[key].shape) != tuple(want.shape):
            raise ValueError(
                f"{files[0]}: {key} has shape {tuple(found[key].shape)}, expected {tuple(want.shape)}"
            )
        found[key] = found[key].to(want.dtype)
    vlm.load_state_dict(found, strict=True)
