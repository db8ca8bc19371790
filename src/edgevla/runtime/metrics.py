"""Smoothness and timing numbers computed from what the loop commanded.

Jerk is measured on the commanded joint targets, not the measured joints: it is what the
runtime is responsible for (a jump between chunks, a sudden hold when the queue runs dry),
and it needs no robot model.
"""

from __future__ import annotations

import numpy as np


def jerk_rms(commanded: np.ndarray, fps: float) -> float:
    """RMS third time-derivative of the targets, float32[N, A] sampled at `fps`.

    Finite third difference Δ³x_t = x_{t+3} − 3x_{t+2} + 3x_{t+1} − x_t, times fps³, RMS over
    all ticks and joints. Units: target units per s³ (rad/s³ for the SO-101 joints). 0 when
    N < 4.
    """
    x = np.asarray(commanded, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"commanded must be [N, A], got shape {x.shape}")
    if x.shape[0] < 4:
        return 0.0
    d3 = np.diff(x, n=3, axis=0) * float(fps) ** 3
    return float(np.sqrt(np.mean(d3**2)))


def period_deviation(tick_starts_s: np.ndarray, fps: float) -> tuple[float, float]:
    """(mean, max) absolute deviation in seconds of each tick-to-tick period from 1/fps."""
    starts = np.asarray(tick_starts_s, dtype=np.float64)
    if starts.size < 2:
        return 0.0, 0.0
    dev = np.abs(np.diff(starts) - 1.0 / float(fps))
    return float(dev.mean()), float(dev.max())
