"""Task tokens as LeRobot's SmolVLA preprocessor makes them, and an offline word tokenizer.

LeRobot appends a newline to the task (`smolvla_new_line_processor`) and tokenizes it with the
VLM's tokenizer: right padding, truncation at `tokenizer_max_length`, padding per
`pad_language_to` ("longest" pads a batch to its longest task, "max_length" to the maximum).
Padded positions are masked out of attention and skipped by the position ids, so padding to the
maximum gives the same actions; export uses it for a fixed sequence length.

`build_word_tokenizer` makes a small word-level tokenizer (no files, no network) with the VLM's
vocabulary size, for random-weight models in tests and benchmarks. A trained checkpoint needs the
tokenizer it was trained with (SmolVLM2's); the word tokenizer only stands in where the weights
are random anyway.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from torch import Tensor
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from edgevla.features import DEFAULT_TASK

# SmolVLM's special tokens; LeRobot reads the first two ids for `add_image_special_tokens`.
FAKE_IMAGE_TOKEN = "<fake_token_around_image>"
GLOBAL_IMAGE_TOKEN = "<global-img>"
EXTRA_SPECIAL_TOKENS = {
    "fake_image_token": FAKE_IMAGE_TOKEN,
    "global_image_token": GLOBAL_IMAGE_TOKEN,
    "image_token": "<image>",
    "end_of_utterance_token": "<end_of_utterance>",
}
UNK_TOKEN = "<unk>"
PAD_TOKEN = "<|im_end|>"


def with_newline(tasks: Sequence[str]) -> list[str]:
    """Each task ending in exactly the newline LeRobot adds (left alone if already there)."""
    return [t if t.endswith("\n") else f"{t}\n" for t in tasks]


def tokenize_tasks(
    tokenizer: PreTrainedTokenizerBase,
    tasks: Sequence[str],
    max_length: int,
    padding: str = "longest",
) -> tuple[Tensor, Tensor]:
    """tasks (B strings) -> (token ids int64[B, L], attention mask bool[B, L]), L <= max_length."""
    if isinstance(tasks, str) or not all(isinstance(t, str) for t in tasks):
        raise TypeError(f"tasks must be a sequence of strings, got {tasks!r}")
    encoded = tokenizer(
        with_newline(tasks),
        max_length=max_length,
        truncation=True,
        padding=padding,
        padding_side="right",
        return_tensors="pt",
    )
    return encoded["input_ids"].to(torch.long), encoded["attention_mask"].to(torch.bool)


def image_special_token_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    """(fake_image_token id, global_image_token id); an error if the tokenizer lacks them."""
    ids = []
    for token in (FAKE_IMAGE_TOKEN, GLOBAL_IMAGE_TOKEN):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ValueError(
                f"add_image_special_tokens needs the token {token!r}, which this tokenizer lacks"
            )
        ids.append(int(token_id))
    return ids[0], ids[1]


def build_word_tokenizer(
    vocab_size: int, words: Sequence[str] = tuple(DEFAULT_TASK.split())
) -> PreTrainedTokenizerFast:
    """A lowercase word-level tokenizer with exactly `vocab_size` ids: SmolVLM's special tokens,
    `words`, the newline, then filler tokens. Unknown words map to <unk>."""
    vocab: dict[str, int] = {}
    for token in (UNK_TOKEN, PAD_TOKEN, *EXTRA_SPECIAL_TOKENS.values(), "\n"):
        vocab.setdefault(token, len(vocab))
    for word in words:
        vocab.setdefault(word.lower(), len(vocab))
    if len(vocab) > vocab_size:
        raise ValueError(f"vocab_size={vocab_size} is smaller than the {len(vocab)} tokens needed")
    for i in range(len(vocab), vocab_size):
        vocab[f"<extra_{i}>"] = i
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"[^\S\n]+"), behavior="removed"),  # spaces, not newlines
            pre_tokenizers.Split(Regex(r"\n"), behavior="isolated"),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens=dict(EXTRA_SPECIAL_TOKENS),
    )


def save_word_tokenizer(tokenizer: PreTrainedTokenizerFast, folder: str | Path) -> Path:
    """Write tokenizer.json + tokenizer_config.json readable by transformers 4.5x and 5.x alike
    (so LeRobot, which pins transformers < 5, can load the same folder)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": UNK_TOKEN,
        "pad_token": PAD_TOKEN,
        "model_max_length": 8192,
        "extra_special_tokens": dict(EXTRA_SPECIAL_TOKENS),
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return folder
