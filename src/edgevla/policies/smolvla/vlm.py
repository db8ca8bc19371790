"""The SmolVLM2 backbone's transformers config and tokenizer, found offline.

Nothing here downloads. A VLM is named by `vlm_model_name`, which is either a local model folder
(config.json, tokenizer files, optionally model.safetensors) or a hub name. A hub name resolves to
the Hugging Face cache if the model was downloaded before, and for SmolVLM2-500M-Video-Instruct
(SmolVLA's VLM) the architecture is also built in from its published numbers, so a random-weight
SmolVLA of the real size needs no files at all - only a tokenizer.

SmolVLM2-500M-Video-Instruct's numbers, from its published config.json (text_config and
vision_config; cross-checked against public copies of the SmolVLM-500M configs): vision SigLIP
768 wide, 12 layers, 12 heads, MLP 3072, patch 16 on 512 px, LayerNorm eps 1e-6, tanh-GELU;
pixel-shuffle scale factor 4 (1024 patches -> 64 tokens); text SmolLM2 960 wide, 32 layers,
15 heads, 5 KV heads, head dim 64, MLP 2560, vocab 49280, RMSNorm eps 1e-5, RoPE theta 1e5,
8192 positions; image token 49190; lm_head not tied to the embeddings. With SmolVLA's 16 layers
and 0.75x expert this gives LeRobot's 450 M parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PreTrainedTokenizerBase, SmolVLMConfig

from edgevla.policies.smolvla.config import SMOLVLM2_500M

CONFIG_FILE = "config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")

SMOLVLM2_500M_TEXT: dict[str, Any] = {
    "model_type": "llama",
    "hidden_size": 960,
    "intermediate_size": 2560,
    "num_hidden_layers": 32,
    "num_attention_heads": 15,
    "num_key_value_heads": 5,
    "head_dim": 64,
    "vocab_size": 49280,
    "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-5,
    "rope_theta": 100_000.0,
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
    "pad_token_id": 2,
    "tie_word_embeddings": False,
}
SMOLVLM2_500M_VISION: dict[str, Any] = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 512,
    "patch_size": 16,
    "layer_norm_eps": 1e-6,
    "hidden_act": "gelu_pytorch_tanh",
}


def smolvlm_config(
    text: dict[str, Any], vision: dict[str, Any], scale_factor: int, image_token_id: int = 49190
) -> SmolVLMConfig:
    """A SmolVLMConfig from plain numbers (lm_head never tied to the embeddings, as SmolVLM2)."""
    text = {"model_type": "llama", "tie_word_embeddings": False, **text}
    return SmolVLMConfig(
        text_config=text,
        vision_config=dict(vision),
        scale_factor=scale_factor,
        image_token_id=image_token_id,
        tie_word_embeddings=False,
    )


def smolvlm2_500m_config() -> SmolVLMConfig:
    return smolvlm_config(SMOLVLM2_500M_TEXT, SMOLVLM2_500M_VISION, scale_factor=4)


_BUILT_IN = {SMOLVLM2_500M: smolvlm2_500m_config}


def cached_hub_file(repo_id: str, filename: str) -> Path | None:
    """`filename` of a hub repo if it is already in the local Hugging Face cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return None
    try:
        found = try_to_load_from_cache(repo_id, filename)
    except ValueError:  # not a valid repo id (e.g. a missing local path)
        return None
    return Path(found) if isinstance(found, str) else None


def load_vlm_config(name_or_path: str) -> SmolVLMConfig:
    """The VLM's config: a local folder's config.json, the built-in numbers, or the HF cache."""
    folder = Path(name_or_path).expanduser()
    path = folder / CONFIG_FILE if folder.is_dir() else None
    if path is None and name_or_path in _BUILT_IN:
        return _BUILT_IN[name_or_path]()
    if path is None:
        path = cached_hub_file(name_or_path, CONFIG_FILE)
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"VLM {name_or_path!r}: no {CONFIG_FILE} found (not a local model folder, not in the "
            f"Hugging Face cache, and not a built-in architecture: {sorted(_BUILT_IN)}); nothing is "
            "downloaded at run time - point vlm_model_name at a local SmolVLM folder"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if data.get("model_type") != "smolvlm":
        raise ValueError(f"{path}: model_type is {data.get('model_type')!r}, expected 'smolvlm'")
    return SmolVLMConfig.from_dict(data)


def load_tokenizer(*sources: str | Path | None) -> PreTrainedTokenizerBase:
    """The first tokenizer found among `sources` (local folders, then hub names in the HF cache).

    Raises FileNotFoundError listing every place looked at.
    """
    looked: list[str] = []
    for source in sources:
        if source is None:
            continue
        folder = Path(source).expanduser()
        if folder.is_dir():
            if any((folder / name).is_file() for name in TOKENIZER_FILES):
                return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            looked.append(f"{folder} (no {' / '.join(TOKENIZER_FILES)})")
            continue
        if cached_hub_file(str(source), "tokenizer_config.json") is not None:
            return AutoTokenizer.from_pretrained(str(source), local_files_only=True)
        looked.append(f"{source} (not a folder, not in the Hugging Face cache)")
    raise FileNotFoundError(
        "no tokenizer found; looked at: " + "; ".join(looked or ["<nothing given>"])
    )
