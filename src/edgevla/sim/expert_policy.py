"""The recording expert as a ChunkPolicy: `ScriptedExpert`, one action per chunk.

Demonstrations come from the closed-loop expert that follows one plan and re-plans only when a
grasp missed (see `expert.py`), not from `ScriptedChunkPolicy`'s open-loop chunks: run under a
sync trigger with zero latency, each chunk is the expert's next target for the observation
just taken, so the control loop records exactly what the expert commands tick by tick. The
expert also knows when its plan is done (`finished`: the loop's `stop_when`) and how far the
grasp is (`ticks_until`: where execution noise must fade out).
"""

from __future__ import annotations

import numpy as np

from edgevla.contracts import FLOAT_FEATURES, ActionChunk, Observation, PolicySpec
from edgevla.features import ENV_STATE_DIM, ENV_STATE_KEY
from edgevla.sim.expert import ScriptedExpert
from edgevla.sim.kinematics import ArmKinematics


class ExpertPolicy:
    """`ScriptedExpert` behind the ChunkPolicy contract; chunk size 1 (it re-decides every
    tick). `kinematics` should be the driven workcell's own model."""

    def __init__(self, kinematics: ArmKinematics, fps: float, name: str = "expert") -> None:
        if not float(fps) > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.expert = ScriptedExpert(kinematics, float(fps))
        self.spec = PolicySpec(
            chunk_size=1,
            fps=float(fps),
            cameras=(),
            name=name,
            extra={FLOAT_FEATURES: {ENV_STATE_KEY: ENV_STATE_DIM}},
        )

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        """actions float32[1, 6]: the expert's next target (degrees, gripper 0..100)."""
        action = np.asarray(self.expert.act(observation), dtype=np.float32)
        return ActionChunk(action[None, :], int(timestep))

    def reset(self) -> None:
        self.expert.reset()

    @property
    def finished(self) -> bool:
        """The plan has run out: the episode is over (the last chunk is not executed)."""
        return self.expert.finished

    def ticks_until(self, mark: str) -> int | None:
        """Ticks from the next planned action to `mark` (e.g. "closing"); None when the plan
        has no such mark ahead."""
        return self.expert.ticks_until(mark)
