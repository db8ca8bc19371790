"""The scripted expert as a ChunkPolicy: exercises the runtime before any learned model exists.

Each call plans the whole task from the observation it was handed — arm joints from
`observation.state`, tea bag and mug from the privileged `observation.environment_state` —
and returns the plan's first T joint targets, open-loop. By default it keeps no state between
calls, so a chunk computed from an observation that went stale during inference starts where
the arm *was*, not where it is: stale plans hurt it the way they hurt a learned policy, which is
what a sync-vs-async benchmark must measure. It needs no images, so the sim can skip rendering.

`continuous=True` makes it re-plan the way a policy trained on smooth demonstrations does:
an observation of the arm moving along its previous plan (same bag pose and grasp state, the
arm near one of the plan's targets and moving, from the privileged joint velocities) gets that
plan's continuation from there, where the stateless planner would start a new minimum-jerk
transit from rest. Anything off track — the arm stopped and waited (sync), the bag moved, a
grasp closed or missed — gets a fresh plan from the observation, exactly as without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgevla.contracts import FLOAT_FEATURES, ActionChunk, Observation, PolicySpec
from edgevla.features import (
    ENV_STATE_DIM,
    ENV_STATE_KEY,
    JOINT_NAMES,
    JOINT_VELOCITY_KEY,
    STATE_KEY,
)
from edgevla.sim.config import WorkcellConfig
from edgevla.sim.expert import Plan, TaskPlanner, TaskState
from edgevla.sim.geometry import action_to_radians, radians_to_action
from edgevla.sim.kinematics import ArmKinematics
from edgevla.sim.workcell import TeaBagWorkcell

# On-track test of `continuous`: the arm joints within TRACK_TOLERANCE rad of a target of the
# plan at or after the last one matched, the tea bag where it was planned for (metres,
# radians), and, where the plan moves (faster than MOVING rad/s), the arm moving at least
# MOVING_FRACTION of the plan's speed (not standing still waiting for a chunk).
TRACK_TOLERANCE = 0.05
BAG_TOLERANCE = (0.005, 0.1)
MOVING = 0.05
MOVING_FRACTION = 0.3


@dataclass(frozen=True)
class _FollowedPlan:
    plan: Plan
    state: TaskState  # what it was planned from
    matched: int = 0  # the plan index the arm was last found at


class ScriptedChunkPolicy:
    """Plans `chunk_size` actions (degrees, gripper 0..100) ahead from one observation.

    Builds its own (never rendered) copy of the workcell model for kinematics, so it shares
    nothing with the environment it drives and can run in a server process.
    """

    def __init__(
        self,
        chunk_size: int = 100,
        fps: float = 30.0,
        name: str = "scripted",
        continuous: bool = False,
    ) -> None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if not float(fps) > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        model = TeaBagWorkcell(WorkcellConfig(fps=float(fps), render=False)).model
        features = {ENV_STATE_KEY: ENV_STATE_DIM}
        if continuous:
            features[JOINT_VELOCITY_KEY] = len(JOINT_NAMES)
        self._planner = TaskPlanner(ArmKinematics(model), float(fps))
        self.spec = PolicySpec(
            chunk_size=int(chunk_size),
            fps=float(fps),
            cameras=(),
            name=name,
            extra={FLOAT_FEATURES: features},
        )
        self.continuous = bool(continuous)
        self._followed: _FollowedPlan | None = None
        self.calls = 0
        self.replans = 0  # calls that planned afresh (all of them unless continuous)

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        """actions float32[chunk_size, 6]: the plan from this observation, padded with its
        last target (the plan ends at rest)."""
        state, env_state = _inputs(observation)
        q = action_to_radians(state)
        task = TaskState.from_env_state(q, env_state)
        joints = None
        if self.continuous:
            joints = self._continuation(task, _velocity(observation))
        if joints is None:
            plan = self._planner.plan(task)
            self.replans += 1
            if self.continuous:
                self._followed = _FollowedPlan(plan, task)
            joints = plan.joints
        joints = joints[: self.spec.chunk_size]
        if len(joints) == 0:
            joints = q[None, :]
        pad = self.spec.chunk_size - len(joints)
        if pad:
            joints = np.concatenate([joints, np.repeat(joints[-1:], pad, axis=0)])
        self.calls += 1
        return ActionChunk(radians_to_action(joints), int(timestep))

    def _continuation(self, task: TaskState, velocity: np.ndarray) -> np.ndarray | None:
        """The followed plan from where the arm is on it, or None when it is off track."""
        followed = self._followed
        if followed is None or task.held != followed.state.held:
            return None  # a grasp closed or slipped: plan from what is now
        plan, planned = followed.plan, followed.state
        # The arm cannot have got further than the chunks sent since: never match the plan's
        # end (rest again) to its start.
        ahead = plan.joints[followed.matched : followed.matched + 2 * self.spec.chunk_size, :5]
        if len(ahead) < 2:
            return None
        gaps = np.abs(ahead - task.q[:5]).max(axis=1)
        index = followed.matched + int(np.argmin(gaps))
        if gaps.min() > TRACK_TOLERANCE:
            return None  # the arm is not on this plan (pushed, or blended off it)
        if not task.held:
            if index > plan.marks.get("grasped", len(plan.joints)):
                return None  # the grasp missed
            moved = float(np.linalg.norm(task.bag[:2] - planned.bag[:2]))
            turned = abs(float(np.angle(np.exp(1j * (task.bag_yaw - planned.bag_yaw)))))
            if moved > BAG_TOLERANCE[0] or turned > BAG_TOLERANCE[1]:
                return None
        step = plan.joints[min(index + 1, len(plan.joints) - 1), :5] - plan.joints[index, :5]
        plan_speed = float(np.abs(step).max()) * self.spec.fps
        arm_speed = float(np.abs(velocity[:5]).max())
        if plan_speed > MOVING and arm_speed < MOVING_FRACTION * plan_speed:
            return None  # stopped mid-plan (it waited for a chunk): start again from rest
        self._followed = _FollowedPlan(plan, planned, index)
        return plan.joints[index:]

    def reset(self) -> None:
        """Forget the followed plan (a new episode); the counters restart."""
        self.calls = 0
        self.replans = 0
        self._followed = None


def _velocity(observation: Observation) -> np.ndarray:
    """Joint velocities in rad/s from the privileged `observation.joint_velocity`."""
    if JOINT_VELOCITY_KEY not in observation:
        raise KeyError(
            f"scripted:continuous needs {JOINT_VELOCITY_KEY!r} (the sim's joint velocities); "
            f"got keys {sorted(observation)}"
        )
    velocity = np.asarray(observation[JOINT_VELOCITY_KEY], dtype=np.float64)
    if velocity.shape != (len(JOINT_NAMES),):
        raise ValueError(
            f"{JOINT_VELOCITY_KEY}: expected float32[6], got shape {list(velocity.shape)}"
        )
    return np.radians(velocity)


def _inputs(observation: Observation) -> tuple[np.ndarray, np.ndarray]:
    """(state float32[6], env_state float32[7]) or a KeyError/ValueError saying what is wrong."""
    missing = [k for k in (STATE_KEY, ENV_STATE_KEY) if k not in observation]
    if missing:
        raise KeyError(
            f"the scripted policy needs {missing} (the sim's privileged state); got keys "
            f"{sorted(observation)}"
        )
    state = np.asarray(observation[STATE_KEY], dtype=np.float32)
    env_state = np.asarray(observation[ENV_STATE_KEY], dtype=np.float32)
    if state.shape != (6,) or env_state.shape != (ENV_STATE_DIM,):
        raise ValueError(
            f"expected {STATE_KEY} float32[6] and {ENV_STATE_KEY} float32[{ENV_STATE_DIM}], "
            f"got shapes {list(state.shape)} and {list(env_state.shape)}"
        )
    return state, env_state
