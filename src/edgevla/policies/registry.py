"""Policy types by the `"type"` of their config.json: how to read the config, build the policy
from a checkpoint's processor pipelines, and describe its processors for saving.

Each policy package exposes one `POLICY_TYPE: PolicyType`; the registry imports that package
only when a checkpoint of its type is loaded, so adding a type is one line in `_PACKAGES`
(or a `register_policy_type` call) and costs nothing to the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from edgevla.policies.processors import ProcessorPipeline

_PACKAGES: dict[str, str] = {
    "act": "edgevla.policies.act",
    "act_prefix": "edgevla.policies.act_prefix",
    "smolvla": "edgevla.policies.smolvla",
}


@dataclass(frozen=True)
class PolicyType:
    """What checkpoint I/O needs to know about one kind of policy.

    config_from_json(data, where) -> config   (config has `.to_json()`; warns on unknown keys)
    from_pipelines(config, preprocessor, postprocessor, directory) -> policy module
    pipelines(policy) -> (preprocessor, postprocessor) to write beside the weights
    for_training(inputs, outputs, stats, overrides) -> a fresh policy for `edgevla train`
    reads_task, stochastic: what the ChunkPolicy adapter must hand the policy besides tensors
    fine_tune_fields: config fields a fine-tune sets over the checkpoint's (its weights all
      come from the checkpoint, so e.g. nothing else is loaded)
    initializes_from: {other type: weight-key prefixes its checkpoints lack} — a fine-tune of
      this type may start from such a checkpoint; the keys it lacks keep their initial values
    """

    name: str
    config_from_json: Callable[[Mapping[str, Any], str], Any]
    from_pipelines: Callable[[Any, ProcessorPipeline, ProcessorPipeline, Path], nn.Module]
    pipelines: Callable[[nn.Module], tuple[ProcessorPipeline, ProcessorPipeline]]
    for_training: Callable[..., nn.Module] | None = None
    reads_task: bool = False  # the policy reads the `task` instruction (a VLA)
    stochastic: bool = False  # predict_action_chunk(batch, generator=...) draws noise
    fine_tune_fields: Mapping[str, Any] = field(default_factory=dict)
    initializes_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_REGISTRY: dict[str, PolicyType] = {}


def register_policy_type(policy_type: PolicyType) -> None:
    _REGISTRY[policy_type.name] = policy_type


def known_policy_types() -> list[str]:
    return sorted(set(_PACKAGES) | set(_REGISTRY))


def get_policy_type(name: str) -> PolicyType:
    """The registered type `name`, importing its package on first use."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name not in _PACKAGES:
        raise KeyError(f"unknown policy type {name!r}; known: {known_policy_types()}")
    package = _PACKAGES[name]
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError as e:
        if e.name is not None and package.startswith(e.name):
            raise KeyError(
                f"policy type {name!r} is not available yet ({package} missing)"
            ) from None
        raise
    policy_type = getattr(module, "POLICY_TYPE", None)
    if not isinstance(policy_type, PolicyType):
        raise KeyError(f"{package} does not define POLICY_TYPE: PolicyType")
    register_policy_type(policy_type)
    return policy_type
