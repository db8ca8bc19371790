"""Execution noise: smooth, of the asked size, off before the grasp, never on the gripper."""

import numpy as np
import pytest

from edgevla.sim.geometry import LOWER, UPPER
from edgevla.sim.perturbation import FADE_OUT_S, ExecutionNoise, NoisyExecution

STD = (2.0, 3.0, 4.0, 5.0, 10.0)


def _noise(seed: int = 0, std=STD) -> ExecutionNoise:
    return ExecutionNoise(std, fps=30, rng=np.random.default_rng(seed), time_constant_s=0.5)


def test_noise_has_the_asked_std_per_joint_and_is_smooth():
    noise = _noise()
    action = np.zeros(6, np.float32)
    out = np.stack([noise.apply(action, ticks_to_close=10_000) for _ in range(30_000)])
    np.testing.assert_allclose(out[1000:, :5].std(axis=0), STD, rtol=0.1)
    assert np.all(out[:, 5] == 0.0)  # the gripper is the expert's
    step = np.abs(np.diff(out[1000:, :5], axis=0)).mean(axis=0)
    assert np.all(step < 0.4 * np.asarray(STD))  # correlated over ~15 ticks; white: 1.13 std


def test_envelope_fades_in_after_the_start_and_out_before_the_grasp():
    noise = _noise()
    assert noise.envelope(10_000) == 0.0  # tick 0
    for _ in range(30):
        noise.apply(np.zeros(6), 10_000)
    assert noise.envelope(10_000) == 1.0
    fade = int(FADE_OUT_S * 30)
    assert noise.envelope(fade) == 1.0
    assert noise.envelope(fade // 2) == pytest.approx(0.5, abs=0.05)
    assert noise.envelope(0) == 0.0
    assert noise.envelope(None) == 0.0  # no grasp ahead: carry, release, retreat
    target = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 50.0], np.float32)
    np.testing.assert_array_equal(noise.apply(target, None), target)


def test_noisy_command_stays_within_joint_limits():
    noise = _noise(std=(90.0,) * 5)
    edge = np.degrees(UPPER).astype(np.float32)
    edge[5] = 50.0
    for _ in range(300):
        out = noise.apply(edge, 10_000)
        assert np.all(out[:5] <= np.degrees(UPPER[:5]) + 1e-4)
        assert np.all(out[:5] >= np.degrees(LOWER[:5]) - 1e-4)


@pytest.mark.parametrize("std", [(1.0, 2.0), (1.0, 1.0, 1.0, 1.0, -1.0), (1.0,) * 4 + (np.nan,)])
def test_bad_noise_settings_are_refused(std):
    with pytest.raises(ValueError, match="5 non-negative degrees"):
        _noise(std=std)


class _RecordingEnv:
    """A fake Environment that remembers every command it was asked to execute."""

    fps = 30.0

    def __init__(self) -> None:
        self.executed: list[np.ndarray] = []
        self.reset_options: dict = {}

    def reset(self, **options):
        self.reset_options = options
        return {"observation.state": np.zeros(6, np.float32)}

    def step(self, action):
        self.executed.append(np.array(action))
        return {"observation.state": np.array(action, np.float32)}, {"success": False}


def _noisy_run(seed: int, ticks_left=lambda: 10_000, steps: int = 60) -> np.ndarray:
    env = _RecordingEnv()
    noisy = NoisyExecution(env, STD, ticks_left)
    noisy.reset(noise_seed=seed, tea_bag="kept")
    assert env.reset_options == {"tea_bag": "kept"}  # the noise seed is the wrapper's own
    target = np.full(6, 10.0, np.float32)
    for _ in range(steps):
        noisy.step(target)
    return np.stack(env.executed)


def test_noisy_execution_pushes_the_executed_command_repeatably_per_episode_seed():
    a, b, c = _noisy_run(1), _noisy_run(1), _noisy_run(2)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.5
    assert np.abs(a[:, :5] - 10.0).max() > 1.0  # pushed off the target
    np.testing.assert_array_equal(a[:, 5], 10.0)  # never the gripper


def test_noisy_execution_is_off_with_no_grasp_ahead_and_checks_settings_at_once():
    np.testing.assert_array_equal(_noisy_run(1, ticks_left=lambda: None), 10.0)
    with pytest.raises(ValueError, match="5 non-negative degrees"):
        NoisyExecution(_RecordingEnv(), (1.0, 2.0), lambda: None)
