"""The scripted expert as a ChunkPolicy: exercises the runtime before any learned model exists.

Each call plans the whole task from the observation it was handed — arm joints from
`observation.state`, tea bag and mug from the privileged `observation.environment_state` —
and returns the plan's first T joint targets, open-loop. By default it keeps no state between
calls, so a chunk computed from an observation that went stale during inference starts where
the arm *was*, not where it is: stale plans hurt it the way they hurt a learned policy, which is
what a sync-vs-async benchmark must measure. It needs no images, so the sim can skip rendering.

`continuous=True` makes it re-plan the way a policy trained on smooth demonstrations does:
an observation taken while the arm is on track along its previous plan (same bag pose, same
grasp state, arm where the plan put it at that tick, allowing for servo lag) gets that plan's
continuation at full speed, where the stateless planner would start a new minimum-jerk transit
from rest. Anything off track — the arm waited (sync), the bag moved, a grasp closed or
missed — gets a fresh plan from the observation, exactly as without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgevla.features import STATE_KEY
from edgevla.runtime.types import FLOAT_FEATURES, ActionChunk, Observation, PolicySpec
from edgevla.sim.config import WorkcellConfig
from edgevla.sim.expert import Plan, TaskPlanner, TaskState
from edgevla.sim.geometry import action_to_radians, radians_to_action
from edgevla.sim.kinematics import ArmKinematics
from edgevla.sim.workcell import ENV_STATE_KEY, TeaBagWorkcell

ENV_STATE_DIM = 7
# On-track test of `continuous`: the arm joints within TRACK_TOLERANCE rad of one of the plan's
# targets of the last TRACK_LAG_TICKS ticks (the position servo trails its target at speed),
# and the tea bag where it was planned for (metres, radians).
TRACK_TOLERANCE = 0.05
TRACK_LAG_TICKS = 10
BAG_TOLERANCE = (0.005, 0.1)


@dataclass(frozen=True)
class _FollowedPlan:
    plan: Plan
    timestep: int  # the tick plan.joints[0] was meant for
    state: TaskState  # what it was planned from


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
        self._planner = TaskPlanner(ArmKinematics(model), float(fps))
        self.spec = PolicySpec(
            chunk_size=int(chunk_size),
            fps=float(fps),
            cameras=(),
            name=name,
            extra={FLOAT_FEATURES: {ENV_STATE_KEY: ENV_STATE_DIM}},
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
        joints = self._continuation(task, int(timestep)) if self.continuous else None
        if joints is None:
            plan = self._planner.plan(task)
            self.replans += 1
            if self.continuous:
                self._followed = _FollowedPlan(plan, int(timestep), task)
            joints = plan.joints
        joints = joints[: self.spec.chunk_size]
        if len(joints) == 0:
            joints = q[None, :]
        pad = self.spec.chunk_size - len(joints)
        if pad:
            joints = np.concatenate([joints, np.repeat(joints[-1:], pad, axis=0)])
        self.calls += 1
        return ActionChunk(radians_to_action(joints), int(timestep))

    def _continuation(self, task: TaskState, timestep: int) -> np.ndarray | None:
        """The followed plan from `timestep` on, or None when the observation is off track."""
        followed = self._followed
        if followed is None:
            return None
        plan, planned = followed.plan, followed.state
        index = timestep - followed.timestep
        if not 0 <= index < len(plan.joints) or task.held != planned.held:
            return None  # past its end, or a grasp closed or slipped: plan from what is now
        if not task.held:
            if index > plan.marks.get("grasped", len(plan.joints)):
                return None  # the grasp missed
            moved = float(np.linalg.norm(task.bag[:2] - planned.bag[:2]))
            turned = abs(float(np.angle(np.exp(1j * (task.bag_yaw - planned.bag_yaw)))))
            if moved > BAG_TOLERANCE[0] or turned > BAG_TOLERANCE[1]:
                return None
        recent = plan.joints[max(0, index - TRACK_LAG_TICKS) : index + 1, :5]
        if np.abs(recent - task.q[:5]).max(axis=1).min() > TRACK_TOLERANCE:
            return None  # the arm is not where this plan put it (it waited, or was pushed)
        return plan.joints[index:]

    def reset(self) -> None:
        """Forget the followed plan (a new episode); the counters restart."""
        self.calls = 0
        self.replans = 0
        self._followed = None


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
