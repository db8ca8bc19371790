"""The scripted chunk policy: a stateless, open-loop planner behind the ChunkPolicy contract."""

from __future__ import annotations

import numpy as np
import pytest

from edgevla.contracts import FLOAT_FEATURES, ChunkPolicy
from edgevla.features import ENV_STATE_KEY, JOINT_VELOCITY_KEY, STATE_KEY
from edgevla.sim.config import WorkcellConfig
from edgevla.sim.scripted_policy import ScriptedChunkPolicy
from edgevla.sim.workcell import TeaBagPose, TeaBagWorkcell

BAG = TeaBagPose(0.22, 0.03, 0.4)


@pytest.fixture(scope="module")
def policy() -> ScriptedChunkPolicy:
    return ScriptedChunkPolicy(chunk_size=40)


@pytest.fixture
def env() -> TeaBagWorkcell:
    return TeaBagWorkcell(WorkcellConfig(render=False))


def test_spec_needs_no_camera_and_declares_the_privileged_state(policy):
    assert isinstance(policy, ChunkPolicy)
    spec = policy.spec
    assert spec.chunk_size == 40 and spec.fps == 30.0 and spec.cameras == ()
    assert spec.extra[FLOAT_FEATURES] == {ENV_STATE_KEY: 7}


def test_chunk_shape_timestep_and_determinism(policy, env):
    obs = env.reset(tea_bag=BAG)
    a = policy.predict_chunk(obs, timestep=17)
    b = policy.predict_chunk(obs, timestep=17)
    assert a.actions.shape == (40, 6) and a.actions.dtype == np.float32
    assert a.timestep == 17
    np.testing.assert_array_equal(a.actions, b.actions)
    # open-loop from the observed state: the first target is one small step away from it
    assert np.abs(a.actions[0] - obs[STATE_KEY]).max() < 1.0
    assert np.abs(a.actions[-1] - obs[STATE_KEY]).max() > 10.0  # and the plan goes somewhere


def test_a_stale_observation_yields_a_plan_starting_at_the_stale_state(policy, env):
    stale = env.reset(tea_bag=BAG)
    plan = policy.predict_chunk(stale, 0).actions
    obs = stale
    for action in plan[:30]:  # the arm moves on while "inference" runs
        obs, _ = env.step(action)
    moved = float(np.abs(obs[STATE_KEY] - stale[STATE_KEY]).max())
    assert moved > 10.0
    again = policy.predict_chunk(stale, 30).actions  # computed from the old view
    fresh = policy.predict_chunk(obs, 30).actions
    assert np.abs(again[0] - stale[STATE_KEY]).max() < 1.0
    assert np.abs(again[0] - obs[STATE_KEY]).max() > moved / 2  # not where the arm is now
    assert np.abs(fresh[0] - obs[STATE_KEY]).max() < 2.0


def test_short_plans_are_padded_with_their_last_target(env):
    long = ScriptedChunkPolicy(chunk_size=600)  # longer than the whole task
    chunk = long.predict_chunk(env.reset(tea_bag=BAG), 0).actions
    tail = chunk[-50:]
    np.testing.assert_array_equal(tail, np.repeat(chunk[-1:], 50, axis=0))


def test_missing_or_misshapen_inputs_are_named(policy, env):
    obs = env.reset(tea_bag=BAG)
    with pytest.raises(KeyError, match="observation.environment_state"):
        policy.predict_chunk({STATE_KEY: obs[STATE_KEY]}, 0)
    with pytest.raises(ValueError, match=r"float32\[7\].*got shapes \[6\] and \[3\]"):
        policy.predict_chunk({STATE_KEY: obs[STATE_KEY], ENV_STATE_KEY: np.zeros(3)}, 0)
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        ScriptedChunkPolicy(chunk_size=0)


def test_the_policy_registry_builds_it_with_options():
    from edgevla.sources import parse_source, resolve_policy

    policy = resolve_policy("arm=scripted:chunk_size=12")
    assert parse_source("arm=scripted:chunk_size=12")[0] == "arm"
    assert isinstance(policy, ScriptedChunkPolicy)
    assert policy.spec.chunk_size == 12


def test_continuous_mode_continues_its_plan_while_the_arm_is_on_track(env):
    policy = ScriptedChunkPolicy(chunk_size=40, continuous=True)
    assert policy.spec.extra[FLOAT_FEATURES] == {ENV_STATE_KEY: 7, JOINT_VELOCITY_KEY: 6}
    obs = env.reset(tea_bag=BAG)
    first = policy.predict_chunk(obs, 0).actions
    for action in first[:25]:  # executing its own chunk, mid-transit at speed
        obs, _ = env.step(action)
    again = policy.predict_chunk(obs, 25).actions
    # The same trajectory from where the arm is on it (the servo trails its target a little).
    lag = next(i for i in range(26) if np.array_equal(again[0], first[25 - i]))
    assert lag <= 8
    np.testing.assert_array_equal(again[: 40 - 25 + lag], first[25 - lag :])
    assert policy.replans == 1
    stateless = ScriptedChunkPolicy(chunk_size=40).predict_chunk(obs, 25).actions
    # A fresh plan restarts from the measured state at rest: it lags the continuation.
    assert np.abs(stateless[5] - again[5]).max() > 1.0


def test_continuous_mode_replans_when_the_arm_waited_or_the_bag_moved(env):
    policy = ScriptedChunkPolicy(chunk_size=40, continuous=True)
    obs = env.reset(tea_bag=BAG)
    chunk = policy.predict_chunk(obs, 0).actions
    for action in chunk[:20]:
        obs, _ = env.step(action)
    for _ in range(30):  # sync: the arm holds its last target while inference runs
        obs, _ = env.step(chunk[19])
    waited = policy.predict_chunk(obs, 50).actions
    assert policy.replans == 2
    assert np.abs(waited[0] - obs[STATE_KEY]).max() < 1.0  # a new plan from where it stands
    for action in waited[:10]:
        obs, _ = env.step(action)
    moved = dict(obs)
    env_state = np.array(obs[ENV_STATE_KEY], copy=True)
    env_state[0] += 0.02  # the bag is elsewhere than planned for
    moved[ENV_STATE_KEY] = env_state
    policy.predict_chunk(moved, 60)
    assert policy.replans == 3
    with pytest.raises(KeyError, match="observation.joint_velocity"):
        policy.predict_chunk({k: v for k, v in obs.items() if k != JOINT_VELOCITY_KEY}, 61)
    policy.reset()
    assert policy.replans == 0 and policy._followed is None
