"""The recording plan and the evaluation sets of the NXP protocol (DESIGN §6).

Training data: N episodes per training cluster at its numbered positions plus R recovery
episodes; the held-out cluster is recorded too (same counts) but only ever used for validation
loss. Its episodes come last, so LeRobot's contiguous `splits` ranges describe the split exactly.
Evaluation: test set = 2 random positions in each training cluster; validation set = every
numbered position of the held-out cluster. Everything is seeded and reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgevla.sim.clusters import (
    DEFAULT_NUM_CLUSTERS,
    POSITIONS_PER_CLUSTER,
    StartPosition,
    workspace_clusters,
)


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to record: where the tea bag starts and whether it is a recovery episode."""

    index: int
    start: StartPosition
    recovery: bool
    split: str  # "train" | "validation"
    seed: int  # for the episode's own randomness (recovery arm pose)

    def meta(self) -> dict:
        return {**self.start.to_dict(), "recovery": self.recovery, "split": self.split}


@dataclass(frozen=True)
class RecordingPlan:
    clusters: tuple[int, ...]
    holdout: int | None
    episodes_per_cluster: int = 10
    recovery_per_cluster: int = 2
    num_clusters: int = DEFAULT_NUM_CLUSTERS
    seed: int = 0

    def __post_init__(self) -> None:
        known = [c.id for c in workspace_clusters(self.num_clusters)]
        unknown = [c for c in self.clusters if c not in known]
        if unknown:
            raise ValueError(f"unknown clusters {unknown}; the workspace has clusters {known}")
        if len(set(self.clusters)) != len(self.clusters):
            raise ValueError(f"clusters listed twice: {list(self.clusters)}")
        if self.holdout is not None and self.holdout not in self.clusters:
            raise ValueError(
                f"held-out cluster {self.holdout} is not in the plan's clusters {list(self.clusters)}"
            )
        if self.holdout is not None and len(self.clusters) < 2:
            raise ValueError("holding out a cluster needs at least two clusters in the plan")
        if self.episodes_per_cluster < 1 or self.recovery_per_cluster < 0:
            raise ValueError(
                "episodes per cluster must be >= 1 and recovery per cluster >= 0, got "
                f"{self.episodes_per_cluster} and {self.recovery_per_cluster}"
            )

    @property
    def training_clusters(self) -> tuple[int, ...]:
        return tuple(c for c in self.clusters if c != self.holdout)

    def episodes(self) -> list[EpisodeSpec]:
        """Training clusters first, the held-out cluster last."""
        by_id = {c.id: c for c in workspace_clusters(self.num_clusters)}
        order = [*self.training_clusters, *([self.holdout] if self.holdout is not None else [])]
        specs: list[EpisodeSpec] = []
        for cid in order:
            cluster = by_id[cid]
            split = "validation" if cid == self.holdout else "train"
            positions = cluster.positions(self.seed)
            rng = np.random.default_rng([self.seed, cid, 1])
            for k in range(self.episodes_per_cluster):
                start = positions[k % POSITIONS_PER_CLUSTER]
                if k >= POSITIONS_PER_CLUSTER:  # more episodes than numbered positions: jitter
                    start = cluster.start(start.number, rng, grasp=start.grasp)
                specs.append(
                    EpisodeSpec(len(specs), start, False, split, self.seed * 100003 + len(specs))
                )
            for k in range(self.recovery_per_cluster):
                start = cluster.start(k + 1, rng)
                specs.append(
                    EpisodeSpec(len(specs), start, True, split, self.seed * 100003 + len(specs))
                )
        return specs

    def to_dict(self) -> dict:
        return {
            "clusters": list(self.clusters),
            "training_clusters": list(self.training_clusters),
            "holdout_cluster": self.holdout,
            "episodes_per_cluster": self.episodes_per_cluster,
            "recovery_per_cluster": self.recovery_per_cluster,
            "num_clusters": self.num_clusters,
            "seed": self.seed,
        }


def evaluation_sets(
    training_clusters: tuple[int, ...] | list[int],
    holdout: int | None,
    seed: int = 0,
    num_clusters: int = DEFAULT_NUM_CLUSTERS,
    per_cluster: int = 2,
) -> dict[str, list[StartPosition]]:
    """{"test": 2 random starts per training cluster, "validation": the held-out cluster's
    numbered positions}. Test starts are fresh random draws, not the recorded positions."""
    by_id = {c.id: c for c in workspace_clusters(num_clusters)}
    test: list[StartPosition] = []
    for cid in training_clusters:
        if cid not in by_id:
            raise ValueError(f"unknown cluster {cid}; the workspace has clusters {sorted(by_id)}")
        rng = np.random.default_rng([seed, cid, 7])
        test += [by_id[cid].start(1000 + k, rng) for k in range(per_cluster)]
    validation = by_id[holdout].positions(seed) if holdout is not None else []
    return {"test": test, "validation": list(validation)}
