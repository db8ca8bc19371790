"""Building SmolVLA offline from a local SmolVLM folder: config, tokenizer and, with
load_vlm_weights, the VLM's pretrained weights (transformers' key names, one file or shards)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from transformers import SmolVLMForConditionalGeneration

from edgevla.policies.smolvla import build_for_training, build_policy
from edgevla.policies.smolvla.testing import tiny_config, tiny_vlm_config, write_vlm_folder

STATS = {k: {"mean": [0.0] * 6, "std": [1.0] * 6} for k in ("observation.state", "action")}


@pytest.fixture
def vlm_folder(tmp_path):
    """A SmolVLM folder with weights, as transformers saves SmolVLMForConditionalGeneration."""
    folder = write_vlm_folder(tmp_path / "smolvlm")
    torch.manual_seed(5)
    pretrained = SmolVLMForConditionalGeneration(tiny_vlm_config())
    state = {k: v.contiguous() for k, v in pretrained.state_dict().items()}
    return folder, state


def _assert_vlm_loaded(policy, state) -> None:
    vlm = policy.model.vlm_with_expert.vlm.state_dict()
    assert set(vlm) == {k for k in state if ".layers.2." not in k and ".layers.3." not in k}
    for key, tensor in vlm.items():  # the first num_vlm_layers = 2 text layers, all the rest
        assert torch.equal(tensor, state[key]), key


def test_build_from_a_local_folder_loads_the_vlm_weights(vlm_folder):
    folder, state = vlm_folder
    save_file(state, str(folder / "model.safetensors"))
    policy = build_policy(tiny_config(str(folder), load_vlm_weights=True), STATS)
    _assert_vlm_loaded(policy, state)
    assert policy.tokenize("put the bag")[0].tolist() == [[7, 8, 10, 6]]  # the folder's tokenizer


def test_sharded_vlm_weights(vlm_folder):
    folder, state = vlm_folder
    keys = sorted(state)
    shards = {
        "model-00001-of-00002.safetensors": keys[::2],
        "model-00002-of-00002.safetensors": keys[1::2],
    }
    for name, shard_keys in shards.items():
        save_file({k: state[k] for k in shard_keys}, str(folder / name))
    index = {"weight_map": {k: name for name, ks in shards.items() for k in ks}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    _assert_vlm_loaded(build_policy(tiny_config(str(folder), load_vlm_weights=True), STATS), state)


def test_without_load_vlm_weights_nothing_is_read(vlm_folder):
    folder, state = vlm_folder  # no weights file at all
    policy = build_policy(tiny_config(str(folder)), STATS)
    name = "model.text_model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(policy.model.vlm_with_expert.vlm.state_dict()[name], state[name])


def test_missing_or_misshapen_vlm_weights_are_named(vlm_folder):
    folder, state = vlm_folder
    config = tiny_config(str(folder), load_vlm_weights=True)
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        build_policy(config, STATS)
    key = "model.connector.modality_projection.proj.weight"
    save_file({k: v for k, v in state.items() if k != key}, str(folder / "model.safetensors"))
    with pytest.raises(KeyError, match=key):
        build_policy(config, STATS)
    save_file({**state, key: torch.zeros(64, 64)}, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=rf"{key} has shape \(64, 64\), expected \(64, 128\)"):
        build_policy(config, STATS)


def test_build_for_training_takes_dataset_features_and_overrides(vlm_folder):
    folder, _ = vlm_folder
    config = tiny_config(str(folder))
    overrides = {"vlm_model_name": str(folder), "chunk_size": 6, "n_action_steps": 4,
                 "num_vlm_layers": 2, "resize_imgs_with_padding": [64, 64]}  # fmt: skip
    policy = build_for_training(config.input_features, config.output_features, STATS, overrides)
    assert policy.config.chunk_size == 6 and policy.config.resize_imgs_with_padding == (64, 64)
    assert policy.config.input_features == config.input_features and policy.tokenizer is not None
    with pytest.raises(ValueError, match="unknown SmolVLA config fields \\['dim_model'\\]"):
        build_for_training(config.input_features, config.output_features, STATS, {"dim_model": 8})
