"""Triggers: when the control loop asks for the next chunk (DESIGN §4).

A trigger sees the queue length at the start of a tick and whether a request is in flight,
and answers `should_request`. It may learn from measured latencies via `observe_latency`.
None of them requests while one is in flight: one inference at a time per robot.

- `sync`: the classic blocking loop — ask only when the queue is empty; the arm waits for the
  chunk and executes it from its first action (the loop re-tags it to the arrival tick).
- `threshold`: LeRobot's `chunk_size_threshold`, request when remaining / chunk_size ≤ t.
  A fixed fraction ignores latency: too high re-plans early and blends long overlaps, too low
  lets the queue run dry.
- `latency_aware`: request when the queue just covers the predicted latency plus a margin.
  The prediction is a high percentile of recently measured latencies, so a fast board
  re-plans late (fresh observations) and a slow one early (no starvation).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol, runtime_checkable

import numpy as np

from edgevla.runtime.latency import LatencyModel


@runtime_checkable
class Trigger(Protocol):
    name: str
    blocking: bool  # True: the arm waits for each chunk (sync semantics)

    def should_request(
        self, *, queue_size: int, chunk_size: int, in_flight: bool, fps: float
    ) -> bool: ...

    def observe_latency(self, seconds: float) -> None: ...

    def reserve(self, chunk_size: int, fps: float) -> int:
        """Queue length at or below which it requests: what a merged chunk must leave queued
        for the next one to land before the queue runs dry."""
        ...


class SyncTrigger:
    """Request only when the queue is empty and nothing is in flight; the arm waits."""

    name = "sync"
    blocking = True

    def should_request(
        self, *, queue_size: int, chunk_size: int, in_flight: bool, fps: float
    ) -> bool:
        return queue_size == 0 and not in_flight

    def observe_latency(self, seconds: float) -> None:
        """Sync does not plan ahead, so latency does not change its decision."""

    def reserve(self, chunk_size: int, fps: float) -> int:
        return 0


class ThresholdTrigger:
    """Request when queue_size / chunk_size ≤ threshold (LeRobot's `chunk_size_threshold`)."""

    name = "threshold"
    blocking = False

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.threshold = float(threshold)

    def should_request(
        self, *, queue_size: int, chunk_size: int, in_flight: bool, fps: float
    ) -> bool:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        return not in_flight and queue_size / chunk_size <= self.threshold

    def observe_latency(self, seconds: float) -> None:
        """A fixed fraction: measured latency is ignored (that is its weakness)."""

    def reserve(self, chunk_size: int, fps: float) -> int:
        return math.floor(self.threshold * chunk_size + 1e-9)


class LatencyAwareTrigger:
    """Request when the queue holds no more than ceil((L̂ + margin)·fps) actions.

    That is `remaining / fps ≤ L̂ + margin` on whole ticks: a chunk requested at tick t lands at
    tick t + ceil(L·fps), and the queue must still hold an action for every tick in between.
    L̂ is the `percentile` of the last `window` measured latencies. Until `min_samples` are
    measured L̂ is max(initial estimate, slowest measurement), so one lucky fast first call
    cannot make the trigger late. `margin_s` absorbs latency above L̂ and is also about how many
    queued actions the new chunk overlaps on arrival: the length of a `crossfade`.
    """

    name = "latency_aware"
    blocking = False

    def __init__(
        self,
        initial_latency_s: float,
        *,
        margin_s: float = 0.1,
        percentile: float = 95.0,
        window: int = 50,
        min_samples: int = 5,
    ) -> None:
        if not initial_latency_s >= 0.0:
            raise ValueError(f"initial_latency_s must be >= 0 seconds, got {initial_latency_s}")
        if margin_s < 0.0:
            raise ValueError(f"margin_s must be >= 0 seconds, got {margin_s}")
        if not 0.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        if window < 1 or min_samples < 1:
            raise ValueError(f"window and min_samples must be >= 1, got {window}, {min_samples}")
        self.initial_latency_s = float(initial_latency_s)
        self.margin_s = float(margin_s)
        self.percentile = float(percentile)
        self.min_samples = int(min_samples)
        self._latencies: deque[float] = deque(maxlen=int(window))
        self._predicted = self.initial_latency_s

    @classmethod
    def from_model(cls, model: LatencyModel, **options: float) -> LatencyAwareTrigger:
        """Seeded with the model's own percentile (a board profile or measured samples)."""
        percentile = float(options.get("percentile", 95.0))
        return cls(model.quantile(percentile / 100.0), **options)

    def predicted_latency(self) -> float:
        """L̂ in seconds: what the trigger currently plans for."""
        return self._predicted

    def request_point(self, fps: float) -> int:
        """Queue length at or below which a request is made."""
        return math.ceil((self.predicted_latency() + self.margin_s) * fps - 1e-9)

    def should_request(
        self, *, queue_size: int, chunk_size: int, in_flight: bool, fps: float
    ) -> bool:
        return not in_flight and queue_size <= self.request_point(fps)

    def reserve(self, chunk_size: int, fps: float) -> int:
        return self.request_point(fps)

    def observe_latency(self, seconds: float) -> None:
        if not seconds >= 0.0:
            raise ValueError(f"latency must be >= 0 seconds, got {seconds}")
        self._latencies.append(float(seconds))
        if len(self._latencies) < self.min_samples:
            self._predicted = max(self.initial_latency_s, *self._latencies)
        else:
            self._predicted = float(np.percentile(np.asarray(self._latencies), self.percentile))


TRIGGERS: dict[str, type] = {
    "sync": SyncTrigger,
    "threshold": ThresholdTrigger,
    "latency_aware": LatencyAwareTrigger,
}


def make_trigger(name: str, **options: float) -> Trigger:
    """Build a trigger by name, e.g. make_trigger("threshold", threshold=0.6) or
    make_trigger("latency_aware", initial_latency_s=0.35, margin_s=0.1)."""
    try:
        cls = TRIGGERS[name]
    except KeyError:
        raise ValueError(
            f"unknown trigger {name!r}; expected one of: {', '.join(TRIGGERS)}"
        ) from None
    try:
        return cls(**options)
    except TypeError as e:
        raise ValueError(f"bad options for trigger {name!r}: {e}") from None
