"""One frozen config for how a policy is run on the clock (DESIGN §1: one config per command,
saved beside the output), and the builders that turn it into a trigger and a clock.

`edgevla run`, `eval` and `bench` all describe sync vs async the same way through it, so a
result directory says exactly which trigger, aggregator and latency produced it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgevla.runtime.aggregators import get_aggregator
from edgevla.runtime.alignment import ALIGNMENTS
from edgevla.runtime.clocks import Clock, VirtualClock, WallClock
from edgevla.runtime.latency import LatencyModel, latency_model_from_string
from edgevla.runtime.retry import RetrySchedule
from edgevla.runtime.triggers import TRIGGERS, LatencyAwareTrigger, Trigger, make_trigger


@dataclass(frozen=True)
class RuntimeConfig:
    """`latency`: "wall" runs on the wall clock with real inference; anything else is a latency
    model for virtual time (profile name, seconds, lognormal:MEDIAN:SPREAD, samples .json)."""

    trigger: str = "latency_aware"
    aggregator: str = "crossfade"
    latency: str = "wall"
    seed: int = 0
    actions_per_chunk: int | None = None
    threshold: float = 0.5  # trigger "threshold" only
    margin_s: float = 0.1  # trigger "latency_aware" only
    percentile: float = 95.0  # trigger "latency_aware" only
    initial_latency_s: float | None = None  # latency_aware prior; None: the model's percentile
    align: str = "state"  # where an arriving chunk starts: "state" or "time" (runtime.alignment)
    crossfade_min_s: float = 0.2  # crossfade only: blend at least this long (0: the overlap)
    max_in_flight: int = 1  # >1: pipelined requests (needs a device that runs them at once)
    # First chunk computed from the reset observation before the episode clock starts (the
    # arm at rest), for every mode alike: episode time then holds only the waits during the task.
    warm_start: bool = False
    warm_start_timeout_s: float = 60.0  # then the episode starts and waits in-episode as before
    # Wall clock: how the inference worker reconnects to a policy that became unavailable (a
    # server down), and how `edgevla run --server` retries its first connect.
    retry: RetrySchedule = RetrySchedule()

    def __post_init__(self) -> None:
        if not isinstance(self.retry, RetrySchedule):
            raise TypeError(f"retry must be a RetrySchedule, got {type(self.retry).__name__}")
        if self.trigger not in TRIGGERS:
            raise ValueError(
                f"unknown trigger {self.trigger!r}; expected one of: {', '.join(TRIGGERS)}"
            )
        get_aggregator(self.aggregator)  # raises with the known names
        if self.align not in ALIGNMENTS:
            raise ValueError(f"unknown align {self.align!r}; expected one of: {ALIGNMENTS}")
        if not self.crossfade_min_s >= 0:
            raise ValueError(f"crossfade_min_s must be >= 0 seconds, got {self.crossfade_min_s}")
        if not self.warm_start_timeout_s > 0:
            raise ValueError(
                f"warm_start_timeout_s must be > 0 seconds, got {self.warm_start_timeout_s}"
            )
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {self.max_in_flight}")
        if self.max_in_flight > 1 and self.trigger == "sync":
            raise ValueError("sync waits for every chunk: max_in_flight must be 1")
        if self.actions_per_chunk is not None and self.actions_per_chunk < 1:
            raise ValueError(
                f"actions_per_chunk must be >= 1 or None, got {self.actions_per_chunk}"
            )
        if self.latency != "wall":
            self.latency_model()  # fail at config time, not mid-run
        if (
            self.trigger == "latency_aware"
            and self.latency == "wall"
            and self.initial_latency_s is None
        ):
            raise ValueError(
                "latency_aware on the wall clock needs initial_latency_s (a measured or profiled estimate)"
            )
        self.build_trigger()  # threshold, margin, percentile: checked by the trigger itself

    def latency_model(self) -> LatencyModel:
        if self.latency == "wall":
            raise ValueError("latency 'wall' has no latency model: inference is timed for real")
        return latency_model_from_string(self.latency, seed=self.seed)

    def build_clock(self, episode: int = 0) -> Clock:
        """Wall clock, or a virtual clock seeded per episode (seed + episode): each episode is
        repeatable on its own."""
        if self.latency == "wall":
            return WallClock()
        return VirtualClock(self.latency_model(), seed=self.seed + episode)

    def build_trigger(self) -> Trigger:
        if self.trigger == "threshold":
            return make_trigger("threshold", threshold=self.threshold)
        if self.trigger == "latency_aware":
            opts = {"margin_s": self.margin_s, "percentile": self.percentile}
            if self.initial_latency_s is not None:
                return LatencyAwareTrigger(self.initial_latency_s, **opts)
            return LatencyAwareTrigger.from_model(self.latency_model(), **opts)
        return make_trigger(self.trigger)
