"""What every LeRobot policy config shares: the base fields, feature accessors and JSON form.

ACT's and SmolVLA's configs both extend LeRobot's PreTrainedConfig, so they start with the same
fields, read features, write JSON and parse it the same way; only their own fields and checks
differ. Keeping that in one place keeps both byte-compatible with LeRobot in the same way.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from edgevla.features import ACTION_KEY, STATE_KEY
from edgevla.policies.types import (
    FeatureType,
    NormalizationMode,
    PolicyFeature,
    features_from_json,
    features_to_json,
)


def default_normalization_mapping(visual: NormalizationMode) -> dict[str, NormalizationMode]:
    """LeRobot's policy defaults: state and action MEAN_STD, images as the policy chooses."""
    return {
        "VISUAL": visual,
        "STATE": NormalizationMode.MEAN_STD,
        "ACTION": NormalizationMode.MEAN_STD,
    }


# Base-config keys LeRobot >= 0.5 writes that only its hub upload reads. Not fields here: our
# config.json must stay loadable by LeRobot 0.4, whose draccus refuses keys it does not know.
LEROBOT_HUB_KEYS = frozenset({"pretrained_revision"})


@dataclass(frozen=True)
class PolicyConfigBase:
    """LeRobot's PreTrainedConfig fields (first in config.json), its feature accessors and the
    config.json form.

    A subclass named `<Label>Config` sets `type_name` (its config.json "type"), declares
    `normalization_mapping` and lists in `json_tuple_keys` its tuple fields besides `tags`.
    """

    type_name: ClassVar[str]
    json_tuple_keys: ClassVar[tuple[str, ...]] = ("tags",)
    if TYPE_CHECKING:  # each subclass declares it, where LeRobot puts it (after chunk sizes)
        normalization_mapping: dict[str, NormalizationMode]

    n_obs_steps: int = 1
    input_features: dict[str, PolicyFeature] = field(default_factory=dict)
    output_features: dict[str, PolicyFeature] = field(default_factory=dict)
    device: str | None = None
    use_amp: bool = False
    use_peft: bool = False
    push_to_hub: bool = True
    repo_id: str | None = None
    private: bool | None = None
    tags: tuple[str, ...] | None = None
    license: str | None = None
    pretrained_path: str | None = None

    @property
    def type(self) -> str:
        return self.type_name

    @property
    def image_features(self) -> dict[str, PolicyFeature]:
        """VISUAL inputs in config order: the order the cameras' tokens enter the model."""
        return {k: f for k, f in self.input_features.items() if f.type is FeatureType.VISUAL}

    @property
    def robot_state_feature(self) -> PolicyFeature | None:
        feature = self.input_features.get(STATE_KEY)
        return feature if feature is not None and feature.type is FeatureType.STATE else None

    @property
    def env_state_feature(self) -> PolicyFeature | None:
        return next((f for f in self.input_features.values() if f.type is FeatureType.ENV), None)

    @property
    def action_feature(self) -> PolicyFeature | None:
        feature = self.output_features.get(ACTION_KEY)
        return feature if feature is not None and feature.type is FeatureType.ACTION else None

    @property
    def norm_map(self) -> dict[FeatureType, NormalizationMode]:
        return {FeatureType(k): NormalizationMode(v) for k, v in self.normalization_mapping.items()}

    def to_json(self) -> dict[str, Any]:
        """LeRobot's key order: "type" first, then the fields in declaration order."""
        out: dict[str, Any] = {"type": self.type_name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("input_features", "output_features"):
                value = features_to_json(value)
            elif f.name == "normalization_mapping":
                value = {k: NormalizationMode(v).value for k, v in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "config.json") -> Self:
        """Read LeRobot's config.json form; errors are ValueErrors naming `where`.

        An unknown key warns and is dropped, so a newer LeRobot's config still loads (the hub
        keys of LeRobot >= 0.5 that nothing here reads are dropped quietly); the
        `json_tuple_keys` fields come back from JSON lists as tuples.
        """
        data = dict(data)
        policy_type = data.pop("type", cls.type_name)
        if policy_type != cls.type_name:
            raise ValueError(f"{where}: type is {policy_type!r}, expected {cls.type_name!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names - LEROBOT_HUB_KEYS)
        if unknown:
            label = cls.__name__.removesuffix("Config")
            warnings.warn(f"{where}: ignoring unknown {label} config keys {unknown}", stacklevel=2)
        kwargs = {k: v for k, v in data.items() if k in names}
        for key in ("input_features", "output_features"):
            if key in kwargs:
                kwargs[key] = features_from_json(kwargs[key], f"{where}: {key}")
        if "normalization_mapping" in kwargs:
            kwargs["normalization_mapping"] = _norm_mapping_from_json(
                kwargs["normalization_mapping"], where
            )
        for key in cls.json_tuple_keys:
            if kwargs.get(key) is not None:
                kwargs[key] = tuple(kwargs[key])
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None

    def save(self, path: str | Path) -> Path:
        """Write config.json as LeRobot does (indent 4, no trailing newline)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=4))
        return path


def _norm_mapping_from_json(mapping: Any, where: str) -> dict[str, NormalizationMode]:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{where}: normalization_mapping must be a mapping, got {mapping!r}")
    try:
        return {str(k): NormalizationMode(v) for k, v in mapping.items()}
    except ValueError as e:
        raise ValueError(f"{where}: normalization_mapping: {e}") from None
