"""Smooth joint trajectories, tick by tick: minimum-jerk moves in joint space and along lines.

The expert composes these; every tick is one row of radians[6] joint targets at the control rate.
"""

from __future__ import annotations

import numpy as np

from edgevla.sim.kinematics import ArmKinematics


def min_jerk(n: int) -> np.ndarray:
    """Progress s in (0, 1] at ticks 1..n of a minimum-jerk move (zero end velocity and
    acceleration: the motion a person makes)."""
    t = np.arange(1, n + 1) / n
    return 10 * t**3 - 15 * t**4 + 6 * t**5


class TrajectoryBuilder:
    """Appends moves starting where the previous one ended."""

    def __init__(self, kinematics: ArmKinematics, fps: float, q_start: np.ndarray) -> None:
        self.kin = kinematics
        self.fps = fps
        self.q = np.asarray(q_start, dtype=np.float64).copy()  # radians[6], end of the plan
        self.rows: list[np.ndarray] = []
        self.marks: dict[str, int] = {}

    def _ticks(self, seconds: float) -> int:
        return max(1, round(seconds * self.fps))

    def mark(self, name: str) -> None:
        """Remember the tick index where the plan reaches this point (for checkpoints)."""
        self.marks[name] = len(self.rows)

    def move_joints(self, q_arm: np.ndarray, gripper: float | None, seconds: float) -> None:
        target = self.q.copy()
        target[:5] = q_arm
        if gripper is not None:
            target[5] = gripper
        for s in min_jerk(self._ticks(seconds)):
            self.rows.append(self.q + s * (target - self.q))
        self.q = target

    def move_line(self, position: np.ndarray, rotation: np.ndarray, seconds: float) -> bool:
        """Straight line of the grasp point at fixed orientation; False if IK failed."""
        start, _ = self.kin.forward(self.q[:5])
        q = self.q.copy()
        ok = True
        for s in min_jerk(self._ticks(seconds)):
            res = self.kin.solve(start + s * (position - start), rotation, q[:5], iterations=30)
            ok &= res.converged
            q = q.copy()
            q[:5] = res.q
            self.rows.append(q)
        self.q = q
        return ok

    def gripper(self, value: float, seconds: float) -> None:
        self.move_joints(self.q[:5], value, seconds)

    def hold(self, seconds: float) -> None:
        self.rows.extend(self.q.copy() for _ in range(self._ticks(seconds)))

    def array(self) -> np.ndarray:
        """radians[N, 6]"""
        if not self.rows:
            return np.empty((0, 6))
        return np.stack(self.rows)
