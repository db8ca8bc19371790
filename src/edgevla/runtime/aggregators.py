"""Aggregators: how a newly arrived chunk is blended with actions still queued (DESIGN §4).

When a chunk lands, its first actions may cover timesteps the queue already holds from the
previous chunk. An aggregator decides the commanded target for each of those K overlapping
timesteps. They are pure functions `(old: float32[K, A], new: float32[K, A]) -> float32[K, A]`,
rows in timestep order, so the queue can call them without knowing which one it got.

Why more than one: LeRobot's default `weighted_average` (0.3 old + 0.7 new) applies the same
weight at every overlapping step, so the commanded target jumps by 0.7·(new − old) where the
overlap begins and by 0.3·(new − old) where it ends — visible as shaking on a real arm.
`crossfade` ramps the weight instead, so motion continues from the queued plan and ends exactly
on the new one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Aggregator = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _check(old: np.ndarray, new: np.ndarray) -> None:
    if old.shape != new.shape or old.ndim != 2:
        raise ValueError(
            f"aggregator expects old and new of the same shape [K, A], got {old.shape} and "
            f"{new.shape}"
        )


def _blend(old: np.ndarray, new: np.ndarray, w_new: float | np.ndarray) -> np.ndarray:
    _check(old, new)
    old32 = np.asarray(old, dtype=np.float32)
    new32 = np.asarray(new, dtype=np.float32)
    return ((1.0 - w_new) * old32 + w_new * new32).astype(np.float32)


def weighted_average(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """0.3·old + 0.7·new at every overlapping step (LeRobot's default)."""
    return _blend(old, new, 0.7)


def latest_only(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The new chunk wins outright: the freshest observation, the largest jump."""
    _check(old, new)
    return np.array(new, dtype=np.float32, copy=True)


def average(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """0.5·old + 0.5·new at every overlapping step."""
    return _blend(old, new, 0.5)


def conservative(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """0.7·old + 0.3·new: trusts the plan already being executed."""
    return _blend(old, new, 0.3)


def crossfade(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Linear cross-fade over the overlap: row i (0-based, of K) gets weight w_i = (i + 1) / K
    on new and 1 − w_i on old.

    The first overlapping step moves only 1/K of the way towards the new plan, the last one is
    the new plan exactly, so the step after the overlap (pure new) continues without a jump.
    With K = 1 it equals `latest_only`: a longer overlap gives a smoother hand-over, so the
    control loop blends at least `crossfade_min_s` (0.2 s) — continuing the queued plan, or the
    held target, with the new chunk's motion where the queue is shorter (ActionQueue.merge).
    """
    _check(old, new)
    k = old.shape[0]
    w = (np.arange(1, k + 1, dtype=np.float32) / np.float32(max(k, 1)))[:, None]
    return _blend(old, new, w)


AGGREGATORS: dict[str, Aggregator] = {
    "weighted_average": weighted_average,
    "latest_only": latest_only,
    "average": average,
    "conservative": conservative,
    "crossfade": crossfade,
}


def get_aggregator(name: str) -> Aggregator:
    """Look up an aggregator by name; an unknown name lists the known ones."""
    try:
        return AGGREGATORS[name]
    except KeyError:
        raise ValueError(
            f"unknown aggregator {name!r}; expected one of: {', '.join(AGGREGATORS)}"
        ) from None


def resolve_aggregator(aggregator: str | Aggregator) -> tuple[str, Aggregator]:
    """(name, function) from a registry name or a callable (named after its __name__)."""
    if isinstance(aggregator, str):
        return aggregator, get_aggregator(aggregator)
    if callable(aggregator):
        return getattr(aggregator, "__name__", "custom"), aggregator
    raise TypeError(f"aggregator must be a name or a callable, got {type(aggregator).__name__}")
