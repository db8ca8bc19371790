"""The control loop (DESIGN §4), in openpi's shape: Environment + ChunkPolicy + trigger +
aggregator + subscribers.

Every tick, at the environment's fps: maybe request a chunk (the trigger decides), merge the
chunks that finished, pop this tick's action — or hold the last target when there is none —,
step the environment, tell the subscribers. Virtual and wall-clock time share this code; only
the clock and the inference runner (see `inference.py`) differ. The environment is stepped
every tick even while the arm waits, so episode time is always ticks / fps and waiting shows
up as idle ticks instead of disappearing from the count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgevla.features import STATE_KEY
from edgevla.runtime.action_queue import ActionQueue
from edgevla.runtime.aggregators import Aggregator, resolve_aggregator
from edgevla.runtime.clocks import Clock, VirtualClock
from edgevla.runtime.inference import Arrival, Inference, make_inference
from edgevla.runtime.latency import FixedLatency
from edgevla.runtime.metrics import jerk_rms, period_deviation
from edgevla.runtime.records import EpisodeResult, EpisodeStart, TickRecord
from edgevla.runtime.subscribers import notify
from edgevla.runtime.triggers import Trigger
from edgevla.runtime.types import ActionChunk, ChunkPolicy, Environment


@dataclass
class _Tally:
    """Running counts of one episode."""

    idle: int = 0
    starved: int = 0
    stale: int = 0
    requests: int = 0
    held_at_request: dict[int, int] = field(default_factory=dict)  # in flight: tick -> idle
    latencies: list[float] = field(default_factory=list)  # one per received chunk
    commanded: list[np.ndarray] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)  # clock time at each tick start


class ControlLoop:
    """Runs episodes of `policy` on `env`. The default clock is virtual with zero latency;
    `loop.clock` may be replaced between episodes (e.g. a virtual clock seeded per episode).

    `actions_per_chunk` keeps only the first N actions of every chunk (LeRobot's option of
    the same name). Call `close()` (or use `with`) to stop a wall-clock inference worker.
    """

    def __init__(
        self,
        env: Environment,
        policy: ChunkPolicy,
        *,
        trigger: Trigger,
        aggregator: str | Aggregator = "crossfade",
        clock: Clock | None = None,
        subscribers: Iterable[Any] = (),
        actions_per_chunk: int | None = None,
    ) -> None:
        self.fps = float(env.fps)
        if abs(policy.spec.fps - self.fps) > 1e-6:
            raise ValueError(f"policy plans at {policy.spec.fps} fps but env runs at {self.fps}")
        limit = policy.spec.chunk_size
        self.chunk_size = limit if actions_per_chunk is None else int(actions_per_chunk)
        if not 1 <= self.chunk_size <= limit:
            raise ValueError(f"actions_per_chunk must be in [1, {limit}], got {self.chunk_size}")
        self.env, self.policy, self.trigger = env, policy, trigger
        self.aggregator_name, self.aggregate = resolve_aggregator(aggregator)
        self.clock = clock if clock is not None else VirtualClock(FixedLatency(0.0))
        self.subscribers = list(subscribers)
        self._inference: Inference | None = None

    def run_episode(
        self, *, max_ticks: int, settle_ticks: int = 0, **reset_options: Any
    ) -> EpisodeResult:
        """One episode: ends `settle_ticks` after info["success"] turns (and stays) true, or
        after `max_ticks`. Reset options go to `env.reset`."""
        if max_ticks < 1 or settle_ticks < 0:
            raise ValueError(
                f"need max_ticks >= 1, settle_ticks >= 0; got {max_ticks}, {settle_ticks}"
            )
        if self._inference is None or self._inference.clock is not self.clock:
            self.close()  # the clock was swapped (e.g. one seeded per episode): new runner
            self._inference = make_inference(self.policy, self.clock, self.fps)
        inference = self._inference
        inference.reset()
        obs = self.env.reset(**reset_options)
        self.policy.reset()
        target = _state_of(obs)
        queue = ActionQueue(self.policy.spec.action_dim)
        notify(self.subscribers, "on_episode_start", self._start(obs))
        tally, success_since = _Tally(), None
        t0 = deadline = self.clock.now()
        for tick in range(max_ticks):
            tally.starts.append(self.clock.now() - t0)
            requested = self.trigger.should_request(
                queue_size=len(queue),
                chunk_size=self.chunk_size,
                in_flight=inference.in_flight,
                fps=self.fps,
            )
            if requested:
                inference.submit(obs, tick)
                tally.held_at_request[tick] = tally.idle
                tally.requests += 1
            arrivals = inference.poll(tick)
            stale = sum(self._merge(a, tick, queue, tally) for a in arrivals)
            action = queue.pop(tick)
            idle = action is None
            starved = idle and bool(tally.latencies) and not self.trigger.blocking
            tally.idle, tally.starved = tally.idle + idle, tally.starved + starved
            target = target if idle else action
            seen, (obs, info) = obs, self.env.step(target)
            if "success" not in info:
                raise KeyError(f"env.step info must have 'success'; got keys {sorted(info)}")
            tally.commanded.append(target)
            record = TickRecord(
                tick=tick, time_s=tally.starts[-1], observation=seen, action=target, info=info,
                queue_size=len(queue), requested=requested, arrived=len(arrivals),
                stale_dropped=stale, idle=idle, starved=starved,
            )  # fmt: skip
            notify(self.subscribers, "on_tick", record)
            if not info["success"]:
                success_since = None
            elif success_since is None:
                success_since = tick
            if success_since is not None and tick - success_since >= settle_ticks:
                break
            deadline = max(deadline + 1.0 / self.fps, self.clock.now())
            self.clock.wait_until(deadline)
        success = (
            success_since is not None and len(tally.commanded) - 1 - success_since >= settle_ticks
        )
        result = self._result(tally, (success_since + 1) / self.fps if success else None)
        notify(self.subscribers, "on_episode_end", result)
        return result

    def _merge(self, arrival: Arrival, tick: int, queue: ActionQueue, tally: _Tally) -> int:
        """Queue an arrived chunk; returns how many of its actions were stale.

        A chunk is aligned by progress, not by the clock: actions[i] is what to command after
        the arm has executed i actions since the observation. Ticks the arm held (sync waits,
        the first wait, a dry queue) did not move it, so the chunk is shifted by them and only
        the actions the arm really executed meanwhile are stale. For `sync` the shift is the
        whole wait: the chunk runs from its first action at the arrival tick.
        """
        chunk = arrival.chunk
        if chunk.timestep != arrival.request_tick:
            raise ValueError(
                f"policy returned a chunk for tick {chunk.timestep}, requested for tick "
                f"{arrival.request_tick}: predict_chunk must honour `timestep`"
            )
        self.trigger.observe_latency(arrival.latency_s)
        tally.latencies.append(arrival.latency_s)
        held = tally.idle - tally.held_at_request.pop(arrival.request_tick)
        actions = chunk.actions[: self.chunk_size]
        report = queue.merge(ActionChunk(actions, chunk.timestep + held), tick, self.aggregate)
        tally.stale += report.stale
        return report.stale

    def _result(self, tally: _Tally, completion_time_s: float | None) -> EpisodeResult:
        mean_dev, max_dev = period_deviation(np.asarray(tally.starts), self.fps)
        traj = np.asarray(tally.commanded, dtype=np.float32)
        return EpisodeResult(
            success=completion_time_s is not None,
            ticks=len(traj),
            fps=self.fps,
            completion_time_s=completion_time_s,
            idle_ticks=tally.idle,
            starved_ticks=tally.starved,
            stale_dropped=tally.stale,
            inferences=tally.requests,
            chunks_received=len(tally.latencies),
            latencies_s=tuple(tally.latencies),
            jerk=jerk_rms(traj, self.fps),
            trigger=self.trigger.name,
            aggregator=self.aggregator_name,
            virtual_time=isinstance(self.clock, VirtualClock),
            period_mean_dev_s=mean_dev,
            period_max_dev_s=max_dev,
            requests_replaced=self._inference.replaced if self._inference else 0,
            commanded=traj,
        )

    def _start(self, obs: dict[str, Any]) -> EpisodeStart:
        virtual = isinstance(self.clock, VirtualClock)
        return EpisodeStart(
            fps=self.fps, chunk_size=self.chunk_size, trigger=self.trigger.name,
            aggregator=self.aggregator_name, virtual_time=virtual, observation=obs,
        )  # fmt: skip

    def close(self) -> None:
        if self._inference is not None:
            self._inference.close()
            self._inference = None

    def __enter__(self) -> ControlLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _state_of(obs: dict[str, Any]) -> np.ndarray:
    """The target to hold before the first chunk arrives: where the arm already is."""
    if STATE_KEY not in obs:
        raise KeyError(f"observation needs {STATE_KEY!r} to hold the arm; got keys {sorted(obs)}")
    return np.array(obs[STATE_KEY], dtype=np.float32, copy=True)
