"""What the control loop tells its subscribers: one record per tick, one result per episode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgevla.contracts import Observation


@dataclass(frozen=True)
class EpisodeStart:
    """Handed to `on_episode_start`: how this episode is run."""

    fps: float
    chunk_size: int
    trigger: str
    aggregator: str
    virtual_time: bool
    observation: Observation  # the observation returned by env.reset


@dataclass(frozen=True)
class TickRecord:
    """One control tick. `observation` is what the robot saw before acting at this tick (the
    one an inference requested at this tick was computed from); `action` the commanded target.
    """

    tick: int
    time_s: float  # clock time at the start of the tick, relative to the episode start
    observation: Observation
    action: np.ndarray  # float32[A] commanded joint targets
    info: dict[str, Any]  # from env.step
    queue_size: int  # after this tick's pop
    requested: bool  # an inference was requested at this tick
    arrived: int  # chunks merged at this tick
    stale_dropped: int  # actions of those chunks dropped as stale
    idle: bool  # no action for this tick: the arm held its last target
    starved: bool  # idle because an async queue ran dry (not the first wait, not a sync wait)
    outage: bool = False  # idle because the policy was unavailable (server down, reconnecting)


@dataclass(frozen=True)
class EpisodeResult:
    """Outcome and timing of one episode. Times are control time: ticks / fps."""

    success: bool
    ticks: int
    fps: float
    completion_time_s: float | None  # when success was reached (before settle ticks); None = fail
    idle_ticks: int  # ticks the arm waited for inference (sync waits + first wait + starved)
    starved_ticks: int  # ticks an async queue ran dry
    stale_dropped: int  # actions dropped because their tick passed during inference
    inferences: int  # requests made
    chunks_received: int
    latencies_s: tuple[float, ...]  # measured latency of each received chunk
    jerk: float  # RMS 3rd derivative of commanded targets (units/s³, see metrics.jerk_rms)
    trigger: str
    aggregator: str
    virtual_time: bool
    period_mean_dev_s: float = 0.0  # wall clock: mean |tick period − 1/fps|
    period_max_dev_s: float = 0.0
    requests_replaced: int = 0  # wall clock: pending requests overwritten by newer ones
    outage_ticks: int = 0  # ticks held because the policy was unavailable (not starved ticks)
    first_wait_ticks: int = 0  # idle ticks before the first chunk landed: no mode can hide them
    reconnects: int = 0  # successful reconnects to the policy after an outage
    held_motion_ticks: float = 0.0
    """Of the idle ticks, how many ticks' worth the arm still moved (catching up on a target
    it lagged, see metrics.motion_while_held): idle_ticks minus this is standstill."""
    commanded: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    """float32[ticks, A]: the commanded target of every tick."""

    @property
    def episode_time_s(self) -> float:
        return self.ticks / self.fps

    def summary(self) -> dict[str, Any]:
        """JSON-ready scalars (no trajectory)."""
        lat = np.asarray(self.latencies_s)
        return {
            "success": self.success,
            "ticks": self.ticks,
            "episode_time_s": round(self.episode_time_s, 4),
            "completion_time_s": self.completion_time_s,
            "idle_ticks": self.idle_ticks,
            "starved_ticks": self.starved_ticks,
            "stale_dropped": self.stale_dropped,
            "inferences": self.inferences,
            "chunks_received": self.chunks_received,
            "latency_p50_s": float(np.median(lat)) if lat.size else None,
            "latency_max_s": float(lat.max()) if lat.size else None,
            "jerk": self.jerk,
            "trigger": self.trigger,
            "aggregator": self.aggregator,
            "virtual_time": self.virtual_time,
            "period_mean_dev_s": self.period_mean_dev_s,
            "period_max_dev_s": self.period_max_dev_s,
            "requests_replaced": self.requests_replaced,
            "outage_ticks": self.outage_ticks,
            "first_wait_ticks": self.first_wait_ticks,
            "reconnects": self.reconnects,
            "held_motion_ticks": round(self.held_motion_ticks, 3),
        }
