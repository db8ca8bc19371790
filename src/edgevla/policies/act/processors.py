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
from edgevla.policies.normalization import Normalizer
from edgevla.policies.policy_normalizers import (
    RENAME_STEP,
    lerobot_pipelines,
    pipelines_to_save,
    read_normalizers,
    rename_map,
)
from edgevla.policies.processors import ProcessorPipeline

__all__ = ["RENAME_STEP", "default_pipelines", "from_pipelines", "pipelines"]


def default_pipelines(
    config: ACTConfig, preprocessor: Normalizer, postprocessor: Normalizer
) -> tuple[ProcessorPipeline, ProcessorPipeline]:
    return lerobot_pipelines(config.device, preprocessor, postprocessor)


def pipelines(policy: ACTPolicy) -> tuple[ProcessorPipeline, ProcessorPipeline]:
    """The pipelines to save: the loaded ones (current stats swapped in) or LeRobot's default."""
    return pipelines_to_save(policy, default_pipelines)


def from_pipelines(
    config: ACTConfig,
    pre: ProcessorPipeline,
    post: ProcessorPipeline,
    directory: Path,
    policy_class: type[ACTPolicy] = ACTPolicy,
) -> ACTPolicy:
    """`policy_class`: ACT or a variant of it that shares its processors."""
    preprocessor, postprocessor = read_normalizers(pre, post, directory)
    return policy_class(
        config,
        preprocessor=preprocessor,
        postprocessor=postprocessor,
        rename_map=rename_map(pre),
        pipelines=(pre, post),
    )
