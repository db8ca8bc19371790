"""A policy's two Normalizers and their place in LeRobot's processor pipelines.

Every policy type here normalizes the same way: a preprocessor over inputs and action, a
postprocessor over the action, saved as the normalizer / unnormalizer steps of LeRobot's two
pipelines. Only the steps between (a tokenizer...) differ, so the policy packages share this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from edgevla.policies.config_base import PolicyConfigBase
from edgevla.policies.errors import CheckpointError
from edgevla.policies.normalization import Normalizer, StatsError
from edgevla.policies.processors import (
    NORMALIZER_STEP,
    POSTPROCESSOR_NAME,
    PREPROCESSOR_NAME,
    UNNORMALIZER_STEP,
    ProcessorPipeline,
    ProcessorStep,
)

RENAME_STEP = "rename_observations_processor"
Pipelines = tuple[ProcessorPipeline, ProcessorPipeline]


class NormalizedPolicy(Protocol):
    """What saving needs of a policy: its config, normalizers and the pipelines it came from."""

    config: Any
    preprocessor: Normalizer
    postprocessor: Normalizer
    pipelines: Pipelines | None


def build_normalizers(
    config: PolicyConfigBase,
    stats: Mapping[str, Mapping[str, Any]] | None,
    preprocessor: Normalizer | None,
    postprocessor: Normalizer | None,
    where: str,
) -> tuple[Normalizer, Normalizer]:
    """The given normalizers, or ones built from dataset `stats` ({feature: {stat: values}})."""
    norm_map = config.norm_map
    if preprocessor is None:
        features = {**config.input_features, **config.output_features}
        preprocessor = Normalizer(features, norm_map, stats, where=where)
    if postprocessor is None:
        postprocessor = Normalizer(config.output_features, norm_map, stats, where=where)
    return preprocessor, postprocessor


def lerobot_pipelines(
    device: str | None,
    preprocessor: Normalizer,
    postprocessor: Normalizer,
    task_steps: Sequence[ProcessorStep] = (),
) -> Pipelines:
    """LeRobot's default pipelines: rename -> batch -> `task_steps` -> device -> normalize, and
    unnormalize -> device("cpu")."""
    pre = ProcessorPipeline(
        PREPROCESSOR_NAME,
        (
            ProcessorStep(RENAME_STEP, {"rename_map": {}}),
            ProcessorStep("to_batch_processor", {}),
            *task_steps,
            ProcessorStep("device_processor", {"device": device or "cpu", "float_dtype": None}),
            ProcessorStep(NORMALIZER_STEP, preprocessor.step_config(), preprocessor.state_dict()),
        ),
    )
    post = ProcessorPipeline(
        POSTPROCESSOR_NAME,
        (
            ProcessorStep(
                UNNORMALIZER_STEP, postprocessor.step_config(), postprocessor.state_dict()
            ),
            ProcessorStep("device_processor", {"device": "cpu", "float_dtype": None}),
        ),
    )
    return pre, post


def _with_normalizer(
    pipeline: ProcessorPipeline, name: str, normalizer: Normalizer
) -> ProcessorPipeline:
    steps = tuple(
        ProcessorStep(
            s.registry_name, normalizer.step_config(), normalizer.state_dict(), s.class_path
        )
        if s.registry_name == name
        else s
        for s in pipeline.steps
    )
    return ProcessorPipeline(pipeline.name, steps)


def pipelines_to_save(
    policy: NormalizedPolicy, default: Callable[[Any, Normalizer, Normalizer], Pipelines]
) -> Pipelines:
    """The loaded pipelines with the current stats swapped in, else `default(config, pre, post)`."""
    if policy.pipelines is None:
        return default(policy.config, policy.preprocessor, policy.postprocessor)
    pre, post = policy.pipelines
    return (
        _with_normalizer(pre, NORMALIZER_STEP, policy.preprocessor),
        _with_normalizer(post, UNNORMALIZER_STEP, policy.postprocessor),
    )


def _read_normalizer(pipeline: ProcessorPipeline, name: str, directory: Path) -> Normalizer:
    source = directory / pipeline.json_name
    step = pipeline.find(name, source)
    index = pipeline.steps.index(step)
    where = directory / pipeline.state_file_name(index) if step.state else source
    try:
        return Normalizer.from_step(step.config, step.state, where=str(where))
    except StatsError as e:
        raise CheckpointError(where, e.detail, key=e.key) from None
    except ValueError as e:
        raise CheckpointError(source, str(e), key=name) from None


def read_normalizers(
    pre: ProcessorPipeline, post: ProcessorPipeline, directory: Path
) -> tuple[Normalizer, Normalizer]:
    """(preprocessor, postprocessor) from a checkpoint's pipelines; errors name file and key."""
    return (
        _read_normalizer(pre, NORMALIZER_STEP, directory),
        _read_normalizer(post, UNNORMALIZER_STEP, directory),
    )


def rename_map(pre: ProcessorPipeline) -> dict[str, str]:
    """Observation key -> policy key, from the (last) rename step; empty without one."""
    found: dict[str, str] = {}
    for step in pre.steps:
        if step.registry_name == RENAME_STEP:
            found = dict(step.config.get("rename_map") or {})
    return found
