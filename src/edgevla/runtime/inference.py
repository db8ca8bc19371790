"""Inference runners: how a request made at a tick turns into a chunk arriving at a later tick.

The control loop is the same in virtual and wall-clock time; only this piece differs.
- `VirtualInference` computes the chunk at once from the observation of the request tick and
  holds it back until tick t + ceil(L·fps), L drawn from the virtual clock's latency model.
- `ThreadedInference` runs `predict_chunk` on a worker thread so a slow policy never blocks a
  tick; it keeps only the newest pending request (an older one would plan from a stale view).
Both report the measured latency of each chunk so triggers can learn it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Protocol

from edgevla.runtime.clocks import Clock, VirtualClock
from edgevla.runtime.types import ActionChunk, ChunkPolicy, Observation


@dataclass(frozen=True)
class Arrival:
    """A finished chunk: requested at `request_tick`, took `latency_s`."""

    chunk: ActionChunk
    request_tick: int
    latency_s: float


class Inference(Protocol):
    clock: Clock
    in_flight: bool
    replaced: int  # pending requests overwritten by a newer one before they started

    def submit(self, observation: Observation, tick: int) -> None: ...

    def poll(self, tick: int) -> list[Arrival]: ...

    def reset(self) -> None:
        """Forget requests and results of the previous episode."""
        ...

    def close(self) -> None: ...


class VirtualInference:
    """Deterministic inference in virtual time (see module docstring)."""

    def __init__(self, policy: ChunkPolicy, clock: VirtualClock, fps: float) -> None:
        self.policy, self.clock, self.fps = policy, clock, float(fps)
        self.replaced = 0
        self._pending: list[tuple[int, Arrival]] = []  # (due tick, arrival)

    @property
    def in_flight(self) -> bool:
        return bool(self._pending)

    def submit(self, observation: Observation, tick: int) -> None:
        latency = self.clock.sample_latency()
        chunk = self.policy.predict_chunk(observation, timestep=tick)
        due = tick + math.ceil(latency * self.fps - 1e-9)
        self._pending.append((due, Arrival(chunk, tick, latency)))

    def poll(self, tick: int) -> list[Arrival]:
        done = [a for due, a in self._pending if due <= tick]
        self._pending = [(due, a) for due, a in self._pending if due > tick]
        return done

    def reset(self) -> None:
        self._pending.clear()
        self.replaced = 0

    def close(self) -> None:
        self._pending.clear()


class ThreadedInference:
    """A worker thread running `policy.predict_chunk`; errors resurface in `poll`."""

    def __init__(self, policy: ChunkPolicy, clock: Clock) -> None:
        self.policy, self.clock = policy, clock
        self.replaced = 0
        self._cond = threading.Condition()
        self._pending: tuple[Observation, int, float] | None = None
        self._busy = False
        self._done: list[Arrival] = []
        self._error: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def in_flight(self) -> bool:
        with self._cond:
            return self._pending is not None or self._busy

    def submit(self, observation: Observation, tick: int) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("submit() on a closed ThreadedInference")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="edgevla-inference", daemon=True
                )
                self._thread.start()
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

    def reset(self, timeout_s: float = 120.0) -> None:
        """Drop the pending request, wait for a running one to finish, discard results.

        Waiting keeps the next episode's `policy.reset()` from racing a predict still running.
        """
        with self._cond:
            self._pending = None
            if not self._cond.wait_for(lambda: not self._busy, timeout_s):
                raise TimeoutError(f"inference still running after {timeout_s} s")
            self._done.clear()
            self._error = None
            self.replaced = 0

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                observation, tick, t_submit = self._pending
                self._pending, self._busy = None, True
            try:
                chunk = self.policy.predict_chunk(observation, timestep=tick)
            except BaseException as e:  # handed to the control thread, never swallowed
                with self._cond:
                    self._error, self._busy = e, False
                    self._cond.notify_all()
                continue
            with self._cond:
                self._done.append(Arrival(chunk, tick, self.clock.now() - t_submit))
                self._busy = False
                self._cond.notify_all()


def make_inference(policy: ChunkPolicy, clock: Clock, fps: float) -> Inference:
    """Virtual clock → VirtualInference; anything else → a ThreadedInference worker."""
    if isinstance(clock, VirtualClock):
        return VirtualInference(policy, clock, fps)
    return ThreadedInference(policy, clock)
