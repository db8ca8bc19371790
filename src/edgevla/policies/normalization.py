"""Feature normalization with LeRobot's formulas, eps and stats layout.

Stats are float32 tensors keyed `{feature: {stat: tensor}}` (`mean`, `std`, `min`, `max`,
`q01`...; images carry per-channel [3, 1, 1]). They come from a dataset's `meta/stats.json` or
from a checkpoint's processor state file, whose flat keys are `"<feature>.<stat>"`.

Formulas (x normalized -> y), eps = 1e-8 as in LeRobot:
  MEAN_STD    y = (x - mean) / (std + eps)           x = y * std + mean
  MIN_MAX     y = 2 (x - min) / d - 1                 x = (y + 1) / 2 * d + min,   d = max - min
  QUANTILES   y = 2 (x - q01) / d - 1                 x = (y + 1) * d / 2 + q01,   d = q99 - q01
  QUANTILE10  as QUANTILES with q10 / q90
where a zero `d` is replaced by eps. The operation order matches LeRobot's so results are
bit-identical.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from edgevla.features import ACTION_KEY
from edgevla.policies.types import (
    FeatureType,
    NormalizationMode,
    PolicyFeature,
    features_from_json,
    features_to_json,
    norm_map_from_json,
    norm_map_to_json,
)

DEFAULT_EPS = 1e-8
Stats = dict[str, dict[str, Tensor]]

REQUIRED_STATS: dict[NormalizationMode, tuple[str, str]] = {
    NormalizationMode.MEAN_STD: ("mean", "std"),
    NormalizationMode.MIN_MAX: ("min", "max"),
    NormalizationMode.QUANTILES: ("q01", "q99"),
    NormalizationMode.QUANTILE10: ("q10", "q90"),
}


def stats_to_tensors(stats: Mapping[str, Mapping[str, Any]], where: str = "stats") -> Stats:
    """Lists, numpy arrays or tensors -> float32 CPU tensors, keeping every feature and stat."""
    out: Stats = {}
    for key, sub in stats.items():
        if not isinstance(sub, Mapping):
            raise ValueError(f"{where}: {key!r} should map stat name -> values, got {sub!r}")
        out[key] = {}
        for name, value in sub.items():
            try:
                if isinstance(value, Tensor):
                    tensor = value.detach().to(device="cpu", dtype=torch.float32)
                else:
                    tensor = torch.from_numpy(np.asarray(value, dtype=np.float64)).float()
            except (TypeError, ValueError) as e:
                raise ValueError(f"{where}: {key}.{name} is not numeric ({e})") from None
            out[key][name] = tensor
    return out


def load_dataset_stats(path: str | Path) -> Stats:
    """Read a LeRobot v3.0 `meta/stats.json` (pass the file or the dataset root)."""
    path = Path(path)
    if path.suffix != ".json":  # a dataset root
        path = path / "meta" / "stats.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"dataset stats not found: {path}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, Mapping):
        raise ValueError(
            f"{path}: expected {{feature: {{stat: values}}}}, got {type(data).__name__}"
        )
    return stats_to_tensors(data, where=str(path))


def flatten_stats(stats: Stats) -> dict[str, Tensor]:
    """{feature: {stat: t}} -> {"feature.stat": t}: the processor state file's keys."""
    return {f"{key}.{name}": t for key, sub in stats.items() for name, t in sub.items()}


def unflatten_stats(flat: Mapping[str, Tensor], where: str = "stats") -> Stats:
    out: Stats = {}
    for flat_key, tensor in flat.items():
        if "." not in flat_key:
            raise ValueError(f"{where}: key {flat_key!r} is not '<feature>.<stat>'")
        key, name = flat_key.rsplit(".", 1)
        out.setdefault(key, {})[name] = tensor.to(dtype=torch.float32)
    return out


class StatsError(ValueError):
    """A stat needed for normalization is missing or has the wrong shape; `key` names it."""

    def __init__(self, where: str, key: str, detail: str) -> None:
        self.key = key
        self.detail = detail
        super().__init__(f"{where}: {key}: {detail}")


class Normalizer:
    """Normalizes (or un-normalizes) the features it knows, by feature type.

    `stats` may hold more features than `features` (LeRobot keeps the whole dataset's stats);
    they are carried along so a checkpoint is written back unchanged. Every feature that needs
    stats must have them: checked here, at construction, with an error naming the stat.
    """

    def __init__(
        self,
        features: Mapping[str, PolicyFeature],
        norm_map: Mapping[FeatureType, NormalizationMode],
        stats: Mapping[str, Mapping[str, Any]] | None,
        eps: float = DEFAULT_EPS,
        normalize_observation_keys: Iterable[str] | None = None,
        where: str = "normalizer",
    ) -> None:
        self.features = dict(features)
        self.norm_map = {FeatureType(k): NormalizationMode(v) for k, v in norm_map.items()}
        self.stats = stats_to_tensors(stats or {}, where)
        self.eps = float(eps)
        self.normalize_observation_keys = (
            None if normalize_observation_keys is None else frozenset(normalize_observation_keys)
        )
        self._validate(where)

    def mode(self, key: str) -> NormalizationMode:
        return self.norm_map.get(self.features[key].type, NormalizationMode.IDENTITY)

    def _validate(self, where: str) -> None:
        for key, feature in self.features.items():
            mode = self.mode(key)
            if mode is NormalizationMode.IDENTITY:
                continue
            for name in REQUIRED_STATS[mode]:
                tensor = self.stats.get(key, {}).get(name)
                if tensor is None:
                    raise StatsError(
                        where, f"{key}.{name}", f"missing, needed for {mode.value} normalization"
                    )
                try:
                    fits = torch.broadcast_shapes(tensor.shape, feature.shape) == feature.shape
                except RuntimeError:
                    fits = False
                if not fits:
                    raise StatsError(
                        where,
                        f"{key}.{name}",
                        f"shape {tuple(tensor.shape)}, expected {feature.shape} or one that "
                        "broadcasts to it",
                    )

    def _applies_to(self, key: str) -> bool:
        if key not in self.features or self.mode(key) is NormalizationMode.IDENTITY:
            return False
        if self.features[key].type is FeatureType.ACTION or self.normalize_observation_keys is None:
            return True
        return key in self.normalize_observation_keys

    def normalize(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `batch` with every known feature normalized; other keys pass through."""
        return {k: self.transform(k, v) if self._applies_to(k) else v for k, v in batch.items()}

    def unnormalize(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        return {
            k: self.transform(k, v, inverse=True) if self._applies_to(k) else v
            for k, v in batch.items()
        }

    def unnormalize_action(self, action: Tensor) -> Tensor:
        """action: float32[..., A] in normalized space -> joint targets."""
        return (
            self.transform(ACTION_KEY, action, inverse=True)
            if self._applies_to(ACTION_KEY)
            else action
        )

    def transform(self, key: str, x: Tensor, inverse: bool = False) -> Tensor:
        mode = self.mode(key)
        if mode is NormalizationMode.IDENTITY:
            return x
        lo_name, hi_name = REQUIRED_STATS[mode]
        stats = self.stats[key]
        lo = stats[lo_name].to(device=x.device, dtype=x.dtype)
        hi = stats[hi_name].to(device=x.device, dtype=x.dtype)
        if mode is NormalizationMode.MEAN_STD:
            mean, std = lo, hi
            return x * std + mean if inverse else (x - mean) / (std + self.eps)
        span = hi - lo
        span = torch.where(span == 0, torch.tensor(self.eps, device=x.device, dtype=x.dtype), span)
        if mode is NormalizationMode.MIN_MAX:
            return (x + 1) / 2 * span + lo if inverse else 2 * (x - lo) / span - 1
        return (x + 1.0) * span / 2.0 + lo if inverse else 2.0 * (x - lo) / span - 1.0

    def to(self, device: torch.device | str) -> Normalizer:
        """Move the stats (in place) so normalization runs where the model runs."""
        self.stats = {k: {n: t.to(device) for n, t in sub.items()} for k, sub in self.stats.items()}
        return self

    # --- LeRobot processor-step form -----------------------------------------------------

    def step_config(self) -> dict[str, Any]:
        """The `config` of LeRobot's normalizer / unnormalizer processor step."""
        config: dict[str, Any] = {
            "eps": self.eps,
            "features": features_to_json(self.features),
            "norm_map": norm_map_to_json(self.norm_map),
        }
        if self.normalize_observation_keys is not None:
            config["normalize_observation_keys"] = sorted(self.normalize_observation_keys)
        return config

    def state_dict(self) -> dict[str, Tensor]:
        """Flat `"<feature>.<stat>"` float32 CPU tensors: the processor state file."""
        return {k: t.detach().cpu().contiguous() for k, t in flatten_stats(self.stats).items()}

    @classmethod
    def from_step(
        cls, config: Mapping[str, Any], state: Mapping[str, Tensor] | None, where: str
    ) -> Normalizer:
        """Rebuild from a processor step's `config` and its state file's tensors."""
        if not isinstance(config, Mapping):
            raise ValueError(f"{where}: step config should be a mapping, got {config!r}")
        for name in ("features", "norm_map"):
            if name not in config:
                raise ValueError(f"{where}: step config has no {name!r}")
        return cls(
            features=features_from_json(config["features"], f"{where}.features"),
            norm_map=norm_map_from_json(config["norm_map"], f"{where}.norm_map"),
            stats=unflatten_stats(state or {}, where),
            eps=float(config.get("eps", DEFAULT_EPS)),
            normalize_observation_keys=config.get("normalize_observation_keys"),
            where=where,
        )
