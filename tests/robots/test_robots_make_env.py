"""Environments by name: `make_env("sim", spec)` builds the workcell the policy needs and starts
it from protocol start positions; unknown or not-yet-built kinds fail naming what exists."""

from __future__ import annotations

import numpy as np
import pytest

from edgevla.contracts import Environment, PolicySpec
from edgevla.features import ENV_STATE_KEY
from edgevla.robots import EnvSourceError, env_factory, make_env
from edgevla.sim.clusters import cluster_by_id
from edgevla.sim.config import WorkcellConfig

BLIND = PolicySpec(chunk_size=10, cameras=())


def test_sim_renders_only_what_the_policy_needs():
    blind = make_env("sim", BLIND)
    assert isinstance(blind, Environment) and blind.config.render is False
    seeing = make_env("sim", PolicySpec(chunk_size=10, cameras=("top",), image_shape=(96, 128)))
    scene = seeing.config.scene
    assert seeing.config.render and scene.cameras == ("top",)
    assert (scene.height, scene.width) == (96, 128)
    with pytest.raises(ValueError, match="policy runs at 15 fps, the workcell at 30"):
        make_env("sim", PolicySpec(chunk_size=10, fps=15.0, cameras=()))
    assert make_env("sim", PolicySpec(chunk_size=10, fps=15.0, cameras=()), fps=15.0).fps == 15.0
    slow = WorkcellConfig(fps=15.0)
    assert (
        env_factory("sim", config=slow)(PolicySpec(chunk_size=10, fps=15.0, cameras=())).fps == 15
    )


def test_the_sim_starts_where_the_protocol_says():
    env = make_env("sim", BLIND)
    start_a, start_b = cluster_by_id(1).positions()[:2]
    bag_a = env.reset(start=start_a, task="a task")[ENV_STATE_KEY][:2]
    bag_b = env.reset(start=start_b)[ENV_STATE_KEY][:2]
    np.testing.assert_allclose(bag_a, [start_a.x, start_a.y], atol=2e-3)
    np.testing.assert_allclose(bag_b, [start_b.x, start_b.y], atol=2e-3)
    with pytest.raises(ValueError, match="a start or a tea_bag pose, not both"):
        env.reset(start=start_a, tea_bag=start_b.pose)
    env.close()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("lerobot:so101_follower", "'lerobot:so101_follower': the LeRobot robot adapter is not"),
        ("mars", "unknown environment 'mars'; expected environment: sim"),
        ("sim:fast", "environment 'sim' takes no ':fast'"),
    ],
)
def test_unknown_and_later_environments_say_so(name, message):
    with pytest.raises(EnvSourceError, match=message):
        make_env(name, BLIND)


def test_env_factory_refuses_an_unknown_kind_before_any_policy_loads():
    with pytest.raises(EnvSourceError, match="unknown environment 'mars'"):
        env_factory("mars")
    assert issubclass(EnvSourceError, ValueError)  # the CLI reports ValueErrors in one line
