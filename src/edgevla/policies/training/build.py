"""Build a fresh policy for a dataset: its features become the policy's inputs/outputs and
the training split's statistics its normalization (the held-out cluster never leaks in)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from edgevla.dataset import stats as dataset_stats
from edgevla.dataset.reader import DatasetReader
from edgevla.features import ACTION_KEY, STATE_KEY
from edgevla.policies.registry import get_policy_type
from edgevla.policies.types import FeatureType, PolicyFeature


def split_stats(reader: DatasetReader, episodes: Sequence[int]) -> dict[str, Any]:
    """Dataset statistics over `episodes` only, merged from the per-episode stats."""
    return dataset_stats.aggregate([reader.episode_stats(i) for i in episodes])


def dataset_features(
    reader: DatasetReader, camera_keys: Sequence[str]
) -> tuple[dict[str, PolicyFeature], dict[str, PolicyFeature]]:
    feats = reader.features
    inputs = {STATE_KEY: PolicyFeature(FeatureType.STATE, tuple(feats[STATE_KEY]["shape"]))}
    for key in camera_keys:
        h, w, c = feats[key]["shape"]
        inputs[key] = PolicyFeature(FeatureType.VISUAL, (c, h, w))
    outputs = {ACTION_KEY: PolicyFeature(FeatureType.ACTION, tuple(feats[ACTION_KEY]["shape"]))}
    return inputs, outputs


def build_policy(
    policy_type: str,
    reader: DatasetReader,
    train_episodes: Sequence[int],
    camera_keys: Sequence[str],
    overrides: dict[str, Any],
) -> nn.Module:
    try:
        kind = get_policy_type(policy_type)
    except KeyError as e:
        raise ValueError(str(e.args[0])) from None
    if kind.for_training is None:
        raise ValueError(f"policy type {policy_type!r} cannot be trained here (loading only)")
    inputs, outputs = dataset_features(reader, camera_keys)
    return kind.for_training(inputs, outputs, split_stats(reader, train_episodes), overrides)


def checkpoint_fields(config: Any) -> dict[str, Any]:
    """A checkpoint's policy config as build fields, features excluded (they come from the
    dataset and are checked against the checkpoint's by `check_init_features`)."""
    fields = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if f.init and f.name not in ("input_features", "output_features")
    }
    return {**fields, **get_policy_type(config.type).fine_tune_fields}


def init_weights_lacking(policy_type: str, init_type: str, init_dir: Path) -> tuple[str, ...]:
    """The weight-key prefixes a `policy_type` fine-tune started from an `init_type`
    checkpoint may lack: none for the same type, the registry's for a base type, else an error."""
    if init_type == policy_type:
        return ()
    bases = get_policy_type(policy_type).initializes_from
    if init_type not in bases:
        also = f" (or one of {sorted(bases)})" if bases else ""
        raise ValueError(
            f"{init_dir}: policy type is {init_type!r}, expected {policy_type!r}{also}"
        )
    lacking = bases[init_type]
    return tuple(lacking)


def check_init_features(policy: nn.Module, config: Any, config_path: str | Path) -> None:
    """A checkpoint fine-tuned on a dataset must see the same inputs and outputs it was trained
    on; a camera more or less would load silently (the backbone is shared) and mean nothing."""
    got = policy.config  # type: ignore[attr-defined]
    for side in ("input_features", "output_features"):
        a = {k: (f.type, tuple(f.shape)) for k, f in getattr(config, side).items()}
        b = {k: (f.type, tuple(f.shape)) for k, f in getattr(got, side).items()}
        if a != b:
            raise ValueError(
                f"{config_path}: {side} {_describe(a)} do not match the dataset's {_describe(b)}"
            )


def _describe(features: dict[str, tuple[Any, tuple[int, ...]]]) -> str:
    return (
        "{" + ", ".join(f"{k}: {list(shape)}" for k, (_, shape) in sorted(features.items())) + "}"
    )
