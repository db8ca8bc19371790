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


def motion_while_held(travel: np.ndarray, idle: np.ndarray, lookback: int = 10) -> float:
    """Ticks' worth of motion the arm made while the loop held its target.

    A position-controlled arm lags its target; while a sync loop waits it keeps moving until it
    catches up, so not every idle tick is standstill. travel: float[N], how far the measured
    state moved during each tick (L1 over joints); idle: bool[N]. Each run of idle ticks is
    measured in units of the arm's mean travel per tick over the `lookback` moving ticks before
    it (at most the run's length; 0 when the arm was not moving before it).
    """
    travel = np.asarray(travel, dtype=np.float64)
    idle = np.asarray(idle, dtype=bool)
    if travel.shape != idle.shape or travel.ndim != 1:
        raise ValueError(
            f"travel and idle must be equal-length 1-D, got {travel.shape}, {idle.shape}"
        )
    total, t, n = 0.0, 0, len(idle)
    while t < n:
        if not idle[t]:
            t += 1
            continue
        end = t
        while end < n and idle[end]:
            end += 1
        before = travel[:t][~idle[:t]][-lookback:]
        pace = float(before.mean()) if before.size else 0.0
        if pace > 0.0:
            total += min(float(travel[t:end].sum()) / pace, float(end - t))
        t = end
    return total
