import numpy as np
import pytest

from edgevla.dataset.splits import RecordingPlan
from edgevla.sim.config import WorkcellConfig
from edgevla.sim.expert import ScriptedExpert, recovery_arm_pose
from edgevla.sim.kinematics import ArmKinematics
from edgevla.sim.workcell import TeaBagWorkcell


def _run(cell, expert, start, arm_pose=None, max_ticks=600):
    obs = cell.reset(tea_bag=start.pose, arm_pose=arm_pose)
    expert.reset()
    actions, success = [], False
    for _ in range(max_ticks):
        action = expert.act(obs)
        actions.append(action)
        obs, info = cell.step(action)
        success |= info["success"]
        if expert.finished:
            break
    return success, np.array(actions)


@pytest.mark.slow
def test_expert_succeeds_from_every_cluster_including_recovery_episodes():
    """>= 95 % over 33 seeded episodes: 2 positions + 1 recovery start in each of 11 clusters."""
    plan = RecordingPlan(
        tuple(range(1, 12)), None, episodes_per_cluster=2, recovery_per_cluster=1, seed=5
    )
    with TeaBagWorkcell(WorkcellConfig(render=False)) as cell:
        kin = ArmKinematics(cell.model)
        expert = ScriptedExpert(kin, cell.fps)
        results = []
        for spec in plan.episodes():
            arm = (
                recovery_arm_pose(kin, np.random.default_rng(spec.seed)) if spec.recovery else None
            )
            ok, actions = _run(cell, expert, spec.start, arm)
            results.append(ok)
            # Natural, smooth motion: no joint target moves faster than 150 deg/s.
            assert np.abs(np.diff(actions[:, :5], axis=0)).max() < 5.0
    rate = np.mean(results)
    assert len(results) == 33 and rate >= 0.95, f"expert success {rate:.2%}"


def test_recovery_start_is_near_the_mug_and_empty_handed():
    from edgevla.sim.geometry import MUG_POS

    with TeaBagWorkcell(WorkcellConfig(render=False)) as cell:
        kin = ArmKinematics(cell.model)
        q = recovery_arm_pose(kin, np.random.default_rng(1))
        tool, _ = kin.forward(q[:5])
        assert np.hypot(tool[0] - MUG_POS[0], tool[1] - MUG_POS[1]) < 0.07
        assert tool[2] > 0.09
        obs = cell.reset(arm_pose=q)
        assert obs["observation.environment_state"][6] == 0.0  # not holding the bag
