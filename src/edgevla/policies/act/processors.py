"""ACT's processor pipelines in LeRobot's form, to and from checkpoint files.

LeRobot's ACT preprocessor: rename observations -> add batch dim -> device -> normalize; its
postprocessor: unnormalize -> device("cpu"). Only the normalizer steps hold state (the stats).
A policy loaded from a checkpoint keeps the pipelines it was read from, so saving writes the
same steps back with the current stats.
"""

from __future__ import annotations

from pathlib import Path

from edgevla.policies.act.config import ACTConfig
from edgevla.policies.act.policy import ACTPolicy
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


def default_pipelines(
    config: ACTConfig, preprocessor: Normalizer, postprocessor: Normalizer
) -> tuple[ProcessorPipeline, ProcessorPipeline]:
    device = {"device": config.device or "cpu", "float_dtype": None}
    pre = ProcessorPipeline(
        PREPROCESSOR_NAME,
        (
            ProcessorStep(RENAME_STEP, {"rename_map": {}}),
            ProcessorStep("to_batch_processor", {}),
            ProcessorStep("device_processor", device),
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


def pipelines(policy: ACTPolicy) -> tuple[ProcessorPipeline, ProcessorPipeline]:
    """The pipelines to save: the loaded ones (current stats swapped in) or LeRobot's default."""
    if policy.pipelines is None:
        return default_pipelines(policy.config, policy.preprocessor, policy.postprocessor)
    pre, post = policy.pipelines
    return (
        _with_normalizer(pre, NORMALIZER_STEP, policy.preprocessor),
        _with_normalizer(post, UNNORMALIZER_STEP, policy.postprocessor),
    )


def _normalizer(pipeline: ProcessorPipeline, name: str, directory: Path) -> Normalizer:
    source = directory / f"{pipeline.file_stem}.json"
    step = pipeline.find(name, source)
    index = pipeline.steps.index(step)
    where = directory / pipeline.state_file_name(index) if step.state else source
    try:
        return Normalizer.from_step(step.config, step.state, where=str(where))
    except StatsError as e:
        raise CheckpointError(where, e.detail, key=e.key) from None
    except ValueError as e:
        raise CheckpointError(source, str(e), key=name) from None


def from_pipelines(
    config: ACTConfig, pre: ProcessorPipeline, post: ProcessorPipeline, directory: Path
) -> ACTPolicy:
    rename_map: dict[str, str] = {}
    for step in pre.steps:
        if step.registry_name == RENAME_STEP:
            rename_map = dict(step.config.get("rename_map") or {})
    return ACTPolicy(
        config,
        preprocessor=_normalizer(pre, NORMALIZER_STEP, directory),
        postprocessor=_normalizer(post, UNNORMALIZER_STEP, directory),
        rename_map=rename_map,
        pipelines=(pre, post),
    )
