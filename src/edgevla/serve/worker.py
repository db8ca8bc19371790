"""A pool of inference threads per loaded policy, keeping only the newest observation per
session and giving each session its own policy object (edgevla.serve.instances).

Why a pool: several robots share one policy; with `workers` threads their requests run in
parallel (torch and onnxruntime release the GIL while they compute). Why newest-only: a robot
that sent a newer observation while the older one still waited wants actions for *now*; the
older request is answered with `Superseded` instead of burning compute on a stale frame.
Up to `max_in_flight` requests of one session run at once (pipelined requests); sessions are
served in arrival order, so a fast-sending robot cannot starve others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgevla.contracts import ActionChunk, ChunkPolicy, Observation
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


@dataclass
class _Job:
    session_id: str
    observation: Observation
    timestep: int
    n_actions: int
    enqueued: float
    future: Future


class PolicyWorker:
    """Runs `predict_chunk` of each session's policy on `workers` threads; `submit` returns
    a Future. `refused`: chunks the action guard stopped."""

    def __init__(
        self, name: str, policy: ChunkPolicy, workers: int = 1, max_in_flight: int = 2
    ) -> None:
        self.name = name
        self.policy = policy
        self.guard = ActionGuard.for_spec(policy.spec)
        self.max_in_flight = max_in_flight
        self.refused = 0
        self._policies = SessionPolicies(name, policy)
        self._cond = threading.Condition()
        self._pending: OrderedDict[str, _Job] = OrderedDict()  # session -> newest job, FIFO
        self._running: Counter[str] = Counter()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"policy-{name}-{i}", daemon=True)
            for i in range(workers)
        ]

    @property
    def isolation(self) -> str:
        """How sessions get their policy object: fork, copy, shared or shared_reset."""
        return self._policies.mode

    def start(self) -> None:
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
            self._cond.notify()
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
        self._policies.forget(session_id)

    def pending_sessions(self) -> list[str]:
        with self._cond:
            return list(self._pending)

    def stop(self, timeout: float | None = None) -> None:
        """Fail everything still pending and end the threads (running calls are waited for)."""
        with self._cond:
            self._stopping = True
            jobs = list(self._pending.values())
            self._pending.clear()
            self._cond.notify_all()
        for job in jobs:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(WorkerStopped(f"policy {self.name!r} is shutting down"))
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                job = self._next_job()
                while job is None and not self._stopping:
                    self._cond.wait()
                    job = self._next_job()
                if self._stopping:
                    return
                self._running[job.session_id] += 1
            try:
                self._run_job(job)
            finally:
                with self._cond:
                    self._running[job.session_id] -= 1
                    if not self._running[job.session_id]:
                        del self._running[job.session_id]
                    self._cond.notify_all()

    def _next_job(self) -> _Job | None:
        """The oldest pending job whose session has fewer than max_in_flight running."""
        for session_id in self._pending:
            if self._running[session_id] < self.max_in_flight:
                return self._pending.pop(session_id)
        return None

    def _run_job(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return  # the caller went away while it waited
        try:
            policy = self._policies.get(job.session_id)
            started = time.perf_counter()
            chunk = policy.predict_chunk(job.observation, job.timestep)
            compute_s = time.perf_counter() - started
            actions = self._checked_actions(chunk, job.n_actions)
        except UnsafeActions as e:
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
        want_a = self.policy.spec.action_dim
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
