"""Inverse kinematics of the arm by damped least squares on MuJoCo's site Jacobian.

The arm has five positioning joints (pan, lift, elbow, wrist flex, wrist roll): enough for a
grasp point plus an approach direction in the arm's vertical plane plus a roll about it. The
expert builds its targets inside that set, so the 6-D error goes to zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgevla.features import JOINT_NAMES
from edgevla.sim.geometry import LOWER, UPPER

ARM_JOINTS = JOINT_NAMES[:5]


@dataclass(frozen=True)
class IKResult:
    q: np.ndarray  # radians[5]
    position_error: float  # m
    rotation_error: float  # rad (approximate)
    converged: bool


def grasp_rotation(approach: np.ndarray, closing: np.ndarray) -> np.ndarray:
    """Gripper body frame: x = approach (towards the fingertips), y = jaw closing axis."""
    x = approach / np.linalg.norm(approach)
    y = closing - np.dot(closing, x) * x
    y /= np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)], axis=1)


class ArmKinematics:
    """Forward and inverse kinematics on a private MjData, so the live sim is never touched."""

    def __init__(self, model) -> None:
        import mujoco

        self._mj = mujoco
        self.model = model
        self.data = mujoco.MjData(model)
        self._qpos = np.array([model.joint(j).qposadr[0] for j in ARM_JOINTS])
        self._dofs = np.array([model.joint(j).dofadr[0] for j in ARM_JOINTS])
        self._site = model.site("grasp").id
        self._body = model.body("gripper").id
        self._jaw_geoms = [model.geom("fixed_jaw").id, model.geom("moving_jaw").id]
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self.lower, self.upper = LOWER[:5], UPPER[:5]

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(grasp point float[3], gripper rotation float[3,3]) for arm joints radians[5]."""
        self.data.qpos[self._qpos] = q
        self._mj.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self._site].copy(), self.data.xmat[self._body].reshape(
            3, 3
        ).copy()

    def lowest_jaw_point(self, q: np.ndarray) -> float:
        """Lowest z of the jaw boxes (closed jaws), to keep them off the table."""
        self.forward(q)
        low = math.inf
        for g in self._jaw_geoms:
            half = self.model.geom_size[g]
            rot = self.data.geom_xmat[g].reshape(3, 3)
            extent = np.abs(rot[2]) @ half
            low = min(low, self.data.geom_xpos[g][2] - extent)
        return float(low)

    def solve(
        self,
        position: np.ndarray,
        rotation: np.ndarray,
        q_init: np.ndarray,
        iterations: int = 100,
        damping: float = 0.02,
    ) -> IKResult:
        """Joint angles radians[5] that put the grasp point at `position` with `rotation`."""
        mj = self._mj
        q = np.clip(np.asarray(q_init, dtype=np.float64).copy(), self.lower, self.upper)
        weights = np.array([1.0, 1.0, 1.0, 0.15, 0.15, 0.15])  # metres vs radians
        pos_err = rot_err = math.inf
        for _ in range(iterations):
            self.data.qpos[self._qpos] = q
            mj.mj_kinematics(self.model, self.data)
            mj.mj_comPos(self.model, self.data)
            cur_p = self.data.site_xpos[self._site]
            cur_r = self.data.xmat[self._body].reshape(3, 3)
            e_p = position - cur_p
            e_r = 0.5 * sum(np.cross(cur_r[:, i], rotation[:, i]) for i in range(3))
            pos_err, rot_err = float(np.linalg.norm(e_p)), float(np.linalg.norm(e_r))
            if pos_err < 2e-4 and rot_err < 2e-3:
                break
            mj.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self._site)
            jac = (
                np.vstack([self._jacp[:, self._dofs], self._jacr[:, self._dofs]]) * weights[:, None]
            )
            err = np.concatenate([e_p, e_r]) * weights
            dq = jac.T @ np.linalg.solve(jac @ jac.T + damping**2 * np.eye(6), err)
            step = np.linalg.norm(dq)
            if step > 0.3:
                dq *= 0.3 / step
            q = np.clip(q + dq, self.lower, self.upper)
        return IKResult(q, pos_err, rot_err, pos_err < 2e-3 and rot_err < 2e-2)
