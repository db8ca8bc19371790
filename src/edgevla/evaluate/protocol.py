"""The NXP evaluation protocol (DESIGN §6) for one policy: the test set (2 random positions per
training cluster) and the validation set (every position of the held-out cluster), run
closed-loop in the sim, with test, validation and global accuracy and the inference latency.

Thirty episodes swing ±15 points, so comparisons also run on a larger seeded set
(`episodes_per_cluster` K: K random starts per training cluster, max(K, 10) in the held-out
one) and every accuracy comes with its Wilson 95 % interval.

Synchronous control with zero virtual latency by default: accuracy is about the policy, not the
board; the measured wall-clock latency of `predict_chunk` is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgevla.contracts import ChunkPolicy
from edgevla.dataset.splits import evaluation_sets
from edgevla.evaluate.parallel import EpisodeRunner, TimedPolicy, shards_of
from edgevla.evaluate.summary import wilson_interval
from edgevla.runtime.config import RuntimeConfig
from edgevla.sim.clusters import POSITIONS_PER_CLUSTER, StartPosition, cluster_by_id

__all__ = [
    "SYNC",
    "ProtocolConfig",
    "ProtocolResult",
    "TimedPolicy",
    "default_split",
    "evaluation_starts",
    "protocol_from_dataset",
    "run_protocol",
    "split_from_dataset",
]

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
    episodes_per_cluster: int | None = None  # None: the NXP sets; K: the larger seeded set

    def starts(self) -> dict[str, list[StartPosition]]:
        return evaluation_starts(
            self.training_clusters, self.holdout, self.seed, self.episodes_per_cluster
        )


def evaluation_starts(
    training_clusters: tuple[int, ...],
    holdout: int | None,
    seed: int = 0,
    episodes_per_cluster: int | None = None,
) -> dict[str, list[StartPosition]]:
    """{"test": ..., "validation": ...} start positions, seeded.

    None: the NXP sets. K: K random starts per training cluster (the first two of each are
    the NXP test starts) and, for the held-out cluster, its 10 numbered positions followed by
    K - 10 random starts when K > 10. The same seed gives the same set.
    """
    if episodes_per_cluster is None:
        return evaluation_sets(training_clusters, holdout, seed)
    if episodes_per_cluster < 1:
        raise ValueError(f"episodes per cluster must be >= 1, got {episodes_per_cluster}")
    sets = evaluation_sets(training_clusters, holdout, seed, per_cluster=episodes_per_cluster)
    extra = episodes_per_cluster - POSITIONS_PER_CLUSTER
    if holdout is not None and extra > 0:
        cluster = cluster_by_id(holdout)
        rng = np.random.default_rng([seed, holdout, 11])
        number = POSITIONS_PER_CLUSTER + 1
        sets["validation"] += [cluster.start(number + k, rng) for k in range(extra)]
    return sets


def default_split() -> tuple[tuple[int, ...], int | None]:
    """(training clusters, held-out cluster) of the split `edgevla record` makes by default:
    the protocol of a policy that names no dataset (the scripted expert)."""
    from edgevla.dataset.recording import RecordConfig

    record = RecordConfig()
    return tuple(c for c in record.clusters if c != record.holdout), record.holdout


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

    def interval(self, name: str | None = None) -> list[float] | None:
        """Wilson 95 % interval of a set's accuracy (None: of all episodes)."""
        if name is None:
            values = [v for vs in self.successes.values() for v in vs]
        else:
            values = self.successes.get(name) or []
        return list(wilson_interval(sum(values), len(values))) if values else None

    def row(self) -> dict[str, Any]:
        lat = np.asarray(self.latency_s)
        return {
            "latency_p50_s": float(np.median(lat)) if lat.size else None,
            "test_accuracy": self.accuracy("test"),
            "test_episodes": len(self.successes.get("test", [])),
            "test_ci95": self.interval("test"),
            "validation_accuracy": self.accuracy("validation"),
            "validation_episodes": len(self.successes.get("validation", [])),
            "validation_ci95": self.interval("validation"),
            "global_accuracy": self.global_accuracy,
            "global_ci95": self.interval(),
        }


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
    apc = config.actions_per_chunk or policy.spec.extra.get("n_action_steps")
    runtime = RuntimeConfig(**{**config.runtime.__dict__, "actions_per_chunk": apc})
    sets = {name: starts for name, starts in config.starts().items() if name in config.sets}
    result = ProtocolResult({}, [], {})
    with EpisodeRunner(source, workers, policy=policy, fps=policy.spec.fps) as runner:
        for name in config.sets:
            shards = shards_of(runtime, sets.get(name) or [], config.max_seconds)

            def report(i: int, finished, name=name, shards=shards) -> None:
                for offset, r in enumerate(finished.results):
                    if on_episode is not None:
                        on_episode(name, shards[i].first_episode + offset, bool(r.success))

            done = runner.run(shards, report)
            episodes = [r for shard in done for r in shard.results]
            if episodes:
                result.successes[name] = [bool(r.success) for r in episodes]
                result.completion_s[name] = [
                    r.completion_time_s if r.success else None for r in episodes
                ]
            result.latency_s += [t for shard in done for t in shard.latencies_s]
    return result


def split_from_dataset(root: str) -> tuple[tuple[int, ...], int | None]:
    """(training clusters, held-out cluster) as recorded in the dataset's edgevla metadata."""
    from edgevla.dataset.reader import DatasetReader

    meta = DatasetReader.open(root).edgevla_meta or {}
    recorded = meta.get("split") or {}
    if "train_clusters" not in recorded:
        raise ValueError(
            f"{root} has no edgevla split metadata (meta/edgevla.json); give --clusters and --holdout"
        )
    return tuple(recorded["train_clusters"]), recorded.get("holdout_cluster")


def protocol_from_dataset(root: str, **overrides: Any) -> ProtocolConfig:
    """Training clusters and held-out cluster as recorded in the dataset's edgevla metadata."""
    return ProtocolConfig(*split_from_dataset(root), **overrides)
