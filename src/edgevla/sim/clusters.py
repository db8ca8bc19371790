"""The reachable table area split into 10x10 cm clusters, each with numbered start positions.

Clusters sit on two rings around the arm's base (inner r=0.155 m, outer r=0.265 m), squares
turned to face the base so neighbours never overlap. Numbering runs along the outer ring from
the arm's right to its left, then the inner ring, as a person facing the arm would count.
A start is a position plus a yaw of the tea bag; even-numbered positions lie "horizontal"
(long axis across the arm's reach), odd ones "vertical" (along it), so the recordings hold
both grasps of the NXP report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgevla.sim.workcell import TeaBagPose

CLUSTER_SIZE = 0.10
POSITION_MARGIN = 0.035  # starts stay within +-3.5 cm of the cluster centre (bag inside the cell)
YAW_JITTER_DEG = 15.0
# (radius m, angle deg) of every cluster centre, in numbering order.
_RING_LAYOUT: tuple[tuple[float, float], ...] = (
    (0.265, -40.0),
    (0.265, -18.0),
    (0.265, 4.0),
    (0.265, 26.0),
    (0.265, 48.0),
    (0.265, 70.0),
    (0.265, 92.0),
    (0.155, -20.0),
    (0.155, 18.0),
    (0.155, 56.0),
    (0.155, 94.0),
)
MAX_CLUSTERS = len(_RING_LAYOUT)
DEFAULT_NUM_CLUSTERS = 11
POSITIONS_PER_CLUSTER = 10


@dataclass(frozen=True)
class StartPosition:
    """One numbered tea-bag start: cluster id, position number (1-based), pose, grasp kind."""

    cluster: int
    number: int
    x: float
    y: float
    yaw: float
    grasp: str  # "horizontal" | "vertical"

    @property
    def pose(self) -> TeaBagPose:
        return TeaBagPose(self.x, self.y, self.yaw)

    def to_dict(self) -> dict:
        return {
            "cluster": self.cluster,
            "position": self.number,
            "x": round(self.x, 6),
            "y": round(self.y, 6),
            "yaw": round(self.yaw, 6),
            "grasp": self.grasp,
        }


@dataclass(frozen=True)
class Cluster:
    id: int  # 1-based
    radius: float
    angle: float  # radians, from +x towards +y

    @property
    def center(self) -> tuple[float, float]:
        return self.radius * math.cos(self.angle), self.radius * math.sin(self.angle)

    def local_to_world(self, radial: float, tangential: float) -> tuple[float, float]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        cx, cy = self.center
        return cx + radial * c - tangential * s, cy + radial * s + tangential * c

    def contains(self, x: float, y: float) -> bool:
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx, dy = x - self.center[0], y - self.center[1]
        radial, tangential = dx * c + dy * s, -dx * s + dy * c
        half = CLUSTER_SIZE / 2
        return abs(radial) <= half and abs(tangential) <= half

    def start(
        self, number: int, rng: np.random.Generator, grasp: str | None = None
    ) -> StartPosition:
        """A start inside this cluster; `grasp` by parity of `number` unless given."""
        radial, tangential = rng.uniform(-POSITION_MARGIN, POSITION_MARGIN, size=2)
        x, y = self.local_to_world(float(radial), float(tangential))
        grasp = grasp or _grasp_of(number)
        return StartPosition(self.id, number, x, y, self._yaw(grasp, rng), grasp)

    def _yaw(self, grasp: str, rng: np.random.Generator) -> float:
        """Long axis across the reach ("horizontal") or along it, +-15 deg, in (-pi/2, pi/2]:
        a bag's yaw is symmetric under pi."""
        base = self.angle + (math.pi / 2 if grasp == "horizontal" else 0.0)
        yaw = base + math.radians(float(rng.uniform(-YAW_JITTER_DEG, YAW_JITTER_DEG)))
        return (yaw + math.pi / 2) % math.pi - math.pi / 2

    def positions(self, seed: int = 0) -> list[StartPosition]:
        """The cluster's numbered start positions 1..10: a 2x5 jittered grid, reproducible."""
        rng = np.random.default_rng([seed, self.id])
        out = []
        for i in range(POSITIONS_PER_CLUSTER):
            row, col = divmod(i, 5)
            radial = (-0.5 + row) * POSITION_MARGIN + rng.uniform(-0.006, 0.006)
            tangential = (-1.0 + col * 0.5) * POSITION_MARGIN + rng.uniform(-0.004, 0.004)
            x, y = self.local_to_world(radial, tangential)
            grasp = _grasp_of(i + 1)
            yaw = self._yaw(grasp, rng)
            out.append(StartPosition(self.id, i + 1, x, y, yaw, grasp))
        return out


def _grasp_of(number: int) -> str:
    return "horizontal" if number % 2 == 0 else "vertical"


def workspace_clusters(count: int = DEFAULT_NUM_CLUSTERS) -> list[Cluster]:
    """The first `count` clusters of the layout (1..count)."""
    if not 1 <= count <= MAX_CLUSTERS:
        raise ValueError(f"cluster count must be 1..{MAX_CLUSTERS}, got {count}")
    return [Cluster(i + 1, r, math.radians(a)) for i, (r, a) in enumerate(_RING_LAYOUT[:count])]


def cluster_by_id(cluster_id: int, count: int = DEFAULT_NUM_CLUSTERS) -> Cluster:
    clusters = workspace_clusters(count)
    ids = [c.id for c in clusters]
    if cluster_id not in ids:
        raise ValueError(f"unknown cluster {cluster_id}; the workspace has clusters {ids}")
    return clusters[cluster_id - 1]
