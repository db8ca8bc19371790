"""A pool of inference workers per loaded policy, keeping only the newest observation per
session and giving each session its own policy object.

Why a pool: several robots share one policy; with `workers` workers their requests run in
parallel. Why newest-only: a robot that sent a newer observation while the older one still
waited wants actions for *now*; the older request is answered with `Superseded` instead of
burning compute on a stale frame. Up to `max_in_flight` requests of one session run at once
(pipelined requests); sessions are served in arrival order, so a fast-sending robot cannot
starve others.

Where the policy runs is the runner's: `InProcess` (threads here; torch and onnxruntime
release the GIL while they compute, edgevla.serve.instances gives each session its object) or
edgevla.serve.pool's `ProcessRunner` (a process per worker; a session stays in one, so its
requests there run one at a time). Scheduling, the newest-only rule and the action guard are
the same for both.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgevla.contracts import ActionChunk, ChunkPolicy, Observation, PolicySpec
from edgevla.serve.guard import ActionGuard
from edgevla.serve.instances import SessionPolicies

log = logging.getLogger(__name__)


class SupersededError(Exception):
    """A newer observation of the same session replaced this pending one."""


class WorkerStopped(Exception):
    """The worker shut down before this job ran."""


class PolicyFailed(Exception):
    """The policy raised, or returned something that is not a valid chunk."""


class UnsafeActions(PolicyFailed):
    """The policy returned a chunk the action guard refuses (non-finite, out of range)."""


@dataclass(frozen=True)
class InferenceResult:
    """actions: float32[T, A], T = the session's actions per chunk; times on the server clock."""

    actions: np.ndarray
    timestep: int
    compute_s: float
    queue_wait_s: float


class Runner(Protocol):
    """Runs one session's predict_chunk on worker `slot`. `sticky`: a session must always run
    on the slot it first ran on (its state lives there)."""

    sticky: bool
    spec: PolicySpec | None
    isolation: str

    def start(self) -> None: ...

    def run(
        self, slot: int, session_id: str, observation: Observation, timestep: int
    ) -> tuple[ActionChunk, float]: ...

    def check(self, slot: int) -> None: ...

    def forget(self, session_id: str, slot: int | None) -> None: ...

    def stop(self, timeout: float) -> None: ...


class InProcess:
    """The policy in this process: any worker thread runs any session, each session on its
    own policy object (fork, copy or shared; edgevla.serve.instances)."""

    sticky = False

    def __init__(self, name: str, policy: ChunkPolicy) -> None:
        self.spec = policy.spec
        self._policies = SessionPolicies(name, policy)

    @property
    def isolation(self) -> str:
        """How sessions get their policy object: fork, copy, shared or shared_reset."""
        return self._policies.mode

    def start(self) -> None:
        """Nothing to start: the policy is loaded."""

    def run(
        self, slot: int, session_id: str, observation: Observation, timestep: int
    ) -> tuple[ActionChunk, float]:
        policy = self._policies.get(session_id)
        started = time.perf_counter()
        chunk = policy.predict_chunk(observation, timestep)
        return chunk, time.perf_counter() - started

    def check(self, slot: int) -> None:
        """Threads do not die on their own."""

    def forget(self, session_id: str, slot: int | None) -> None:
        self._policies.forget(session_id)

    def stop(self, timeout: float) -> None:
        """Nothing to stop: the worker threads are the pool's."""


@dataclass
class _Job:
    session_id: str
    observation: Observation
    timestep: int
    n_actions: int
    enqueued: float
    future: Future


class PolicyWorker:
    """Runs `predict_chunk` of each session's policy on `workers` worker slots of `runner`,
    one thread each; `submit` returns a Future. `refused`: chunks the action guard stopped.
    A sticky runner's sessions are spread over the slots, fewest sessions first."""

    def __init__(self, name: str, runner: Runner, workers: int = 1, max_in_flight: int = 2) -> None:
        self.name = name
        self.runner = runner
        self.guard: ActionGuard | None = None  # known once the runner has loaded the spec
        self.max_in_flight = max_in_flight
        self.refused = 0
        self._cond = threading.Condition()
        self._pending: OrderedDict[str, _Job] = OrderedDict()  # session -> newest job, FIFO
        self._running: Counter[str] = Counter()
        self._slot_of: dict[str, int] = {}  # sticky runners: session -> its slot
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._loop, args=(i,), name=f"policy-{name}-{i}", daemon=True)
            for i in range(workers)
        ]

    @property
    def spec(self) -> PolicySpec:
        if self.runner.spec is None:
            raise RuntimeError(f"policy {self.name!r} is not loaded yet: start() the worker")
        return self.runner.spec

    @property
    def isolation(self) -> str:
        """How sessions get their policy object (fork, copy, shared, shared_reset; prefixed
        with `process+` where each worker is a process)."""
        return self.runner.isolation

    def start(self) -> None:
        """Load (a process runner starts its processes here), then start the threads."""
        self.runner.start()
        self.guard = ActionGuard.for_spec(self.spec)
        for thread in self._threads:
            thread.start()

    def submit(
        self, session_id: str, observation: Observation, timestep: int, n_actions: int
    ) -> Future:
        """Queue one inference; a still-pending job of the same session is superseded.

        The session keeps its place in line, so a fast-sending robot cannot starve others.
        """
        job = _Job(session_id, observation, timestep, n_actions, time.perf_counter(), Future())
        with self._cond:
            if self._stopping:
                job.future.set_exception(WorkerStopped(f"policy {self.name!r} is shutting down"))
                return job.future
            old = self._pending.get(session_id)
            self._pending[session_id] = job
            if self.runner.sticky and session_id not in self._slot_of:
                self._slot_of[session_id] = self._least_used_slot()
            self._cond.notify_all()  # a sticky job is for one slot's thread: wake them all
        if old is not None and old.future.set_running_or_notify_cancel():
            old.future.set_exception(
                SupersededError(
                    f"observation at timestep {old.timestep} superseded by a newer one "
                    f"(timestep {timestep}) before policy {self.name!r} started on it"
                )
            )
        return job.future

    def discard(self, session_id: str, future: Future) -> None:
        """Drop a job whose caller went away, if it has not started yet."""
        with self._cond:
            job = self._pending.get(session_id)
            if job is not None and job.future is future:
                del self._pending[session_id]
        future.cancel()

    def forget(self, session_id: str) -> None:
        """The session ended (closed, expired, evicted): drop its policy object."""
        with self._cond:
            slot = self._slot_of.pop(session_id, None)
        self.runner.forget(session_id, slot)

    def pending_sessions(self) -> list[str]:
        with self._cond:
            return list(self._pending)

    def stop(self, timeout: float | None = None) -> None:
        """Fail everything still pending, stop the runner (worker processes get `timeout` to
        finish their call, then are killed) and end the threads."""
        with self._cond:
            self._stopping = True
            jobs = list(self._pending.values())
            self._pending.clear()
            self._cond.notify_all()
        for job in jobs:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(WorkerStopped(f"policy {self.name!r} is shutting down"))
        self.runner.stop(timeout if timeout is not None else 1.0)
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def _loop(self, slot: int) -> None:
        while True:
            with self._cond:
                job = self._next_job(slot)
                while job is None and not self._stopping:
                    if not self._cond.wait(1.0):
                        break  # idle for a second: let the runner check this slot
                    job = self._next_job(slot)
                if self._stopping:
                    return
                if job is not None:
                    self._running[job.session_id] += 1
            if job is None:
                self._check(slot)
                continue
            try:
                self._run_job(slot, job)
            finally:
                with self._cond:
                    self._running[job.session_id] -= 1
                    if not self._running[job.session_id]:
                        del self._running[job.session_id]
                    self._cond.notify_all()

    def _next_job(self, slot: int) -> _Job | None:
        """The oldest pending job for `slot` whose session has fewer than max_in_flight
        running."""
        for session_id in self._pending:
            mine = not self.runner.sticky or self._slot_of.get(session_id) == slot
            if mine and self._running[session_id] < self.max_in_flight:
                return self._pending.pop(session_id)
        return None

    def _least_used_slot(self) -> int:
        counts = Counter(self._slot_of.values())
        return min(range(len(self._threads)), key=lambda i: counts[i])

    def _check(self, slot: int) -> None:
        with contextlib.suppress(WorkerStopped):  # reported; submitted jobs get it from run()
            self.runner.check(slot)

    def _run_job(self, slot: int, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return  # the caller went away while it waited
        started = time.perf_counter()
        try:
            chunk, compute_s = self.runner.run(slot, job.session_id, job.observation, job.timestep)
            actions = self._checked_actions(chunk, job.n_actions)
        except (UnsafeActions, WorkerStopped) as e:
            job.future.set_exception(e)
            return
        except Exception as e:
            log.exception("policy %r failed (session %s)", self.name, job.session_id[:8])
            job.future.set_exception(PolicyFailed(f"policy {self.name!r} failed: {_describe(e)}"))
            return
        job.future.set_result(
            InferenceResult(actions, int(chunk.timestep), compute_s, started - job.enqueued)
        )

    def _checked_actions(self, chunk: Any, n_actions: int) -> np.ndarray:
        """The first `n_actions` rows as float32[n, A]; never pass NaN, a wild value or a
        short chunk on."""
        if not isinstance(chunk, ActionChunk):
            raise PolicyFailed(f"predict_chunk returned {type(chunk).__name__}, not ActionChunk")
        actions = chunk.actions
        want_a = self.spec.action_dim
        if actions.ndim != 2 or actions.shape[1] != want_a or actions.shape[0] < n_actions:
            raise PolicyFailed(
                f"predict_chunk returned actions {list(actions.shape)}, expected at least "
                f"[{n_actions}, {want_a}]"
            )
        if not np.issubdtype(actions.dtype, np.floating):
            raise PolicyFailed(f"predict_chunk returned {actions.dtype} actions, expected float32")
        out = np.ascontiguousarray(actions[:n_actions], dtype=np.float32)
        problem = self.guard.problem(out)
        if problem is not None:
            with self._cond:
                self.refused += 1
                first = self.refused == 1
            log.log(
                logging.WARNING if first else logging.DEBUG,
                "policy %r: refused a chunk (%d so far): %s",
                self.name,
                self.refused,
                problem,
            )
            raise UnsafeActions(f"policy {self.name!r} returned {problem}; refused")
        return out


def _describe(e: Exception) -> str:
    return str(e) if isinstance(e, PolicyFailed) else f"{type(e).__name__}: {e}"
