"""The committed demo ACT (demo/act-teabag): loads from the repository as shipped (float16
weights, LeRobot layout), predicts, and succeeds closed-loop where its evaluation says it does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgevla.sources import resolve_policy

DEMO = Path(__file__).resolve().parents[2] / "demo" / "act-teabag"


def test_demo_policy_loads_and_predicts_a_chunk():
    policy = resolve_policy(str(DEMO))
    spec = policy.spec
    assert spec.cameras == ("top", "gripper", "left") and spec.image_shape == (64, 64)
    rng = np.random.default_rng(0)
    obs = {"observation.state": np.array([0.0, -52.0, 80.0, 29.0, 0.0, 0.0], np.float32)}
    for cam in spec.cameras:
        obs[f"observation.images.{cam}"] = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    chunk = policy.predict_chunk(obs, timestep=0)
    assert chunk.actions.shape == (30, 6) and np.isfinite(chunk.actions).all()


@pytest.mark.slow
def test_demo_policy_succeeds_on_its_first_successful_test_episodes():
    """Closed-loop, sync, as `edgevla eval`: the first two test episodes eval.json counts as
    successes succeed here too (the sim and the policy are deterministic)."""
    from edgevla.dataset.splits import evaluation_sets
    from edgevla.evaluate.episodes import run_episodes
    from edgevla.evaluate.protocol import SYNC
    from edgevla.runtime.config import RuntimeConfig

    report = json.loads((DEMO / "eval.json").read_text())
    training = tuple(report["protocol"]["training_clusters"])
    sets = evaluation_sets(training, report["protocol"]["holdout"], report["protocol"]["seed"])
    wins = [i for i, ok in enumerate(report["successes"]["test"]) if ok][:2]
    policy = resolve_policy(str(DEMO))
    runtime = RuntimeConfig(**{**SYNC.__dict__, "actions_per_chunk": 15})
    results = run_episodes(
        policy, [sets["test"][i] for i in wins], runtime=runtime, max_seconds=25.0
    )
    assert [r.success for r in results] == [True, True]
