"""The tea-bag workcell: MuJoCo physics, headless rendering, observations and success.

Implements DESIGN's Environment protocol (`reset(**options) -> obs`, `step(action) -> obs, info`)
with LeRobot's feature keys. Actions and states are SO-101 follower units: degrees for the
arm joints, 0 (closed) .. 100 (open) for the gripper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgevla.features import (
    DEFAULT_TASK,
    ENV_STATE_KEY,
    JOINT_NAMES,
    JOINT_VELOCITY_KEY,
    STATE_KEY,
    TASK_KEY,
    image_key,
)
from edgevla.sim.config import WorkcellConfig
from edgevla.sim.geometry import (
    MUG_BOTTOM,
    MUG_HEIGHT,
    MUG_INNER_RADIUS,
    MUG_POS,
    REST_POSE,
    TEA_BAG_HALF,
    action_to_radians,
    radians_to_action,
)
from edgevla.sim.scene import build_mjcf


@dataclass(frozen=True)
class TeaBagPose:
    """A tea bag start: table position (m) and yaw (rad) of its long axis."""

    x: float
    y: float
    yaw: float


class TeaBagWorkcell:
    """Constructing builds the model (no rendering context yet); `reset` opens the renderers."""

    def __init__(self, config: WorkcellConfig | None = None) -> None:
        import mujoco

        self._mj = mujoco
        self.config = config or WorkcellConfig()
        self.fps = self.config.fps
        self.model = mujoco.MjModel.from_xml_string(build_mjcf(self.config.scene))
        self.model.opt.timestep = self.config.physics_timestep
        self.data = mujoco.MjData(self.model)
        self.substeps = max(1, round(1.0 / (self.fps * self.config.physics_timestep)))
        self._joint_qpos = np.array([self.model.joint(j).qposadr[0] for j in JOINT_NAMES])
        self._joint_qvel = np.array([self.model.joint(j).dofadr[0] for j in JOINT_NAMES])
        self._bag_qpos = self.model.joint("tea_bag").qposadr[0]
        self._bag_qvel = self.model.joint("tea_bag").dofadr[0]
        self._bag_geom = self.model.geom("tea_bag").id
        jaw_bodies = {self.model.body("gripper").id, self.model.body("moving_jaw").id}
        self._gripper_geoms = {
            g for g in range(self.model.ngeom) if self.model.geom_bodyid[g] in jaw_bodies
        }
        self._jaw_geoms = {self.model.geom("fixed_jaw").id, self.model.geom("moving_jaw").id}
        self._renderer = None
        self._task = ""
        self._success_ticks = 0
        self.tick = 0

    # ---------------------------------------------------------------- episode control
    def reset(
        self,
        tea_bag: TeaBagPose | None = None,
        arm_pose: np.ndarray | None = None,
        task: str = DEFAULT_TASK,
    ) -> dict[str, Any]:
        """Start an episode: tea bag at `tea_bag`, arm at `arm_pose` (radians[6], default rest)."""
        mj = self._mj
        mj.mj_resetData(self.model, self.data)
        q = REST_POSE.copy() if arm_pose is None else np.asarray(arm_pose, dtype=np.float64)
        if q.shape != (6,):
            raise ValueError(f"arm_pose must be radians[6], got shape {q.shape}")
        self.data.qpos[self._joint_qpos] = q
        self.data.ctrl[:] = q
        bag = tea_bag or TeaBagPose(0.2, 0.05, 0.0)
        self.data.qpos[self._bag_qpos : self._bag_qpos + 3] = (bag.x, bag.y, TEA_BAG_HALF[2] + 1e-4)
        self.data.qpos[self._bag_qpos + 3 : self._bag_qpos + 7] = (
            np.cos(bag.yaw / 2),
            0.0,
            0.0,
            np.sin(bag.yaw / 2),
        )
        mj.mj_forward(self.model, self.data)
        self._task = task
        self._success_ticks = 0
        self.tick = 0
        return self.observe()

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
        """Apply joint targets float32[6] (degrees, gripper 0..100) for one control period."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (len(JOINT_NAMES),):
            raise ValueError(f"action must be float[{len(JOINT_NAMES)}], got shape {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action has non-finite values: {action}")
        target = action_to_radians(action)
        lo, hi = self.model.actuator_ctrlrange[:, 0], self.model.actuator_ctrlrange[:, 1]
        self.data.ctrl[:] = np.clip(target, lo, hi)
        self._mj.mj_step(self.model, self.data, nstep=self.substeps)
        self.tick += 1
        in_mug = self.tea_bag_in_mug()
        self._success_ticks = self._success_ticks + 1 if in_mug else 0
        info = {
            "success": self._success_ticks >= self.config.success_hold_ticks,
            "tea_bag_in_mug": in_mug,
            "tick": self.tick,
        }
        return self.observe(), info

    # ---------------------------------------------------------------- observation
    def joint_radians(self) -> np.ndarray:
        return self.data.qpos[self._joint_qpos].copy()

    def state(self) -> np.ndarray:
        """float32[6] in action units (degrees, gripper 0..100)."""
        return radians_to_action(self.joint_radians())

    def joint_velocity(self) -> np.ndarray:
        """float32[6]: degrees/s for the arm joints, gripper %/s."""
        qvel = self.data.qvel[self._joint_qvel]
        # A rate converts like a position without the gripper's offset: the same map, less map(0).
        return (radians_to_action(qvel) - radians_to_action(np.zeros(6))).astype(np.float32)

    def tea_bag_pose(self) -> tuple[np.ndarray, float]:
        """(position float[3] m, yaw rad of the long axis)."""
        pos = self.data.qpos[self._bag_qpos : self._bag_qpos + 3].copy()
        mat = self.data.xmat[self.model.body("tea_bag").id].reshape(3, 3)
        return pos, float(np.arctan2(mat[1, 0], mat[0, 0]))

    def environment_state(self) -> np.ndarray:
        pos, yaw = self.tea_bag_pose()
        held = float(self.tea_bag_held())
        return np.array(
            [pos[0], pos[1], pos[2], yaw, MUG_POS[0], MUG_POS[1], held], dtype=np.float32
        )

    def observe(self) -> dict[str, Any]:
        obs: dict[str, Any] = {
            STATE_KEY: self.state(),
            ENV_STATE_KEY: self.environment_state(),
            JOINT_VELOCITY_KEY: self.joint_velocity(),
            TASK_KEY: self._task,
        }
        if self.config.render:
            obs.update(self.render())
        return obs

    def render(self) -> dict[str, np.ndarray]:
        """uint8[H, W, 3] per configured camera."""
        if self._renderer is None:
            scene = self.config.scene
            self._renderer = self._mj.Renderer(self.model, scene.height, scene.width)
        images = {}
        for cam in self.config.scene.cameras:
            self._renderer.update_scene(self.data, camera=cam)
            images[image_key(cam)] = self._renderer.render().copy()
        return images

    # ---------------------------------------------------------------- success
    def tea_bag_in_mug(self) -> bool:
        """The bag rests inside the mug: centre within the inner radius, between bottom and
        rim, nearly still, and not held by the gripper."""
        pos = self.data.qpos[self._bag_qpos : self._bag_qpos + 3]
        r = np.hypot(pos[0] - MUG_POS[0], pos[1] - MUG_POS[1])
        if r > MUG_INNER_RADIUS or not (MUG_BOTTOM < pos[2] < MUG_HEIGHT):
            return False
        if np.linalg.norm(self.data.qvel[self._bag_qvel : self._bag_qvel + 3]) > 0.05:
            return False
        return not self.tea_bag_touches_gripper()

    def _bag_contacts(self) -> set[int]:
        """Gripper geoms the tea bag touches now."""
        touching = set()
        for i in range(self.data.ncon):
            c = self.data.contact[i]
            pair = {int(c.geom1), int(c.geom2)}
            if self._bag_geom in pair:
                touching |= pair & self._gripper_geoms
        return touching

    def tea_bag_touches_gripper(self) -> bool:
        return bool(self._bag_contacts())

    def tea_bag_held(self) -> bool:
        """Squeezed between both jaws."""
        return self._jaw_geoms <= self._bag_contacts()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> TeaBagWorkcell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
