"""LeRobot's normalization formulas in numpy, for bundles on the device (torch-free).

The torch side (`edgevla.policies.normalization`) owns the formulas and their order of
operations; this is the same arithmetic in float32, step for step, so a bundle's inputs are
the bits the exported graphs were checked on. Modes as there:
  MEAN_STD  y = (x - mean) / (std + eps)      MIN_MAX / QUANTILES / QUANTILE10
            x = y * std + mean                y = 2 (x - lo) / d - 1,  x = (y + 1) / 2 * d + lo
"""

from __future__ import annotations

import numpy as np

from edgevla.runtime.bundle_manifest import FeatureNorm

MODES = ("IDENTITY", "MEAN_STD", "MIN_MAX", "QUANTILES", "QUANTILE10")


class NumpyNormalizer:
    """One feature's normalization; `low` / `high` broadcast to the feature's shape."""

    def __init__(self, norm: FeatureNorm) -> None:
        if norm.mode not in MODES:
            raise ValueError(f"{norm.key}: unknown normalization mode {norm.mode!r}; known {MODES}")
        self.mode = norm.mode
        self.eps = np.float32(norm.eps)
        if self.mode != "IDENTITY":
            self.low = np.asarray(norm.low, dtype=np.float32)
            self.high = np.asarray(norm.high, dtype=np.float32)
            span = self.high - self.low
            self.span = np.where(span == 0, self.eps, span).astype(np.float32)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        if self.mode == "IDENTITY":
            return x
        if self.mode == "MEAN_STD":
            return (x - self.low) / (self.high + self.eps)
        if self.mode == "MIN_MAX":
            return np.float32(2) * (x - self.low) / self.span - np.float32(1)
        return np.float32(2.0) * (x - self.low) / self.span - np.float32(1.0)

    def unnormalize(self, y: np.ndarray) -> np.ndarray:
        if self.mode == "IDENTITY":
            return y
        if self.mode == "MEAN_STD":
            return y * self.high + self.low
        if self.mode == "MIN_MAX":
            return (y + np.float32(1)) / np.float32(2) * self.span + self.low
        return (y + np.float32(1.0)) * self.span / np.float32(2.0) + self.low
