"""The control loop (DESIGN §4), in openpi's shape: Environment + ChunkPolicy + trigger +
aggregator + subscribers.

Every tick, at the environment's fps: merge the chunks that finished (aligned by the arm's
progress, see `_merge`), maybe request a chunk (the trigger decides, seeing the merged queue),
pop this tick's action — or hold the last target when there is none: a dry queue, or a policy
that is unavailable while the inference worker reconnects —, step the environment, tell the
subscribers. Virtual and wall-clock time share this code; only
the clock and the inference runner (see `inference.py`) differ. The environment is stepped
every tick even while the arm waits, so episode time is always ticks / fps and waiting shows
up as idle ticks instead of disappearing from the count.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgevla.contracts import ActionChunk, ChunkPolicy, Environment, PolicyUnavailable
from edgevla.features import STATE_KEY
from edgevla.runtime.action_queue import ActionQueue
from edgevla.runtime.aggregators import crossfade, resolve_aggregator
from edgevla.runtime.alignment import align_by_state
from edgevla.runtime.clocks import Clock, VirtualClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.inference import Arrival, Inference, make_inference
from edgevla.runtime.metrics import jerk_rms, period_deviation
from edgevla.runtime.records import EpisodeResult, EpisodeStart, TickRecord
from edgevla.runtime.subscribers import notify

log = logging.getLogger(__name__)


@dataclass
class _Tally:
    """Running counts of one episode."""

    idle: int = 0
    starved: int = 0
    outage: int = 0
    recovering: bool = False  # from a failed request until the next chunk lands
    outages_seen: int = 0
    first_wait: int | None = None  # idle ticks when the first chunk landed
    stale: int = 0
    requests: int = 0
    held_at_request: dict[int, int] = field(default_factory=dict)  # in flight: tick -> idle
    latencies: list[float] = field(default_factory=list)  # one per received chunk
    commanded: list[np.ndarray] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)  # clock time at each tick start


class ControlLoop:
    """Runs episodes of `policy` on `env`, as `config` (a RuntimeConfig) says: trigger,
    aggregator, actions per chunk, alignment, cross-fade, requests in flight, warm start.

    The clock defaults to the config's (episode 0); pass one to seed it per episode or to run
    a latency model the config has no name for, and `loop.clock` may be replaced between
    episodes. Call `close()` (or use `with`) to stop a wall-clock inference worker.
    """

    def __init__(
        self,
        env: Environment,
        policy: ChunkPolicy,
        config: RuntimeConfig,
        *,
        clock: Clock | None = None,
        subscribers: Iterable[Any] = (),
    ) -> None:
        self.fps = float(env.fps)
        if abs(policy.spec.fps - self.fps) > 1e-6:
            raise ValueError(f"policy plans at {policy.spec.fps} fps but env runs at {self.fps}")
        limit = policy.spec.chunk_size
        apc = config.actions_per_chunk
        self.chunk_size = limit if apc is None else int(apc)
        if not 1 <= self.chunk_size <= limit:
            raise ValueError(f"actions_per_chunk must be in [1, {limit}], got {self.chunk_size}")
        self.config = config
        self.env, self.policy = env, policy
        self.trigger = config.build_trigger()
        self.aggregator_name, self.aggregate = resolve_aggregator(config.aggregator)
        # The cross-fade's own promise — no jump where a chunk takes over — also on a short or
        # dry queue: it blends at least this long, from the held target where nothing is queued.
        self.min_blend = (
            math.ceil(config.crossfade_min_s * self.fps - 1e-9)
            if self.aggregate is crossfade
            else 0
        )
        self.clock = clock if clock is not None else config.build_clock()
        self.subscribers = list(subscribers)
        self._inference: Inference | None = None

    def run_episode(
        self,
        *,
        max_ticks: int,
        settle_ticks: int = 0,
        stop_when: Callable[[], bool] | None = None,
        **reset_options: Any,
    ) -> EpisodeResult:
        """One episode: ends `settle_ticks` after info["success"] turns (and stays) true, or
        after `max_ticks`, or — before a tick's step — when `stop_when()` says so (the
        recording expert has finished its plan). Reset options go to `env.reset`."""
        if max_ticks < 1 or settle_ticks < 0:
            raise ValueError(
                f"need max_ticks >= 1, settle_ticks >= 0; got {max_ticks}, {settle_ticks}"
            )
        if self._inference is None or self._inference.clock is not self.clock:
            self.close()  # the clock was swapped (e.g. one seeded per episode): new runner
            self._inference = make_inference(
                self.policy, self.clock, self.fps, self.config.max_in_flight, self.config.retry
            )
        inference = self._inference
        inference.reset()
        obs = self.env.reset(**reset_options)
        try:
            self.policy.reset()
        except PolicyUnavailable as e:  # a remote policy: the first request reconnects
            log.warning("policy unavailable at episode start, will reconnect: %s", e)
        target = _state_of(obs)
        queue = ActionQueue(self.policy.spec.action_dim)
        notify(self.subscribers, "on_episode_start", self._start(obs))
        tally, success_since = _Tally(), None
        if self.config.warm_start:
            self._warm_start(inference, obs, queue, tally, target)
        t0 = deadline = self.clock.now()
        for tick in range(max_ticks):
            tally.starts.append(self.clock.now() - t0)
            # Merge what landed first, so the trigger sees the queue this tick will pop from.
            arrivals = inference.poll(tick)
            stale = sum(
                self._merge(a, tick, queue, tally, target, inference.in_flight_ticks)
                for a in arrivals
            )
            queue_size, saturated = self._projected(len(queue), inference.in_flight_ticks, tick)
            requested = self.trigger.should_request(
                queue_size=queue_size,
                chunk_size=self.chunk_size,
                in_flight=saturated,
                fps=self.fps,
            )
            if requested:
                inference.submit(obs, tick)
                tally.held_at_request[tick] = tally.idle
                tally.requests += 1
                now = inference.poll(tick)  # a zero-latency chunk is usable at once
                stale += sum(
                    self._merge(a, tick, queue, tally, target, inference.in_flight_ticks)
                    for a in now
                )
                arrivals += now
            if inference.unavailable or inference.outages != tally.outages_seen:
                tally.recovering, tally.outages_seen = True, inference.outages
            elif arrivals:
                tally.recovering = False
            action = queue.pop(tick)
            if stop_when is not None and stop_when():
                tally.starts.pop()  # this tick never ran
                break
            idle = action is None
            outage = idle and tally.recovering
            starved = idle and bool(tally.latencies) and not self.trigger.blocking and not outage
            tally.idle, tally.starved = tally.idle + idle, tally.starved + starved
            tally.outage += outage
            target = target if idle else action
            seen, (obs, info) = obs, self.env.step(target)
            if "success" not in info:
                raise KeyError(f"env.step info must have 'success'; got keys {sorted(info)}")
            tally.commanded.append(target)
            record = TickRecord(
                tick=tick, time_s=tally.starts[-1], observation=seen, action=target, info=info,
                queue_size=len(queue), requested=requested, arrived=len(arrivals),
                stale_dropped=stale, idle=idle, starved=starved, outage=outage,
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

    def _warm_start(
        self,
        inference: Inference,
        obs: dict[str, Any],
        queue: ActionQueue,
        tally: _Tally,
        target: np.ndarray,
    ) -> None:
        """Compute the first chunk before the episode's clock starts, from the reset
        observation (the arm is at rest and nothing moves meanwhile), so no mode starts with a
        wait: what is left to compare is the waiting during the task. Gives up after
        `warm_start_timeout_s` (a server that is down): the request stays in flight and the
        episode starts waiting for it as without a warm start."""
        inference.submit(obs, 0)
        tally.held_at_request[0] = 0
        tally.requests += 1
        arrivals = inference.wait_before_start(self.config.warm_start_timeout_s)
        for arrival in arrivals:
            self._merge(arrival, 0, queue, tally, target, inference.in_flight_ticks)
        if not arrivals:
            log.warning(
                "warm start: no chunk after %.0f s, starting without",
                self.config.warm_start_timeout_s,
            )

    def _projected(self, queued: int, in_flight: list[int], tick: int) -> tuple[int, bool]:
        """(queue length the trigger should see, whether no further request may go out).

        One in flight: the queue as it is, and nothing more until it lands. Pipelined: a
        request made at tick r will cover up to tick r + chunk_size, so the queue is projected
        to that point and a new request goes out only when even the projection runs short."""
        if self.config.max_in_flight == 1 or not in_flight:
            return queued, bool(in_flight)
        covered = max(queued, max(r + self.chunk_size - tick for r in in_flight))
        return covered, len(in_flight) >= self.config.max_in_flight

    def _merge(
        self,
        arrival: Arrival,
        tick: int,
        queue: ActionQueue,
        tally: _Tally,
        last_target: np.ndarray,
        in_flight: list[int],
    ) -> int:
        """Queue an arrived chunk; returns how many of its actions were stale.

        A chunk is aligned by progress, not by the clock: actions[i] is what to command after
        the arm has executed i actions since the observation. Ticks the arm held (sync waits,
        the first wait, a dry queue) did not move it, so the chunk is shifted by them and only
        the actions the arm really executed meanwhile are stale. For `sync` the shift is the
        whole wait: the chunk runs from its first action at the arrival tick. With
        `align="state"` the entry point is then corrected by the last commanded target
        (see `alignment.py`), never so far that the queue runs dry before the next chunk can
        land: the trigger's reserve after it, or — pipelined — until the earliest request
        still in flight is due.
        """
        chunk = arrival.chunk
        if chunk.timestep != arrival.request_tick:
            raise ValueError(
                f"policy returned a chunk for tick {chunk.timestep}, requested for tick "
                f"{arrival.request_tick}: predict_chunk must honour `timestep`"
            )
        self.trigger.observe_latency(arrival.latency_s)
        tally.latencies.append(arrival.latency_s)
        if tally.first_wait is None:
            tally.first_wait = tally.idle
        held = tally.idle - tally.held_at_request.pop(arrival.request_tick)
        actions = chunk.actions[: self.chunk_size]
        start = chunk.timestep + held
        if self.config.align == "state":
            # A feasible schedule (a chunk outlasts the next inference plus the trigger's
            # reserve) must not run dry because alignment moved forward; see alignment.py.
            reserve = self.trigger.reserve(self.chunk_size, self.fps)
            steady = len(actions) - math.ceil(arrival.latency_s * self.fps - 1e-9)
            fresh = len(actions) - max(0, tick - start)  # left after time alignment
            ahead = max(0, fresh - reserve) if steady >= reserve else None
            if (
                self.config.max_in_flight > 1 and in_flight
            ):  # the next chunk is due min(r) + reserve
                ahead = max(0, fresh - max(0, min(in_flight) + reserve - tick))
            start = align_by_state(actions, start, tick, last_target, max_ahead=ahead)
        report = queue.merge(
            ActionChunk(actions, start), tick, self.aggregate,
            min_blend=self.min_blend, hold=last_target,
        )  # fmt: skip
        tally.stale += report.stale
        return report.stale

    def _result(self, tally: _Tally, completion_time_s: float | None) -> EpisodeResult:
        mean_dev, max_dev = period_deviation(np.asarray(tally.starts), self.fps)
        traj = np.asarray(tally.commanded, dtype=np.float32).reshape(
            -1, self.policy.spec.action_dim
        )  # [0, A] when stopped before the first step
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
            outage_ticks=tally.outage,
            first_wait_ticks=tally.idle if tally.first_wait is None else tally.first_wait,
            reconnects=self._inference.reconnects if self._inference else 0,
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
