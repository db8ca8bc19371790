"""ACT (Action Chunking Transformer), weight- and checkpoint-compatible with LeRobot's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgevla.policies.act.config import TYPE_NAME, ACTConfig
from edgevla.policies.act.ensemble import TemporalEnsembler
from edgevla.policies.act.model import ACTModel
from edgevla.policies.act.policy import ACTPolicy
from edgevla.policies.act.processors import from_pipelines, pipelines
from edgevla.policies.registry import PolicyType
from edgevla.policies.types import PolicyFeature


def build_for_training(
    inputs: Mapping[str, PolicyFeature],
    outputs: Mapping[str, PolicyFeature],
    stats: Mapping[str, Mapping[str, Any]],
    overrides: Mapping[str, Any],
    *,
    config_class: type[ACTConfig] = ACTConfig,
    policy_class: type[ACTPolicy] = ACTPolicy,
) -> ACTPolicy:
    """A fresh ACT (or a variant: its config and policy classes) for `edgevla train`. No hub
    here: the backbone starts from random weights, not ImageNet's, unless `overrides` name them."""
    fields = {"pretrained_backbone_weights": None, **overrides}
    config = config_class(input_features=dict(inputs), output_features=dict(outputs), **fields)
    return policy_class(config, stats=stats)


POLICY_TYPE = PolicyType(
    name=TYPE_NAME,
    config_from_json=ACTConfig.from_json,
    from_pipelines=from_pipelines,
    pipelines=pipelines,
    for_training=build_for_training,
)

__all__ = ["ACTConfig", "ACTModel", "ACTPolicy", "POLICY_TYPE", "TemporalEnsembler"]
