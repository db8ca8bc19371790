"""A Gymnasium view of the workcell, for users who bring RL or Gym tooling.

Same observation keys as everywhere else (DESIGN §3); the task string is not a Gym space, so it
is returned in `info`. The native `TeaBagWorkcell` API is what edgevla's own loops use.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from edgevla.features import ENV_STATE_DIM, ENV_STATE_KEY, JOINT_VELOCITY_KEY, STATE_KEY, image_key
from edgevla.sim.clusters import workspace_clusters
from edgevla.sim.config import WorkcellConfig
from edgevla.sim.geometry import LOWER, UPPER, radians_to_action
from edgevla.sim.workcell import TeaBagPose, TeaBagWorkcell


class TeaBagEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, config: WorkcellConfig | None = None, max_episode_steps: int = 600) -> None:
        self.workcell = TeaBagWorkcell(config)
        cfg = self.workcell.config
        self.max_episode_steps = max_episode_steps
        self.metadata = {**self.metadata, "render_fps": cfg.fps}
        low, high = radians_to_action(LOWER), radians_to_action(UPPER)
        self.action_space = gym.spaces.Box(low=low, high=high, dtype=np.float32)
        spaces: dict[str, gym.Space] = {
            STATE_KEY: gym.spaces.Box(low=low, high=high, dtype=np.float32),
            ENV_STATE_KEY: gym.spaces.Box(
                -np.inf, np.inf, shape=(ENV_STATE_DIM,), dtype=np.float32
            ),
            JOINT_VELOCITY_KEY: gym.spaces.Box(-np.inf, np.inf, shape=(6,), dtype=np.float32),
        }
        if cfg.render:
            shape = (cfg.scene.height, cfg.scene.width, 3)
            for cam in cfg.scene.cameras:
                spaces[image_key(cam)] = gym.spaces.Box(0, 255, shape=shape, dtype=np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """options: `tea_bag` (TeaBagPose), `arm_pose` (radians[6]), `task`; without a tea bag
        the start is a random position in a random cluster (seeded)."""
        super().reset(seed=seed)
        options = dict(options or {})
        if "tea_bag" not in options:
            clusters = workspace_clusters()
            cluster = clusters[int(self.np_random.integers(len(clusters)))]
            options["tea_bag"] = cluster.start(
                int(self.np_random.integers(1, 11)), self.np_random
            ).pose
        if not isinstance(options["tea_bag"], TeaBagPose):
            raise TypeError(
                f"options['tea_bag'] must be a TeaBagPose, got {type(options['tea_bag']).__name__}"
            )
        obs = self.workcell.reset(**options)
        self._steps = 0
        task = obs.pop("task")
        return obs, {"task": task}

    def step(self, action):
        obs, info = self.workcell.step(np.asarray(action, dtype=np.float32))
        self._steps += 1
        info["task"] = obs.pop("task")
        terminated = bool(info["success"])
        truncated = self._steps >= self.max_episode_steps
        return obs, float(terminated), terminated, truncated, info

    def render(self):
        return self.workcell.render()[image_key(self.workcell.config.scene.cameras[0])]

    def close(self):
        self.workcell.close()
