"""Episodes in shards, in this process or in worker processes (`--workers N`): the one place
`eval`, `select` and `bench async` run episodes side by side.

A shard is a contiguous run of starts with the index of its first episode; episodes are seeded
by their index (virtual clock, policy noise), so any split into shards, run anywhere, gives the
results of one process running them all. Each worker process loads the policy from its source
string once and builds its own environment, then runs the shards it is handed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from edgevla.contracts import ActionChunk, ChunkPolicy, Environment, Observation
from edgevla.evaluate.episodes import run_episodes
from edgevla.evaluate.phases import PhaseRecorder, PhaseSplit
from edgevla.robots import make_env
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.records import EpisodeResult
from edgevla.runtime.subscribers import QueueSizeRecorder


class TimedPolicy:
    """Wraps a ChunkPolicy and records the wall time of every predict_chunk (seconds)."""

    def __init__(self, policy: ChunkPolicy) -> None:
        self.policy = policy
        self.spec = policy.spec
        self.latencies: list[float] = []

    def reset(self) -> None:
        self.policy.reset()

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        start = time.perf_counter()
        chunk = self.policy.predict_chunk(observation, timestep)
        self.latencies.append(time.perf_counter() - start)
        return chunk


@dataclass(frozen=True)
class Shard:
    """Episodes `first_episode ...` from `starts`, run under `runtime`."""

    runtime: RuntimeConfig
    starts: tuple[Any, ...]
    first_episode: int
    max_seconds: float
    record_queue: bool = False  # record the queue sawtooth of episode 0, if in this shard
    record_phases: bool = False  # split every episode into task phases (the sim's state)


@dataclass
class ShardResult:
    results: list[EpisodeResult]
    latencies_s: list[float]  # wall time of every predict_chunk of the shard
    queue: QueueSizeRecorder | None = None
    phases: list[PhaseSplit] = field(default_factory=list)  # one per episode, if recorded


def shards_of(
    runtime: RuntimeConfig,
    starts: Sequence[Any],
    max_seconds: float,
    *,
    first: int = 0,
    record_queue: bool = False,
    record_phases: bool = False,
) -> list[Shard]:
    """One shard per episode (workers stay evenly busy; progress is per episode), indices
    from `first`."""
    return [
        Shard(runtime, (start,), first + i, max_seconds, record_queue, record_phases)
        for i, start in enumerate(starts)
    ]


def run_shard(policy: TimedPolicy, env: Environment, shard: Shard) -> ShardResult:
    """One shard in this process, on `env`."""
    queue = QueueSizeRecorder() if shard.record_queue and shard.first_episode == 0 else None
    phases = PhaseRecorder() if shard.record_phases else None

    def subscribers(index: int, _start: Any) -> list[Any]:
        watching = [queue] if queue is not None and index == 0 else []
        return watching + ([phases] if phases is not None else [])

    before = len(policy.latencies)
    results = run_episodes(
        policy,
        shard.starts,
        runtime=shard.runtime,
        env=env,
        max_seconds=shard.max_seconds,
        subscribers=subscribers,
        first_episode=shard.first_episode,
    )
    split = phases.episodes if phases is not None else []
    return ShardResult(results, policy.latencies[before:], queue, split)


@dataclass
class EpisodeRunner:
    """Runs shards of one policy: in this process (workers=1, `policy` given or loaded from
    `source`) or in `workers` spawned processes, each loading `source` itself.

    env, env_options: the environment, by name, and its options (`make_env`); fps: the control
    rate the policy is resolved for.
    """

    source: str | None
    workers: int = 1
    policy: ChunkPolicy | None = None
    env: str = "sim"
    env_options: dict[str, Any] = field(default_factory=dict)
    fps: float = 30.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.workers > 1 and self.source is None:
            raise ValueError("workers > 1 needs `source`, the policy source each process loads")
        if self.policy is None and self.source is None:
            raise ValueError("give the policy or its source")
        self._pool = None
        self._local: tuple[TimedPolicy, Environment] | None = None

    def __enter__(self) -> EpisodeRunner:
        if self.workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),  # MuJoCo's GL, torch's threads
                initializer=_init_worker,
                initargs=(self.source, self.fps, self.env, self.env_options),
            )
        else:
            policy = self.policy
            if policy is None:
                from edgevla.sources import resolve_policy

                policy = resolve_policy(self.source, fps=self.fps)
            timed = TimedPolicy(policy)
            self._local = (timed, make_env(self.env, policy.spec, **self.env_options))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        if self._local is not None:
            close = getattr(self._local[1], "close", None)
            if close is not None:
                close()

    def run(
        self, shards: Sequence[Shard], on_shard: Callable[[int, ShardResult], None] | None = None
    ) -> list[ShardResult]:
        """Every shard's result, in the order given; `on_shard(i, result)` in that order too,
        as soon as shards 0..i have finished (progress reads the same with any worker count)."""
        results: list[ShardResult | None] = [None] * len(shards)
        told = 0
        for i, result in self._finished(shards):
            results[i] = result
            while on_shard is not None and told < len(results) and results[told] is not None:
                on_shard(told, results[told])  # type: ignore[arg-type]
                told += 1
        return results  # type: ignore[return-value]

    def _finished(self, shards: Sequence[Shard]) -> Iterator[tuple[int, ShardResult]]:
        if self._pool is None:
            if self._local is None:
                raise RuntimeError("EpisodeRunner.run outside `with EpisodeRunner(...)`")
            for i, shard in enumerate(shards):
                yield i, run_shard(*self._local, shard)
            return
        from concurrent.futures import as_completed

        futures: dict[Future, int] = {
            self._pool.submit(_run_in_worker, shard): i for i, shard in enumerate(shards)
        }
        for future in as_completed(futures):
            yield futures[future], future.result()


_WORKER: tuple[TimedPolicy, Environment] | None = None


def _init_worker(source: str, fps: float, env: str, env_options: dict[str, Any]) -> None:
    """Each worker process: one core, the policy loaded once, its own environment."""
    global _WORKER
    try:
        import torch

        torch.set_num_threads(1)  # workers run side by side, one core each
    except ImportError:  # a torch-free policy (scripted, bundle): nothing to pin
        pass
    from edgevla.sources import resolve_policy

    policy = TimedPolicy(resolve_policy(source, fps=fps))
    _WORKER = (policy, make_env(env, policy.spec, **env_options))


def _run_in_worker(shard: Shard) -> ShardResult:
    if _WORKER is None:
        raise RuntimeError("worker process not initialised (no policy loaded)")
    return run_shard(*_WORKER, shard)
