import numpy as np
import pytest

from edgevla.runtime.metrics import motion_while_held


def test_a_hold_counts_the_travel_in_ticks_of_the_pace_before_it():
    travel = np.array([2.0, 2.0, 2.0, 1.0, 0.5, 0.0, 0.0, 2.0])
    idle = np.array([False, False, False, True, True, True, True, False])
    assert motion_while_held(travel, idle) == pytest.approx(0.75)  # (1 + 0.5) / 2


def test_no_hold_no_motion_before_and_caps():
    assert motion_while_held(np.ones(4), np.zeros(4, bool)) == 0.0
    # a hold at the very start (the first wait, arm at rest) has no pace to compare with
    assert motion_while_held(np.array([1.0, 1.0, 2.0]), np.array([True, True, False])) == 0.0
    # never more ticks than the hold lasted, even if the arm sped up
    assert motion_while_held(np.array([1.0, 5.0]), np.array([False, True])) == 1.0


def test_lookback_uses_only_moving_ticks_before_each_hold():
    travel = np.array([9.0, 1.0, 1.0, 0.5, 1.0, 1.0])
    idle = np.array([False, False, False, True, False, False])
    assert motion_while_held(travel, idle, lookback=2) == pytest.approx(0.5)


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="equal-length"):
        motion_while_held(np.ones(3), np.zeros(4, bool))
