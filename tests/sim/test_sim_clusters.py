import itertools
import math

import numpy as np
import pytest

from edgevla.sim.clusters import (
    CLUSTER_SIZE,
    cluster_by_id,
    workspace_clusters,
)
from edgevla.sim.geometry import MUG_POS


def test_default_workspace_has_eleven_non_overlapping_10cm_clusters():
    clusters = workspace_clusters()
    assert [c.id for c in clusters] == list(range(1, 12))
    for a, b in itertools.combinations(clusters, 2):
        gap = math.dist(a.center, b.center)
        assert gap >= CLUSTER_SIZE - 1e-3, f"clusters {a.id} and {b.id} overlap ({gap:.3f} m)"
    for c in clusters:
        assert math.dist(c.center, MUG_POS) > 0.1, f"cluster {c.id} covers the mug"


def test_positions_are_numbered_inside_their_cluster_reproducible_and_both_grasps():
    for c in workspace_clusters():
        positions = c.positions(seed=3)
        assert [p.number for p in positions] == list(range(1, 11))
        assert all(c.contains(p.x, p.y) for p in positions)
        assert {p.grasp for p in positions} == {"horizontal", "vertical"}
        assert positions == c.positions(seed=3)
        assert positions != c.positions(seed=4)
        for p in positions:  # horizontal: long axis across the reach direction
            rel = (p.yaw - c.angle) % math.pi
            across = min(abs(rel - math.pi / 2), abs(rel + math.pi / 2))
            if p.grasp == "horizontal":
                assert across < math.radians(16)
            else:
                assert across > math.radians(74)


def test_random_starts_stay_in_the_cluster():
    c = cluster_by_id(4)
    rng = np.random.default_rng(0)
    assert all(c.contains(s.x, s.y) for s in (c.start(k, rng) for k in range(200)))


def test_bad_cluster_ids_and_counts_are_clear_errors():
    with pytest.raises(ValueError, match="unknown cluster 12"):
        cluster_by_id(12)
    with pytest.raises(ValueError, match="cluster count"):
        workspace_clusters(0)
