"""Feature and normalization vocabulary shared by every policy, spelled as LeRobot spells it.

LeRobot's `config.json` and processor files name feature types ("VISUAL", "STATE", ...) and
normalization modes ("MEAN_STD", ...) as plain strings; these enums hold exactly those strings
so a checkpoint written by either side reads back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FeatureType(StrEnum):
    STATE = "STATE"
    VISUAL = "VISUAL"
    ENV = "ENV"
    ACTION = "ACTION"
    REWARD = "REWARD"
    LANGUAGE = "LANGUAGE"


class NormalizationMode(StrEnum):
    MIN_MAX = "MIN_MAX"
    MEAN_STD = "MEAN_STD"
    IDENTITY = "IDENTITY"
    QUANTILES = "QUANTILES"  # q01 / q99
    QUANTILE10 = "QUANTILE10"  # q10 / q90


@dataclass(frozen=True)
class PolicyFeature:
    """One input or output of a policy: `shape` is (C, H, W) for images, (D,) for vectors."""

    type: FeatureType
    shape: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type.value, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: Any, where: str) -> PolicyFeature:
        """Parse `{"type": "STATE", "shape": [6]}`; `where` names the key in errors."""
        if not isinstance(data, Mapping) or "type" not in data or "shape" not in data:
            raise ValueError(f"{where}: expected {{'type': ..., 'shape': [...]}}, got {data!r}")
        try:
            ftype = FeatureType(data["type"])
        except ValueError:
            known = [t.value for t in FeatureType]
            raise ValueError(
                f"{where}: unknown feature type {data['type']!r}; known {known}"
            ) from None
        shape = data["shape"]
        if not isinstance(shape, (list, tuple)) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
        ):
            raise ValueError(f"{where}: shape must be a list of positive ints, got {shape!r}")
        return cls(type=ftype, shape=tuple(shape))


def features_from_json(data: Any, where: str) -> dict[str, PolicyFeature]:
    """`{"observation.state": {"type": "STATE", "shape": [6]}, ...}` -> PolicyFeatures, in order."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping of feature name -> feature, got {data!r}")
    return {str(k): PolicyFeature.from_json(v, f"{where}.{k}") for k, v in data.items()}


def features_to_json(features: Mapping[str, PolicyFeature]) -> dict[str, Any]:
    return {key: ft.to_json() for key, ft in features.items()}


def norm_map_from_json(data: Any, where: str) -> dict[FeatureType, NormalizationMode]:
    """`{"VISUAL": "MEAN_STD", ...}` -> enums; an unknown name is an error naming it."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping of feature type -> mode, got {data!r}")
    out: dict[FeatureType, NormalizationMode] = {}
    for ftype, mode in data.items():
        try:
            out[FeatureType(ftype)] = NormalizationMode(mode)
        except ValueError:
            raise ValueError(
                f"{where}: bad entry {ftype!r}: {mode!r}; feature types "
                f"{[t.value for t in FeatureType]}, modes {[m.value for m in NormalizationMode]}"
            ) from None
    return out


def norm_map_to_json(norm_map: Mapping[FeatureType, NormalizationMode]) -> dict[str, str]:
    return {ftype.value: mode.value for ftype, mode in norm_map.items()}
