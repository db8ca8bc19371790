"""One inference thread per loaded policy, keeping only the newest observation per session.

Why a thread per policy: the RPC threads only decode and validate, so a slow policy never
blocks health checks, session management or other policies, and a policy object is only
ever called from one thread. Why newest-only: a robot that sent a newer observation while
the older one still waited wants actions for *now*; the older request is answered with
`Superseded` instead of burning compute on a stale frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgevla.contracts import ActionChunk, ChunkPolicy, Observation

log = logging.getLogger(__name__)


class SupersededError(Exception):
    """A newer observation of the same session replaced this pending one."""


class WorkerStopped(Exception):
    """The worker shut down before this job ran."""


class PolicyFailed(Exception):
    """The policy raised, or returned something that is not a valid chunk."""


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
    """Runs `policy.predict_chunk` on its own thread; `submit` returns a Future."""

    def __init__(self, name: str, policy: ChunkPolicy) -> None:
        self.name = name
        self.policy = policy
        self._cond = threading.Condition()
        self._pending: OrderedDict[str, _Job] = OrderedDict()  # session -> newest job, FIFO
        self._control: deque[tuple[Callable[[], Any], Future]] = deque()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=f"policy-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

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

    def call(self, fn: Callable[[], Any]) -> Future:
        """Run `fn` on the worker thread before any pending inference (e.g. policy.reset)."""
        future: Future = Future()
        with self._cond:
            if self._stopping:
                future.set_exception(WorkerStopped(f"policy {self.name!r} is shutting down"))
                return future
            self._control.append((fn, future))
            self._cond.notify()
        return future

    def discard(self, session_id: str, future: Future) -> None:
        """Drop a job whose caller went away, if it has not started yet."""
        with self._cond:
            job = self._pending.get(session_id)
            if job is not None and job.future is future:
                del self._pending[session_id]
        future.cancel()

    def pending_sessions(self) -> list[str]:
        with self._cond:
            return list(self._pending)

    def stop(self, timeout: float | None = None) -> None:
        """Fail everything still pending and end the thread (a running call is waited for)."""
        with self._cond:
            self._stopping = True
            jobs = list(self._pending.values())
            controls = list(self._control)
            self._pending.clear()
            self._control.clear()
            self._cond.notify_all()
        for future in [j.future for j in jobs] + [f for _, f in controls]:
            if future.set_running_or_notify_cancel():
                future.set_exception(WorkerStopped(f"policy {self.name!r} is shutting down"))
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._stopping or self._control or self._pending):
                    self._cond.wait()
                if self._stopping:
                    return
                if self._control:
                    fn, future = self._control.popleft()
                    job = None
                else:
                    _, job = self._pending.popitem(last=False)
            if job is None:
                self._run_control(fn, future)
            else:
                self._run_job(job)

    @staticmethod
    def _run_control(fn: Callable[[], Any], future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except Exception as e:
            future.set_exception(PolicyFailed(f"{type(e).__name__}: {e}"))

    def _run_job(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return  # the caller went away while it waited
        started = time.perf_counter()
        try:
            chunk = self.policy.predict_chunk(job.observation, job.timestep)
            compute_s = time.perf_counter() - started
            actions = self._checked_actions(chunk, job.n_actions)
        except Exception as e:
            log.exception("policy %r failed (session %s)", self.name, job.session_id)
            job.future.set_exception(PolicyFailed(f"policy {self.name!r} failed: {_describe(e)}"))
            return
        job.future.set_result(
            InferenceResult(actions, int(chunk.timestep), compute_s, started - job.enqueued)
        )

    def _checked_actions(self, chunk: Any, n_actions: int) -> np.ndarray:
        """The first `n_actions` rows as float32[n, A]; never pass NaN or a short chunk on."""
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
        if not np.isfinite(out).all():
            raise PolicyFailed("predict_chunk returned non-finite actions (NaN or inf)")
        return out


def _describe(e: Exception) -> str:
    return str(e) if isinstance(e, PolicyFailed) else f"{type(e).__name__}: {e}"
