"""Execution noise: smooth, of the asked size, off before the grasp, never on the gripper."""

import numpy as np
import pytest

from edgevla.sim.geometry import LOWER, UPPER
from edgevla.sim.perturbation import FADE_OUT_S, ExecutionNoise

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
