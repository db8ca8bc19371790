"""The NXP evaluation protocol (DESIGN §6) for one policy: the test set (2 random positions per
training cluster) and the validation set (every position of the held-out cluster), run
closed-loop in the sim, with test, validation and global accuracy and the inference latency.

Synchronous control with zero virtual latency by default: accuracy is about the policy, not the
board; the measured wall-clock latency of `predict_chunk` is reported beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgevla.contracts import ActionChunk, ChunkPolicy, Observation
from edgevla.dataset.splits import evaluation_sets
from edgevla.evaluate.episodes import run_episodes
from edgevla.runtime.config import RuntimeConfig

SYNC = RuntimeConfig(trigger="sync", aggregator="latest_only", latency="0")


@dataclass(frozen=True)
class ProtocolConfig:
    training_clusters: tuple[int, ...]
    holdout: int | None
    seed: int = 0
    sets: tuple[str, ...] = ("test", "validation")
    max_seconds: float = 25.0
    actions_per_chunk: int | None = None  # None: the policy's n_action_steps (LeRobot's)
    runtime: RuntimeConfig = field(default_factory=lambda: SYNC)


@dataclass
class ProtocolResult:
    successes: dict[str, list[bool]]
    latency_s: list[float]
    completion_s: dict[str, list[float | None]]

    def accuracy(self, name: str) -> float | None:
        values = self.successes.get(name) or []
        return float(np.mean(values)) if values else None

    @property
    def global_accuracy(self) -> float | None:
        values = [v for vs in self.successes.values() for v in vs]
        return float(np.mean(values)) if values else None

    def row(self) -> dict[str, Any]:
        lat = np.asarray(self.latency_s)
        return {
            "latency_p50_s": float(np.median(lat)) if lat.size else None,
            "test_accuracy": self.accuracy("test"),
            "test_episodes": len(self.successes.get("test", [])),
            "validation_accuracy": self.accuracy("validation"),
            "validation_episodes": len(self.successes.get("validation", [])),
            "global_accuracy": self.global_accuracy,
        }


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


def run_protocol(
    policy: ChunkPolicy,
    config: ProtocolConfig,
    on_episode: Callable[[str, int, bool], None] | None = None,
    *,
    workers: int = 1,
    source: str | None = None,
) -> ProtocolResult:
    """Every set's episodes, in order. `workers` > 1 splits each set into contiguous shards run
    in that many processes, each loading the policy from `source` (a `--policy` source):
    episodes are seeded by their index, so the results equal a single-process run's."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers > 1 and source is None:
        raise ValueError("workers > 1 needs `source`, the policy name each process loads")
    sets = evaluation_sets(config.training_clusters, config.holdout, config.seed)
    timed = TimedPolicy(policy)
    apc = config.actions_per_chunk or policy.spec.extra.get("n_action_steps")
    runtime = RuntimeConfig(**{**config.runtime.__dict__, "actions_per_chunk": apc})
    result = ProtocolResult({}, [], {})
    for name in config.sets:
        starts: Sequence = sets[name]
        if not starts:
            continue

        def report(i: int, success: bool, name=name) -> None:
            if on_episode is not None:
                on_episode(name, i, success)

        if workers == 1:
            episodes = run_episodes(
                timed,
                starts,
                runtime=runtime,
                max_seconds=config.max_seconds,
                on_episode=lambda i, r, report=report: report(i, r.success),
            )
            outcomes = [(bool(r.success), r.completion_time_s) for r in episodes]
        else:
            outcomes, latencies = _run_sharded(
                source, list(starts), runtime, config.max_seconds, workers
            )
            timed.latencies.extend(latencies)
            for i, (success, _) in enumerate(outcomes):
                report(i, success)
        result.successes[name] = [success for success, _ in outcomes]
        result.completion_s[name] = [t if success else None for success, t in outcomes]
    result.latency_s = list(timed.latencies)
    return result


def _run_sharded(
    source: str, starts: list, runtime: RuntimeConfig, max_seconds: float, workers: int
) -> tuple[list[tuple[bool, float | None]], list[float]]:
    """(success, completion s) per episode in order, and every shard's predict latencies."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    bounds = np.linspace(0, len(starts), min(workers, len(starts)) + 1).round().astype(int)
    shards = [(int(a), starts[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    outcomes: list[tuple[bool, float | None]] = []
    latencies: list[float] = []
    ctx = multiprocessing.get_context("spawn")  # MuJoCo's GL context and torch's threads
    with ProcessPoolExecutor(len(shards), mp_context=ctx) as pool:
        futures = [
            pool.submit(_run_shard, source, shard, runtime, max_seconds, first)
            for first, shard in shards
        ]
        for future in futures:  # in shard order: episode order is kept
            shard_outcomes, shard_latencies = future.result()
            outcomes.extend(shard_outcomes)
            latencies.extend(shard_latencies)
    return outcomes, latencies


def _run_shard(
    source: str, starts: list, runtime: RuntimeConfig, max_seconds: float, first: int
) -> tuple[list[tuple[bool, float | None]], list[float]]:
    """One worker process: load the policy, run its episodes (seeded from index `first`)."""
    try:
        import torch

        torch.set_num_threads(1)  # one core per worker: they run side by side
    except ImportError:
        pass
    from edgevla.sources import resolve_policy

    timed = TimedPolicy(resolve_policy(source))
    episodes = run_episodes(
        timed, starts, runtime=runtime, max_seconds=max_seconds, first_episode=first
    )
    return [(bool(r.success), r.completion_time_s) for r in episodes], list(timed.latencies)


def protocol_from_dataset(root: str, **overrides: Any) -> ProtocolConfig:
    """Training clusters and held-out cluster as recorded in the dataset's edgevla metadata."""
    from edgevla.dataset.reader import DatasetReader

    meta = DatasetReader.open(root).edgevla_meta or {}
    split = meta.get("split") or {}
    if "train_clusters" not in split:
        raise ValueError(
            f"{root} has no edgevla split metadata (meta/edgevla.json); give --clusters and --holdout"
        )
    return ProtocolConfig(tuple(split["train_clusters"]), split.get("holdout_cluster"), **overrides)
