"""Policy workers as processes (`edgevla serve --isolation process`): one interpreter each.

Why: in one process, request decoding, validation and gRPC on the RPC threads and the
Python half of a torch forward pass (module calls, hooks, small ops) all take turns on one
GIL, so two inference threads on two cores got 1.48x, not 2x. A worker process has its own
GIL and `cores / workers` torch threads, so N workers do not oversubscribe the cores.

Each worker process (edgevla.serve.child) loads the policy from its source itself — the
server never imports torch — and keeps the policy objects of the sessions assigned to it: a
session always runs in the same process (its episode state lives there), so its requests run
there one at a time. Observations and chunks cross the pipe as raw arrays
(edgevla.serve.frames). A process that dies, or hangs (no answer to an inference within
`infer_timeout_s`: a deadlock, a stuck driver), is reported, killed and restarted (its sessions
restart from a reset policy); one that cannot be restarted, or fails `max_restarts` times in a row,
breaks the pool: every request gets UNAVAILABLE and the server reports NOT_SERVING.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edgevla.contracts import ActionChunk, ChunkPolicy, Observation, PolicySpec
from edgevla.features import TASK_KEY
from edgevla.serve import schema
from edgevla.serve.frames import FrameError, read_frame, write_frame
from edgevla.serve.proto import policy_service_pb2 as pb
from edgevla.serve.worker import PolicyFailed, WorkerStopped

log = logging.getLogger("edgevla.serve")


@dataclass(frozen=True)
class PolicyLoader:
    """What a worker loads: `source`, a `--policy` source (a checkpoint, a bundle, `hold`, …;
    edgevla.sources), or `factory`, `module:function` naming an importable zero-argument
    callable that returns a ChunkPolicy (a policy of your own; the module must be on
    sys.path). Strings only: a worker process starts from a fresh interpreter and nothing
    is pickled."""

    source: str = ""
    factory: str = ""

    def __post_init__(self) -> None:
        if bool(self.source) == bool(self.factory):
            raise ValueError(f"PolicyLoader needs a source or a factory, not both: {self}")
        if self.factory and not all(self.factory.partition(":")[::2]):
            raise ValueError(f"factory must be module:function, got {self.factory!r}")

    def load(self, threads: int | None = None) -> ChunkPolicy:
        """The policy; `threads` caps a bundle's onnxruntime threads (edgevla.sources)."""
        if self.source:
            from edgevla.sources import resolve_policy

            return resolve_policy(self.source, threads=threads)
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)()

    def argv(self) -> list[str]:
        return ["--source", self.source] if self.source else ["--factory", self.factory]

    def __str__(self) -> str:
        return self.source or self.factory


def cores_per_worker(workers: int) -> int:
    """Threads each worker's policy may use so that `workers` of them fill, not fight over,
    the cores."""
    return max(1, (os.cpu_count() or 1) // workers)


class WorkerDied(Exception):
    """The worker process exited or its pipe broke."""


class WorkerProcess:
    """One `python -m edgevla.serve.child` and its pipes. Inference frames come from one
    thread (its pool slot); `forget` may come from any, so writes take a lock."""

    def __init__(self, label: str, loader: PolicyLoader, threads: int) -> None:
        self.label = label
        self.loader = loader
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self._write = threading.Lock()

    def spawn(self) -> None:
        paths = [p or os.getcwd() for p in sys.path]  # what this interpreter can import
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.threads)
        # Between requests a worker waits on its pipe; OpenMP's default active wait keeps its
        # threads spinning there, taking the cores from the other workers (on a loaded 2-core
        # machine the demo ACT went from 0.08 s to 1-3 s per chunk with 2 threads).
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        cmd = [sys.executable, "-m", "edgevla.serve.child", *self.loader.argv()]
        cmd += ["--threads", str(self.threads), "--label", self.label]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=env
        )

    def wait_ready(self, timeout: float) -> tuple[PolicySpec, str]:
        """(the policy's spec, its session isolation mode) once loaded; WorkerDied if not."""
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop(0)
            raise WorkerDied(f"{self.label} did not load {self.loader} within {timeout:.0f} s")
        header, arrays = self._receive()
        if header["op"] != "ready":
            self.stop(1)
            raise WorkerDied(f"{self.label} could not load the policy: {header.get('message')}")
        spec = schema.spec_from_proto(pb.PolicySpec.FromString(arrays["spec"].tobytes()))
        return spec, header["mode"]

    def infer(
        self, session_id: str, observation: Observation, timestep: int, timeout: float
    ) -> tuple[ActionChunk, float]:
        """The chunk and its compute time; WorkerDied if the process dies or gives no answer
        within `timeout` s (then it is killed: a hung worker must not hold its slot)."""
        arrays = {k: v for k, v in observation.items() if k != TASK_KEY}
        header = {"op": "infer", "session": session_id, "timestep": timestep}
        self._send({**header, "task": observation.get(TASK_KEY, "")}, arrays)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            raise WorkerDied(self.describe_death(f"gave no answer within {timeout:g} s (hung)"))
        reply, out = self._receive()
        if reply["op"] == "failed":
            raise PolicyFailed(reply["message"])
        return ActionChunk(out["actions"], reply["timestep"]), reply["compute_s"]

    def forget(self, session_id: str) -> None:
        with contextlib.suppress(WorkerDied):  # then the session's state died with it
            self._send({"op": "forget", "session": session_id})

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float) -> None:
        """Close its stdin (it exits when idle), then kill it after `timeout`; always reaped."""
        if self.proc is None:
            return
        with self._write:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()

    def _send(self, header: dict, arrays: dict | None = None) -> None:
        with self._write:
            try:
                write_frame(self.proc.stdin, header, arrays)
            except FrameError as e:
                raise WorkerDied(self.describe_death(str(e))) from None

    def _receive(self) -> tuple[dict, dict]:
        try:
            frame = read_frame(self.proc.stdout)
        except (FrameError, ValueError, OSError) as e:
            raise WorkerDied(self.describe_death(str(e))) from None
        if frame is None:
            raise WorkerDied(self.describe_death("closed its pipe"))
        return frame

    def describe_death(self, what: str) -> str:
        try:
            code = self.proc.wait(1.0)
        except subprocess.TimeoutExpired:
            return f"{self.label} (pid {self.proc.pid}): {what}"
        return f"{self.label} (pid {self.proc.pid}) exited with code {code}: {what}"


class ProcessRunner:
    """`workers` worker processes for one policy; slot i is process i (PolicyWorker's thread
    i drives it). `on_broken(message)` is told once if the pool cannot go on."""

    sticky = True  # a session's state lives in one process: it always runs there

    def __init__(
        self,
        name: str,
        loader: PolicyLoader,
        workers: int,
        *,
        threads: int | None = None,
        infer_timeout_s: float = 30.0,
        start_timeout_s: float = 300.0,
        max_restarts: int = 3,
        on_broken: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.loader = loader
        self.threads = threads or cores_per_worker(workers)
        self.infer_timeout_s = infer_timeout_s
        self.start_timeout_s = start_timeout_s
        self.max_restarts = max_restarts
        self.on_broken = on_broken
        self.spec: PolicySpec | None = None
        self.isolation = "process"
        self.restarts = 0
        self._procs = [self._new(i) for i in range(workers)]
        self._failures = [0] * workers  # deaths or hangs since the slot last served a chunk
        self._lock = threading.Lock()
        self._stopping = False
        self._broken: str | None = None

    def start(self) -> None:
        """Start every process, then wait for all to load (they load in parallel); if one
        fails, stop them all and raise its WorkerDied (the server turns it into ServeError)."""
        started = time.perf_counter()
        for proc in self._procs:
            proc.spawn()
        try:
            for proc in self._procs:
                self.spec, mode = proc.wait_ready(self.start_timeout_s)
        except WorkerDied:
            self.stop(1.0)
            raise
        self.isolation = f"process+{mode}"
        log.info(
            "policy %r: %d worker processes loaded %s in %.1f s (%d threads each; pids %s)",
            self.name,
            len(self._procs),
            self.loader,
            time.perf_counter() - started,
            self.threads,
            [p.proc.pid for p in self._procs],
        )

    def run(
        self, slot: int, session_id: str, observation: Observation, timestep: int
    ) -> tuple[ActionChunk, float]:
        self.check(slot)
        try:
            result = self._procs[slot].infer(
                session_id, observation, timestep, self.infer_timeout_s
            )
        except WorkerDied as e:
            self._replace(slot, str(e))
            raise PolicyFailed(f"policy {self.name!r}: {e}; restarted it") from None
        self._failures[slot] = 0
        return result

    def check(self, slot: int) -> None:
        """Restart slot's process if it died while idle; WorkerStopped if the pool is done."""
        if self._stopping or self._broken:
            raise WorkerStopped(self._broken or f"policy {self.name!r} is shutting down")
        proc = self._procs[slot]
        if not proc.alive:
            self._replace(slot, proc.describe_death("died while idle"))

    def forget(self, session_id: str, slot: int | None) -> None:
        if slot is not None:
            self._procs[slot].forget(session_id)

    def pids(self) -> list[int]:
        return [p.proc.pid for p in self._procs if p.proc is not None]

    def stop(self, timeout: float) -> None:
        with self._lock:
            self._stopping = True
            procs = list(self._procs)
        for proc in procs:
            proc.stop(timeout)

    def _new(self, slot: int) -> WorkerProcess:
        return WorkerProcess(f"{self.name}-worker-{slot}", self.loader, self.threads)

    def _replace(self, slot: int, why: str) -> None:
        """A fresh process in `slot`; the sessions it held restart from a reset policy."""
        self._procs[slot].stop(0)
        self._failures[slot] += 1
        if self._failures[slot] > self.max_restarts:
            self._break(f"{why}; it died {self._failures[slot]} times in a row")
        log.error("policy %r: %s; restarting it (its sessions restart from a reset policy)",
                  self.name, why)  # fmt: skip
        proc = self._new(slot)
        with self._lock:  # stop() sees every process spawned, even one still loading
            if self._stopping:
                raise WorkerStopped(f"policy {self.name!r} is shutting down")
            proc.spawn()
            self._procs[slot] = proc
        try:
            proc.wait_ready(self.start_timeout_s)
        except WorkerDied as e:
            if self._stopping:
                raise WorkerStopped(f"policy {self.name!r} is shutting down") from None
            self._break(f"{why}; the restart failed: {e}")
        self.restarts += 1

    def _break(self, why: str) -> None:
        with self._lock:
            first = self._broken is None
            self._broken = self._broken or f"policy {self.name!r} is out of service: {why}"
        if first:
            log.error("%s", self._broken)
            if self.on_broken is not None:
                self.on_broken(self._broken)
        raise WorkerStopped(self._broken)
