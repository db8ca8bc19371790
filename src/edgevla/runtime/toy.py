"""A toy world for the control loop: a point that chases its target, and a policy that plans a
straight line to a goal.

It is small enough to run thousands of ticks per second, so the feasibility planner uses it
for its Monte Carlo (the same loop code as a real run, no separate model of the queue) and the
tests use it as their fake robot. The goal may drift, so a plan computed from an old
observation is visibly wrong — what makes stale actions and bad blending cost something.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgevla.contracts import ActionChunk, Observation, PolicySpec
from edgevla.features import ENV_STATE_KEY, STATE_KEY, TASK_KEY

GOAL_KEY = ENV_STATE_KEY  # LeRobot's key for non-image world state


class PointEnv:
    """A `dim`-D point that moves towards the commanded target by at most `max_speed`·dt.

    Success when within `tolerance` of the goal (`tolerance=None`: never, for timing runs).
    The goal moves at `goal_velocity` units/s.
    """

    def __init__(
        self,
        *,
        fps: float = 30.0,
        dim: int = 1,
        start: float = 0.0,
        goal: float = 1.0,
        max_speed: float = 1.0,
        tolerance: float | None = 0.01,
        goal_velocity: float = 0.0,
    ) -> None:
        if fps <= 0 or dim < 1 or max_speed <= 0:
            raise ValueError(
                f"need fps > 0, dim >= 1, max_speed > 0; got {fps}, {dim}, {max_speed}"
            )
        self.fps, self.dim, self.max_speed = float(fps), int(dim), float(max_speed)
        self.start, self.goal0, self.tolerance = float(start), float(goal), tolerance
        self.goal_velocity = float(goal_velocity)
        self.reset()

    def reset(self, **options: Any) -> Observation:
        """Options `start` and `goal` override the constructor's for this episode."""
        unknown = set(options) - {"start", "goal"}
        if unknown:
            raise ValueError(f"PointEnv.reset accepts start, goal; got {sorted(unknown)}")
        self.pos = np.full(self.dim, options.get("start", self.start), np.float32)
        self.goal = np.full(self.dim, options.get("goal", self.goal0), np.float32)
        return self._obs()

    def step(self, action: np.ndarray) -> tuple[Observation, dict[str, Any]]:
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (self.dim,):
            raise ValueError(f"action must be float32[{self.dim}], got shape {action.shape}")
        limit = self.max_speed / self.fps
        self.pos = (self.pos + np.clip(action - self.pos, -limit, limit)).astype(np.float32)
        self.goal = (self.goal + self.goal_velocity / self.fps).astype(np.float32)
        dist = float(np.max(np.abs(self.pos - self.goal)))
        success = self.tolerance is not None and dist <= self.tolerance
        return self._obs(), {"success": success, "distance": dist}

    def _obs(self) -> Observation:
        return {STATE_KEY: self.pos.copy(), GOAL_KEY: self.goal.copy(), TASK_KEY: "reach the goal"}


class LinePolicy:
    """Plans `chunk_size` targets along a straight line from the observed state to the
    observed goal at `speed` units/s, then holds at the goal."""

    def __init__(
        self, *, chunk_size: int = 50, fps: float = 30.0, dim: int = 1, speed: float = 0.5
    ):
        if chunk_size < 1 or speed <= 0:
            raise ValueError(f"need chunk_size >= 1 and speed > 0; got {chunk_size}, {speed}")
        names = tuple(f"x{i}" for i in range(dim))
        self.spec = PolicySpec(
            chunk_size=chunk_size,
            fps=fps,
            cameras=(),
            action_names=names,
            state_dim=dim,
            name="line",
        )
        self.speed = float(speed)
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        self.calls += 1
        state = np.asarray(observation[STATE_KEY], dtype=np.float32)
        goal = np.asarray(observation[GOAL_KEY], dtype=np.float32)
        steps = np.arange(1, self.spec.chunk_size + 1, dtype=np.float32)[:, None]
        delta = goal - state
        travel = np.minimum(steps * self.speed / self.spec.fps, np.abs(delta))
        return ActionChunk((state + np.sign(delta) * travel).astype(np.float32), timestep)
