"""ACT conditioned on the actions already committed while it computes (issue 11)."""

from __future__ import annotations

from functools import partial

from edgevla.policies.act import build_for_training
from edgevla.policies.act.processors import from_pipelines, pipelines
from edgevla.policies.act_prefix.config import TYPE_NAME, ACTPrefixConfig
from edgevla.policies.act_prefix.policy import PREFIX_WEIGHTS, ACTPrefixModel, ACTPrefixPolicy
from edgevla.policies.registry import PolicyType

POLICY_TYPE = PolicyType(
    name=TYPE_NAME,
    config_from_json=ACTPrefixConfig.from_json,
    from_pipelines=partial(from_pipelines, policy_class=ACTPrefixPolicy),
    pipelines=pipelines,
    for_training=partial(
        build_for_training, config_class=ACTPrefixConfig, policy_class=ACTPrefixPolicy
    ),
    initializes_from={"act": (PREFIX_WEIGHTS,)},
)

__all__ = ["ACTPrefixConfig", "ACTPrefixModel", "ACTPrefixPolicy", "POLICY_TYPE"]
