"""ACT conditioned on the actions already committed while it computes (issue 11)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from edgevla.policies.act.processors import from_pipelines, pipelines
from edgevla.policies.act_prefix.config import TYPE_NAME, ACTPrefixConfig
from edgevla.policies.act_prefix.policy import PREFIX_WEIGHTS, ACTPrefixModel, ACTPrefixPolicy
from edgevla.policies.registry import PolicyType
from edgevla.policies.types import PolicyFeature


def build_for_training(
    inputs: Mapping[str, PolicyFeature],
    outputs: Mapping[str, PolicyFeature],
    stats: Mapping[str, Mapping[str, Any]],
    overrides: Mapping[str, Any],
) -> ACTPrefixPolicy:
    """A fresh prefix-conditioned ACT (random backbone, as `act`'s)."""
    fields = {"pretrained_backbone_weights": None, **overrides}
    config = ACTPrefixConfig(input_features=dict(inputs), output_features=dict(outputs), **fields)
    return ACTPrefixPolicy(config, stats=stats)


POLICY_TYPE = PolicyType(
    name=TYPE_NAME,
    config_from_json=ACTPrefixConfig.from_json,
    from_pipelines=partial(from_pipelines, policy_class=ACTPrefixPolicy),
    pipelines=pipelines,
    for_training=build_for_training,
    initializes_from={"act": (PREFIX_WEIGHTS,)},
)

__all__ = ["ACTPrefixConfig", "ACTPrefixModel", "ACTPrefixPolicy", "POLICY_TYPE"]
