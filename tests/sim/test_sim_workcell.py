import numpy as np
import pytest

from edgevla.sim.config import WorkcellConfig
from edgevla.sim.geometry import MUG_POS, REST_POSE, action_to_radians, radians_to_action
from edgevla.sim.workcell import TeaBagPose, TeaBagWorkcell


@pytest.fixture()
def cell():
    with TeaBagWorkcell(WorkcellConfig(render=False)) as c:
        yield c


def test_units_round_trip_and_gripper_is_percent():
    q = REST_POSE.copy()
    q[5] = 0.02
    a = radians_to_action(q)
    assert a.dtype == np.float32 and 0 <= a[5] <= 100
    assert np.allclose(action_to_radians(a), q, atol=1e-5)


def test_holding_the_state_keeps_the_arm_still(cell):
    obs = cell.reset(tea_bag=TeaBagPose(0.2, 0.0, 0.0))
    start = obs["observation.state"].copy()
    for _ in range(30):
        obs, info = cell.step(start)
    assert np.abs(obs["observation.state"] - start).max() < 1.0
    assert info["success"] is False


def test_a_tea_bag_dropped_in_the_mug_is_success_after_it_settles(cell):
    cell.reset(tea_bag=TeaBagPose(MUG_POS[0], MUG_POS[1], 0.4))
    bag = cell.model.joint("tea_bag").qposadr[0]
    cell.data.qpos[bag + 2] = 0.05  # inside the mug, above its bottom
    hold = cell.state()
    successes = [cell.step(hold)[1]["success"] for _ in range(40)]
    assert successes[0] is False, "success must wait for the bag to rest"
    assert successes[-1] is True


def test_a_tea_bag_on_the_table_is_not_success(cell):
    cell.reset(tea_bag=TeaBagPose(0.2, 0.1, 0.0))
    _, info = cell.step(cell.state())
    assert not info["success"] and not info["tea_bag_in_mug"]


def test_bad_actions_are_rejected(cell):
    cell.reset()
    with pytest.raises(ValueError, match=r"float\[6\]"):
        cell.step(np.zeros(5))
    with pytest.raises(ValueError, match="non-finite"):
        cell.step(np.full(6, np.nan))
