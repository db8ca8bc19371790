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

from edgevla.contracts import (
    ACTION_PREFIX,
    ActionChunk,
    ChunkPolicy,
    Environment,
    Observation,
    PolicyUnavailable,
)
from edgevla.features import ACTION_PREFIX_KEY, STATE_KEY
from edgevla.runtime.action_queue import ActionQueue
from edgevla.runtime.aggregators import crossfade, resolve_aggregator
from edgevla.runtime.alignment import align_by_state
from edgevla.runtime.clocks import Clock, VirtualClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.inference import Arrival, Inference, make_inference
from edgevla.runtime.metrics import jerk_rms, motion_while_held, period_deviation
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
    travel: list[float] = field(default_factory=list)  # measured state's L1 move per tick
    held: list[bool] = field(default_factory=list)  # per tick: the loop held its target
    starts: list[float] = field(default_factory=list)  # clock time at each tick start

    def count(self, idle: bool, starved: bool, outage: bool) -> None:
        self.idle += idle
        self.starved += starved
        self.outage += outage


@dataclass
class _Episode:
    """What one episode carries from tick to tick."""

    inference: Inference
    queue: ActionQueue
    obs: dict[str, Any]  # the newest observation: the next request is computed from it
    target: np.ndarray  # the last commanded target: held while nothing is queued
    state: np.ndarray  # the newest observation's joint state (how far the arm moved per tick)
    tally: _Tally = field(default_factory=_Tally)
    success_since: int | None = None
    t0: float = 0.0  # clock time of tick 0

    def settled(self, tick: int, settle_ticks: int) -> bool:
        return self.success_since is not None and tick - self.success_since >= settle_ticks

    def track_outage(self, arrived: bool) -> None:
        """From a failed request until the next chunk lands, idle ticks are outage ticks."""
        inference, tally = self.inference, self.tally
        if inference.unavailable or inference.outages != tally.outages_seen:
            tally.recovering, tally.outages_seen = True, inference.outages
        elif arrived:
            tally.recovering = False


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
        ep = self._begin(reset_options)
        deadline = ep.t0
        for tick in range(max_ticks):
            if not self._tick(ep, tick, stop_when) or ep.settled(tick, settle_ticks):
                break
            deadline = max(deadline + 1.0 / self.fps, self.clock.now())
            self.clock.wait_until(deadline)
        success = ep.settled(len(ep.tally.commanded) - 1, settle_ticks)
        completion = (ep.success_since + 1) / self.fps if success else None  # type: ignore[operator]
        result = self._result(ep.tally, completion)
        notify(self.subscribers, "on_episode_end", result)
        return result

    def _begin(self, reset_options: dict[str, Any]) -> _Episode:
        """Reset the inference runner, the environment and the policy; warm start if asked."""
        if self._inference is None or self._inference.clock is not self.clock:
            self.close()  # the clock was swapped (e.g. one seeded per episode): new runner
            self._inference = make_inference(
                self.policy, self.clock, self.fps, self.config.max_in_flight, self.config.retry
            )
        self._inference.reset()
        obs = self.env.reset(**reset_options)
        try:
            self.policy.reset()
        except PolicyUnavailable as e:  # a remote policy: the first request reconnects
            log.warning("policy unavailable at episode start, will reconnect: %s", e)
        state = _state_of(obs)
        ep = _Episode(
            self._inference, ActionQueue(self.policy.spec.action_dim), obs, state, state.copy()
        )
        notify(self.subscribers, "on_episode_start", self._start(obs))
        if self.config.warm_start:
            self._warm_start(ep)
        ep.t0 = self.clock.now()
        return ep

    def _tick(self, ep: _Episode, tick: int, stop_when: Callable[[], bool] | None) -> bool:
        """One control tick: merge what landed (so the trigger sees the queue this tick pops
        from), maybe request, pop or hold, step, tell the subscribers. False: stopped first."""
        ep.tally.starts.append(self.clock.now() - ep.t0)
        arrivals, stale = self._receive(ep, tick)
        queue_size, saturated = self._projected(len(ep.queue), ep.inference.in_flight_ticks, tick)
        requested = self.trigger.should_request(
            queue_size=queue_size, chunk_size=self.chunk_size, in_flight=saturated, fps=self.fps
        )
        if requested:
            ep.inference.submit(self._request(ep, tick), tick)
            ep.tally.held_at_request[tick] = ep.tally.idle
            ep.tally.requests += 1
            now, more_stale = self._receive(ep, tick)  # a zero-latency chunk is usable at once
            arrivals, stale = arrivals + now, stale + more_stale
        ep.track_outage(bool(arrivals))
        action = ep.queue.pop(tick)
        if stop_when is not None and stop_when():
            ep.tally.starts.pop()  # this tick never ran
            return False
        idle = action is None
        outage = idle and ep.tally.recovering
        starved = idle and bool(ep.tally.latencies) and not self.trigger.blocking and not outage
        ep.tally.count(idle, starved, outage)
        ep.target = ep.target if idle else action
        seen, (ep.obs, info) = ep.obs, self.env.step(ep.target)
        if "success" not in info:
            raise KeyError(f"env.step info must have 'success'; got keys {sorted(info)}")
        ep.tally.commanded.append(ep.target)
        state = _state_of(ep.obs)
        ep.tally.travel.append(float(np.abs(state - ep.state).sum()))
        ep.state = state
        ep.tally.held.append(idle)
        record = TickRecord(
            tick=tick, time_s=ep.tally.starts[-1], observation=seen, action=ep.target, info=info,
            queue_size=len(ep.queue), requested=requested, arrived=len(arrivals),
            stale_dropped=stale, idle=idle, starved=starved, outage=outage,
        )  # fmt: skip
        notify(self.subscribers, "on_tick", record)
        if not info["success"]:
            ep.success_since = None
        elif ep.success_since is None:
            ep.success_since = tick
        return True

    def _request(self, ep: _Episode, tick: int) -> Observation:
        """What a request sends: the observation, and for a policy that reads it the
        committed prefix — the queue's head, which the arm executes while the chunk computes."""
        limit = self.policy.spec.extra.get(ACTION_PREFIX)
        if limit is None:
            return ep.obs
        return {**ep.obs, ACTION_PREFIX_KEY: ep.queue.head(tick, int(limit))}

    def _receive(self, ep: _Episode, tick: int) -> tuple[list[Arrival], int]:
        """The chunks that landed by `tick`, merged into the queue; and their stale actions."""
        arrivals = ep.inference.poll(tick)
        stale = sum(self._merge(a, tick, ep, ep.inference.in_flight_ticks) for a in arrivals)
        return arrivals, stale

    def _warm_start(self, ep: _Episode) -> None:
        """Compute the first chunk before the episode's clock starts, from the reset
        observation (the arm is at rest and nothing moves meanwhile), so no mode starts with a
        wait: what is left to compare is the waiting during the task. Gives up after
        `warm_start_timeout_s` (a server that is down): the request stays in flight and the
        episode starts waiting for it as without a warm start."""
        ep.inference.submit(self._request(ep, 0), 0)
        ep.tally.held_at_request[0] = 0
        ep.tally.requests += 1
        arrivals = ep.inference.wait_before_start(self.config.warm_start_timeout_s)
        for arrival in arrivals:
            self._merge(arrival, 0, ep, ep.inference.in_flight_ticks)
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

    def _merge(self, arrival: Arrival, tick: int, ep: _Episode, in_flight: list[int]) -> int:
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
        chunk, tally, last_target = arrival.chunk, ep.tally, ep.target
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
        report = ep.queue.merge(
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
            held_motion_ticks=motion_while_held(np.asarray(tally.travel), np.asarray(tally.held)),
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
