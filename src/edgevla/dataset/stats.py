"""Per-episode and dataset statistics in LeRobot v3.0's shape.

Every numeric feature gets min, max, mean, std, count and the quantiles q01, q10, q50, q90, q99.
Vectors float32[N, D] give arrays of shape [D] (a scalar column gives [1]); camera features
give per-channel values of shape [3, 1, 1] scaled to [0, 1]. `count` is always int64[1].
Episode stats are merged the way LeRobot merges them (count-weighted mean and variance, and
count-weighted quantiles), so our `stats.json` is what LeRobot would compute from our episodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

QUANTILES: tuple[float, ...] = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS: tuple[str, ...] = tuple(f"q{round(q * 100):02d}" for q in QUANTILES)
STAT_KEYS: tuple[str, ...] = ("min", "max", "mean", "std", "count", *QUANTILE_KEYS)

FeatureStats = dict[str, np.ndarray]
Stats = dict[str, FeatureStats]


def vector_stats(values: np.ndarray) -> FeatureStats:
    """Stats of values: [N] or [N, D] -> arrays of shape [1] or [D]; min/max keep the dtype."""
    values = np.asarray(values)
    if values.ndim not in (1, 2) or values.shape[0] == 0:
        raise ValueError(f"expected a non-empty [N] or [N, D] array, got shape {values.shape}")
    flat = values.reshape(values.shape[0], -1)
    as_float = flat.astype(np.float64)
    out: FeatureStats = {
        "min": flat.min(axis=0),
        "max": flat.max(axis=0),
        "mean": as_float.mean(axis=0),
        "std": as_float.std(axis=0),
        "count": np.array([flat.shape[0]], dtype=np.int64),
    }
    if flat.shape[0] < 2:  # LeRobot's rule: too few samples for quantiles, use the mean
        for key in QUANTILE_KEYS:
            out[key] = out["mean"].copy()
    else:
        qs = np.quantile(as_float, QUANTILES, axis=0)
        for key, q in zip(QUANTILE_KEYS, qs, strict=True):
            out[key] = q
    return out


def downsample_for_stats(image: np.ndarray) -> np.ndarray:
    """LeRobot's rule: images 300 px or larger are strided down to about 150 px."""
    height, width = image.shape[:2]
    if max(height, width) < 300:
        return image
    factor = int(width / 150) if width > height else int(height / 150)
    return image[::factor, ::factor]


class ImageStatsAccumulator:
    """Exact per-channel statistics of uint8 images from 256-bin histograms.

    Cheap enough to feed every frame (downsampled as LeRobot does) from the encoder thread.
    """

    def __init__(self) -> None:
        self.histogram = np.zeros((3, 256), dtype=np.int64)
        self.frames = 0

    def add(self, image: np.ndarray) -> None:
        """image: uint8[H, W, 3]."""
        small = downsample_for_stats(image)
        for c in range(3):
            self.histogram[c] += np.bincount(small[..., c].ravel(), minlength=256)
        self.frames += 1

    def result(self) -> FeatureStats:
        """Stats of shape [3, 1, 1] in [0, 1]; `count` is the number of frames."""
        if self.frames == 0:
            raise ValueError("no image was added")
        levels = np.arange(256, dtype=np.float64)
        total = self.histogram.sum(axis=1).astype(np.float64)
        mean = (self.histogram * levels).sum(axis=1) / total
        var = (self.histogram * (levels - mean[:, None]) ** 2).sum(axis=1) / total
        nonzero = self.histogram > 0
        lo = nonzero.argmax(axis=1)
        hi = 255 - nonzero[:, ::-1].argmax(axis=1)
        cdf = np.cumsum(self.histogram, axis=1) / total[:, None]
        out: FeatureStats = {
            "min": lo.astype(np.float64),
            "max": hi.astype(np.float64),
            "mean": mean,
            "std": np.sqrt(var),
        }
        for key, q in zip(QUANTILE_KEYS, QUANTILES, strict=True):
            out[key] = np.array([np.searchsorted(cdf[c], q) for c in range(3)], dtype=np.float64)
        scaled = {k: (v / 255.0).reshape(3, 1, 1) for k, v in out.items()}
        scaled["count"] = np.array([self.frames], dtype=np.int64)
        return {k: scaled[k] for k in STAT_KEYS}


def aggregate(stats_list: Sequence[Stats]) -> Stats:
    """Merge episode stats into dataset stats (LeRobot's rule; features may differ per entry)."""
    keys: list[str] = []
    for stats in stats_list:
        keys.extend(k for k in stats if k not in keys)
    return {key: _aggregate_feature([s[key] for s in stats_list if key in s]) for key in keys}


def _aggregate_feature(items: Sequence[FeatureStats]) -> FeatureStats:
    means = np.stack([np.asarray(s["mean"], dtype=np.float64) for s in items])
    variances = np.stack([np.asarray(s["std"], dtype=np.float64) ** 2 for s in items])
    counts = np.stack([np.asarray(s["count"], dtype=np.int64) for s in items])
    total = counts.sum(axis=0)
    weights = counts.astype(np.float64)
    while weights.ndim < means.ndim:
        weights = weights[..., None]
    mean = (means * weights).sum(axis=0) / total
    variance = ((variances + (means - mean) ** 2) * weights).sum(axis=0) / total
    out: FeatureStats = {
        "min": np.min(np.stack([np.asarray(s["min"]) for s in items]), axis=0),
        "max": np.max(np.stack([np.asarray(s["max"]) for s in items]), axis=0),
        "mean": mean,
        "std": np.sqrt(variance),
        "count": total,
    }
    for key in QUANTILE_KEYS:
        if all(key in s for s in items):
            qs = np.stack([np.asarray(s[key], dtype=np.float64) for s in items])
            out[key] = (qs * weights).sum(axis=0) / total
    return out


def to_json(stats: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict[str, Any]]:
    """Nested lists, as in LeRobot's stats.json."""
    return {feat: {k: np.asarray(v).tolist() for k, v in fs.items()} for feat, fs in stats.items()}


def from_json(data: Mapping[str, Mapping[str, Any]]) -> Stats:
    return {feat: {k: np.asarray(v) for k, v in fs.items()} for feat, fs in data.items()}


def to_columns(stats: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, Any]:
    """`stats/<feature>/<stat>` columns of the episodes parquet (values as nested lists)."""
    return {
        f"stats/{feat}/{k}": np.asarray(v).tolist()
        for feat, fs in stats.items()
        for k, v in fs.items()
    }


def from_columns(row: Mapping[str, Any]) -> Stats:
    """Inverse of `to_columns` for one episodes-parquet row; other columns are ignored."""
    out: Stats = {}
    for name, value in row.items():
        if not name.startswith("stats/") or value is None:
            continue
        feat, _, stat = name[len("stats/") :].rpartition("/")
        out.setdefault(feat, {})[stat] = np.asarray(value)
    return out
