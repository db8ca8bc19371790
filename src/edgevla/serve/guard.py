"""The action guard: a chunk with NaN/inf, or far outside the policy's action range, never
reaches the arm. Checked at both ends of the wire — the server refuses to send it, the robot
refuses to use it — from the spec's `extra[ACTION_RANGE]` (the training data's per-column
min/max) widened by a margin; a spec without a range gets the finiteness check only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edgevla.contracts import ACTION_RANGE, PolicySpec

MARGIN = 0.25
"""Allowed excursion beyond [min, max], as a fraction of each column's span (plus 1e-3 so a
constant column such as a parked gripper may still move a hair)."""


@dataclass(frozen=True)
class ActionGuard:
    """low/high: float32[A] bounds including the margin, or None (finiteness only)."""

    low: np.ndarray | None = None
    high: np.ndarray | None = None

    @classmethod
    def for_spec(cls, spec: PolicySpec, margin: float = MARGIN) -> ActionGuard:
        """The guard a spec calls for; a malformed range is an error (never silently off)."""
        declared = spec.extra.get(ACTION_RANGE)
        if declared is None:
            return cls()
        if not isinstance(declared, Mapping) or not {"min", "max"} <= set(declared):
            raise ValueError(f"PolicySpec.extra[{ACTION_RANGE!r}] needs 'min' and 'max' lists")
        lo = np.asarray(declared["min"], np.float32)
        hi = np.asarray(declared["max"], np.float32)
        want = (spec.action_dim,)
        if lo.shape != want or hi.shape != want or not (np.isfinite(lo) & np.isfinite(hi)).all():
            raise ValueError(
                f"PolicySpec.extra[{ACTION_RANGE!r}]: expected finite min/max of shape "
                f"{list(want)}, got {list(lo.shape)} and {list(hi.shape)}"
            )
        if (hi < lo).any():
            raise ValueError(f"PolicySpec.extra[{ACTION_RANGE!r}]: max < min in some column")
        pad = margin * (hi - lo) + 1e-3
        return cls(lo - pad, hi + pad)

    @property
    def checks_range(self) -> bool:
        return self.low is not None

    def problem(self, actions: np.ndarray) -> str | None:
        """Why `actions` float32[T, A] must not reach the arm, or None when they may."""
        finite = np.isfinite(actions)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            return f"non-finite actions (NaN or inf), first at [{row}, {col}]"
        if self.low is None or self.high is None:
            return None
        outside = (actions < self.low) | (actions > self.high)
        if not outside.any():
            return None
        row, col = np.argwhere(outside)[0]
        return (
            f"actions outside the policy's range: [{row}, {col}] = {actions[row, col]:.4g}, "
            f"allowed [{self.low[col]:.4g}, {self.high[col]:.4g}] ({outside.sum()} values out)"
        )
