"""The scripted expert as a ChunkPolicy: exercises the runtime before any learned model exists.

Each call plans the whole task from the observation it was handed — arm joints from
`observation.state`, tea bag and mug from the privileged `observation.environment_state` —
and returns the plan's first T joint targets, open-loop. It keeps no state between calls, so
a chunk computed from an observation that went stale during inference starts where the arm
*was*, not where it is: stale plans hurt it the way they hurt a learned policy, which is what
a sync-vs-async benchmark must measure. It needs no images, so the sim can skip rendering.
"""

from __future__ import annotations

import numpy as np

from edgevla.features import STATE_KEY
from edgevla.runtime.types import FLOAT_FEATURES, ActionChunk, Observation, PolicySpec
from edgevla.sim.config import WorkcellConfig
from edgevla.sim.expert import TaskPlanner, TaskState
from edgevla.sim.geometry import action_to_radians, radians_to_action
from edgevla.sim.kinematics import ArmKinematics
from edgevla.sim.workcell import ENV_STATE_KEY, TeaBagWorkcell

ENV_STATE_DIM = 7


class ScriptedChunkPolicy:
    """Plans `chunk_size` actions (degrees, gripper 0..100) ahead from one observation.

    Builds its own (never rendered) copy of the workcell model for kinematics, so it shares
    nothing with the environment it drives and can run in a server process.
    """

    def __init__(self, chunk_size: int = 100, fps: float = 30.0, name: str = "scripted") -> None:
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
        self.calls = 0

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        """actions float32[chunk_size, 6]: the plan from this observation, padded with its
        last target (the plan ends at rest)."""
        state, env_state = _inputs(observation)
        q = action_to_radians(state)
        plan = self._planner.plan(TaskState.from_env_state(q, env_state))
        joints = plan.joints[: self.spec.chunk_size]
        if len(joints) == 0:
            joints = q[None, :]
        pad = self.spec.chunk_size - len(joints)
        if pad:
            joints = np.concatenate([joints, np.repeat(joints[-1:], pad, axis=0)])
        self.calls += 1
        return ActionChunk(radians_to_action(joints), int(timestep))

    def reset(self) -> None:
        """Stateless between calls; only the call counter restarts."""
        self.calls = 0


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
