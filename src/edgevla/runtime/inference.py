"""Inference runners: how a request made at a tick turns into a chunk arriving at a later tick.

The control loop is the same in virtual and wall-clock time; only this piece differs.
- `VirtualInference` computes the chunk at once from the observation of the request tick and
  holds it back until tick t + ceil(L·fps), L drawn from the virtual clock's latency model.
- `ThreadedInference` runs `predict_chunk` on worker threads so a slow policy never blocks a
  tick; it keeps only the newest pending request (an older one would plan from a stale view).
  With `workers=k` up to k requests run at once (pipelined inference, `max_in_flight`): for a
  server or accelerator that answers k requests in about the time of one.
  When the policy is unavailable (`PolicyUnavailable`: a server down), the failed request is
  dropped — never retried with its now-stale observation — and the worker calls the policy's
  `reconnect(timeout=...)` (one attempt each) on the `RetrySchedule` while the loop holds the
  arm; afterwards the trigger asks again with a fresh observation. `reset()` (a new episode)
  interrupts that between attempts, so it waits for at most the one attempt under way.
Both report the measured latency of each chunk so triggers can learn it.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Protocol

from edgevla.contracts import ActionChunk, ChunkPolicy, Observation, PolicyUnavailable
from edgevla.runtime.clocks import Clock, VirtualClock
from edgevla.runtime.realtime import worker_scheduling
from edgevla.runtime.retry import RetrySchedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arrival:
    """A finished chunk: requested at `request_tick`, took `latency_s`."""

    chunk: ActionChunk
    request_tick: int
    latency_s: float


class Inference(Protocol):
    clock: Clock
    in_flight: bool
    in_flight_ticks: list[int]  # request ticks of everything submitted and not yet polled
    replaced: int  # pending requests overwritten by a newer one before they started
    unavailable: bool  # the policy cannot answer now (reconnecting): the arm holds
    outages: int  # requests that failed with PolicyUnavailable
    reconnects: int  # successful reconnects after an outage

    def submit(self, observation: Observation, tick: int) -> None: ...

    def poll(self, tick: int) -> list[Arrival]: ...

    def wait_before_start(self, timeout_s: float) -> list[Arrival]:
        """Block (in the runner's time) until the one request in flight lands, at most
        `timeout_s`; what is still in flight after that lands in tick time from tick 0."""
        ...

    def reset(self) -> None:
        """Forget requests and results of the previous episode."""
        ...

    def close(self) -> None: ...


class VirtualInference:
    """Deterministic inference in virtual time (see module docstring)."""

    unavailable = False  # virtual time has no network
    outages = reconnects = 0

    def __init__(self, policy: ChunkPolicy, clock: VirtualClock, fps: float) -> None:
        self.policy, self.clock, self.fps = policy, clock, float(fps)
        self.replaced = 0
        self._pending: list[tuple[int, Arrival]] = []  # (due tick, arrival)

    @property
    def in_flight(self) -> bool:
        return bool(self._pending)

    @property
    def in_flight_ticks(self) -> list[int]:
        return [a.request_tick for _, a in self._pending]

    def submit(self, observation: Observation, tick: int) -> None:
        latency = self.clock.sample_latency()
        chunk = self.policy.predict_chunk(observation, timestep=tick)
        due = tick + math.ceil(latency * self.fps - 1e-9)
        self._pending.append((due, Arrival(chunk, tick, latency)))

    def poll(self, tick: int) -> list[Arrival]:
        done = [a for due, a in self._pending if due <= tick]
        self._pending = [(due, a) for due, a in self._pending if due > tick]
        return done

    def wait_before_start(self, timeout_s: float) -> list[Arrival]:
        if len(self._pending) != 1:
            raise RuntimeError("wait_before_start needs exactly one request in flight")
        _, arrival = self._pending[0]
        if arrival.latency_s <= timeout_s:
            self.clock.wait_until(self.clock.now() + arrival.latency_s)
            self._pending.clear()
            return [arrival]
        self.clock.wait_until(self.clock.now() + timeout_s)
        due = math.ceil((arrival.latency_s - timeout_s) * self.fps - 1e-9)
        self._pending[0] = (arrival.request_tick + due, arrival)
        return []

    def reset(self) -> None:
        self._pending.clear()
        self.replaced = 0

    def close(self) -> None:
        self._pending.clear()


class ThreadedInference:
    """Worker threads running `policy.predict_chunk`; errors resurface in `poll`, except
    `PolicyUnavailable`, which one worker handles by reconnecting (see module docstring) while
    the others stop taking requests."""

    def __init__(
        self,
        policy: ChunkPolicy,
        clock: Clock,
        retry: RetrySchedule | None = None,
        workers: int = 1,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.policy, self.clock, self.workers = policy, clock, int(workers)
        self.retry = retry or RetrySchedule()
        self.replaced = 0
        self.outages = 0
        self.reconnects = 0
        self._unavailable = False
        self._interrupt = False  # reset()/close(): stop retrying, the episode is over
        self._cond = threading.Condition()
        self._pending: tuple[Observation, int, float] | None = None
        self._running: dict[int, int] = {}  # worker index -> request tick it computes
        self._done: list[Arrival] = []
        self._error: BaseException | None = None
        self._closed = False
        self._threads: list[threading.Thread] = []

    @property
    def in_flight(self) -> bool:
        with self._cond:
            return self._pending is not None or bool(self._running)

    @property
    def in_flight_ticks(self) -> list[int]:
        with self._cond:
            ticks = list(self._running.values())
            ticks += [a.request_tick for a in self._done]
            return ticks + ([self._pending[1]] if self._pending is not None else [])

    @property
    def unavailable(self) -> bool:
        with self._cond:
            return self._unavailable

    def submit(self, observation: Observation, tick: int) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("submit() on a closed ThreadedInference")
            while len(self._threads) < self.workers:
                index = len(self._threads)
                thread = threading.Thread(
                    target=self._work, args=(index,), name=f"edgevla-inference-{index}",
                    daemon=True,
                )  # fmt: skip
                self._threads.append(thread)
                thread.start()
            if self._pending is not None:
                self.replaced += 1
            self._pending = (observation, tick, self.clock.now())
            self._cond.notify_all()

    def poll(self, tick: int) -> list[Arrival]:
        with self._cond:
            if self._error is not None:
                error, self._error = self._error, None
                raise RuntimeError(f"inference worker failed: {error!r}") from error
            done, self._done = self._done, []
            return done

    def wait_before_start(self, timeout_s: float) -> list[Arrival]:
        with self._cond:
            self._cond.wait_for(lambda: bool(self._done) or self._error is not None, timeout_s)
        return self.poll(0)

    def reset(self, timeout_s: float = 120.0) -> None:
        """Drop the pending request, wait for a running one to finish, discard results.

        Waiting keeps the next episode's `policy.reset()` from racing a predict still running.
        """
        with self._cond:
            self._pending = None
            self._interrupt = True
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: not self._running, timeout_s):
                raise TimeoutError(f"inference still running after {timeout_s} s")
            self._interrupt = False
            self._done.clear()
            self._error = None
            self.replaced = self.outages = self.reconnects = 0

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout_s)

    def _work(self, index: int) -> None:
        worker_scheduling()  # started by a real-time control thread: not at its priority
        while True:
            with self._cond:
                while (self._pending is None or self._unavailable) and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                observation, tick, t_submit = self._pending
                self._pending = None
                self._running[index] = tick
            try:
                chunk = self.policy.predict_chunk(observation, timestep=tick)
            except PolicyUnavailable as e:
                with self._cond:
                    reconnecting = self._unavailable  # another worker is already on it
                    self._unavailable = True
                if reconnecting:
                    with self._cond:
                        self._running.pop(index, None)
                        self._cond.notify_all()
                else:
                    self._recover(e, index)
                continue
            except BaseException as e:  # handed to the control thread, never swallowed
                with self._cond:
                    self._error = e
                    self._running.pop(index, None)
                    self._cond.notify_all()
                continue
            with self._cond:
                self._done.append(Arrival(chunk, tick, self.clock.now() - t_submit))
                self._running.pop(index, None)
                self._cond.notify_all()

    def _recover(self, error: PolicyUnavailable, index: int) -> None:
        """Reconnect on the schedule until it works, the episode ends, the attempts run out
        (an error for the control thread) or a real error comes."""
        with self._cond:
            self.outages += 1
        log.warning("policy unavailable, holding the arm and reconnecting: %s", error)
        reconnect = getattr(self.policy, "reconnect", None)
        try:
            if reconnect is None:  # nothing to re-open: the next request simply tries again
                self._wait(self.retry.delay(0))
            else:
                self.retry.retry(
                    lambda: reconnect(timeout=self.retry.attempt_timeout_s),
                    wait=self._wait,
                    after=error,
                    on_failure=lambda n, e: log.info("reconnect attempt %d failed: %s", n, e),
                )
                with self._cond:
                    self.reconnects += 1
                log.warning("policy reachable again")
        except PolicyUnavailable as e:
            with self._cond:
                if not (self._interrupt or self._closed):  # not interrupted: attempts ran out
                    self._error = PolicyUnavailable(
                        f"gave up after {self.retry.max_attempts} reconnect attempts: {e}"
                    )
        except BaseException as e:  # e.g. the restarted server serves another policy
            with self._cond:
                self._error = e
        with self._cond:
            self._unavailable = False
            self._running.pop(index, None)
            self._cond.notify_all()

    def _wait(self, seconds: float) -> bool:
        """Wait between attempts; False when reset()/close() ended the episode meanwhile."""
        with self._cond:
            return not self._cond.wait_for(lambda: self._interrupt or self._closed, seconds)


def make_inference(
    policy: ChunkPolicy,
    clock: Clock,
    fps: float,
    max_in_flight: int = 1,
    retry: RetrySchedule | None = None,
) -> Inference:
    """Virtual clock → VirtualInference (any number in flight, each with its own latency);
    anything else → ThreadedInference with one worker per request allowed in flight, which
    reconnects on `retry` (RuntimeConfig.retry)."""
    if isinstance(clock, VirtualClock):
        return VirtualInference(policy, clock, fps)
    return ThreadedInference(policy, clock, retry=retry, workers=max_in_flight)
