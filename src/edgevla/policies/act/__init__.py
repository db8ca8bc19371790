"""ACT (Action Chunking Transformer), weight- and checkpoint-compatible with LeRobot's."""

from __future__ import annotations

from edgevla.policies.act.config import TYPE_NAME, ACTConfig
from edgevla.policies.act.ensemble import TemporalEnsembler
from edgevla.policies.act.model import ACTModel
from edgevla.policies.act.policy import ACTPolicy
from edgevla.policies.act.processors import from_pipelines, pipelines
from edgevla.policies.registry import PolicyType

POLICY_TYPE = PolicyType(
    name=TYPE_NAME,
    config_from_json=ACTConfig.from_json,
    from_pipelines=from_pipelines,
    pipelines=pipelines,
)

__all__ = ["ACTConfig", "ACTModel", "ACTPolicy", "POLICY_TYPE", "TemporalEnsembler"]
