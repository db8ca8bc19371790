"""SmolVLA's processor pipelines in LeRobot's form, to and from checkpoint files.

LeRobot's SmolVLA preprocessor: rename observations -> add batch dim -> append a newline to the
task -> tokenize the task -> device -> normalize; its postprocessor: unnormalize -> device("cpu").
The normalizer steps hold the stats; the tokenizer step names the tokenizer and how it pads. A
policy loaded from a checkpoint keeps the pipelines it was read from, so saving writes the same
steps back with the current stats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgevla.policies.errors import CheckpointError
from edgevla.policies.normalization import Normalizer
from edgevla.policies.policy_normalizers import (
    RENAME_STEP,
    lerobot_pipelines,
    pipelines_to_save,
    read_normalizers,
    rename_map,
)
from edgevla.policies.processors import ProcessorPipeline, ProcessorStep
from edgevla.policies.smolvla.config import SmolVLAConfig
from edgevla.policies.smolvla.policy import SmolVLAPolicy, TaskTokenSettings
from edgevla.policies.smolvla.vlm import load_tokenizer, load_vlm_config

__all__ = [
    "NEWLINE_STEP",
    "RENAME_STEP",
    "TOKENIZER_STEP",
    "default_pipelines",
    "from_pipelines",
    "pipelines",
    "tokenizer_step_config",
]

NEWLINE_STEP = "smolvla_new_line_processor"
TOKENIZER_STEP = "tokenizer_processor"


def tokenizer_step_config(config: SmolVLAConfig) -> dict[str, Any]:
    """The tokenizer step's config as LeRobot writes it for SmolVLA (this key order)."""
    return {
        "max_length": config.tokenizer_max_length,
        "task_key": "task",
        "padding_side": "right",
        "padding": config.pad_language_to,
        "truncation": True,
        "tokenizer_name": config.vlm_model_name,
    }


def default_pipelines(
    config: SmolVLAConfig, preprocessor: Normalizer, postprocessor: Normalizer
) -> tuple[ProcessorPipeline, ProcessorPipeline]:
    task_steps = (
        ProcessorStep(NEWLINE_STEP, {}),
        ProcessorStep(TOKENIZER_STEP, tokenizer_step_config(config)),
    )
    return lerobot_pipelines(config.device, preprocessor, postprocessor, task_steps)


def pipelines(policy: SmolVLAPolicy) -> tuple[ProcessorPipeline, ProcessorPipeline]:
    """The pipelines to save: the loaded ones (current stats swapped in) or LeRobot's default."""
    return pipelines_to_save(policy, default_pipelines)


def _task_tokens(
    pre: ProcessorPipeline, config: SmolVLAConfig, directory: Path
) -> tuple[TaskTokenSettings, str | None]:
    """Tokenization settings and tokenizer name from the tokenizer step (config's if absent)."""
    step = next((s for s in pre.steps if s.registry_name == TOKENIZER_STEP), None)
    if step is None:
        return TaskTokenSettings(config.tokenizer_max_length, config.pad_language_to), None
    source = directory / pre.json_name
    max_length = step.config.get("max_length", config.tokenizer_max_length)
    padding = step.config.get("padding", config.pad_language_to)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise CheckpointError(
            source, f"max_length must be a positive int, got {max_length!r}", key=TOKENIZER_STEP
        )
    if step.config.get("padding_side", "right") != "right":
        raise CheckpointError(
            source, "only right padding of the task is supported", key=TOKENIZER_STEP
        )
    return TaskTokenSettings(max_length, str(padding)), step.config.get("tokenizer_name")


def from_pipelines(
    config: SmolVLAConfig, pre: ProcessorPipeline, post: ProcessorPipeline, directory: Path
) -> SmolVLAPolicy:
    """A SmolVLA with uninitialized weights (the loader fills them next) from a checkpoint
    directory's processor pipelines.

    The VLM's architecture comes from `vlm_model_name` (built in for SmolVLM2-500M, else a local
    folder or the Hugging Face cache). The tokenizer is looked for in the checkpoint directory,
    then under the tokenizer step's name and `vlm_model_name`; if none is found the policy still
    loads, and tokenizing a task raises an error saying where it looked.
    """
    task_tokens, tokenizer_name = _task_tokens(pre, config, directory)
    try:
        vlm_config = load_vlm_config(config.vlm_model_name)
    except (FileNotFoundError, ValueError) as e:
        raise CheckpointError(directory / "config.json", str(e), key="vlm_model_name") from None
    preprocessor, postprocessor = read_normalizers(pre, post, directory)
    policy = SmolVLAPolicy.for_loading(
        config,
        vlm_config=vlm_config,
        preprocessor=preprocessor,
        postprocessor=postprocessor,
        rename_map=rename_map(pre),
        pipelines=(pre, post),
        task_tokens=task_tokens,
    )
    try:
        tokenizer = load_tokenizer(directory, tokenizer_name, config.vlm_model_name)
    except FileNotFoundError as e:
        policy.tokenizer_error = str(e)
        return policy
    try:
        policy.set_tokenizer(tokenizer)
    except ValueError as e:
        raise CheckpointError(directory / pre.json_name, str(e), key=TOKENIZER_STEP) from None
    return policy
