"""The sim workcell as an Environment started from protocol start positions."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from edgevla.contracts import Observation, PolicySpec
from edgevla.features import DEFAULT_TASK


class SimEnvironment:
    """A TeaBagWorkcell behind the Environment protocol. `reset(start=...)` puts the tea bag at
    the start's pose: the one place that knows what a sim start position means."""

    def __init__(self, workcell: Any) -> None:
        self.workcell = workcell
        self.fps = float(workcell.fps)

    @property
    def config(self) -> Any:
        """The workcell's WorkcellConfig (scene, cameras, render)."""
        return self.workcell.config

    def reset(
        self, *, start: Any | None = None, task: str = DEFAULT_TASK, **options: Any
    ) -> Observation:
        """start: a StartPosition (None: the workcell's default bag pose); other options
        (arm_pose) go to the workcell."""
        if start is not None:
            if "tea_bag" in options:
                raise ValueError("give the sim a start or a tea_bag pose, not both")
            options["tea_bag"] = start.pose
        return self.workcell.reset(task=task, **options)

    def step(self, action: np.ndarray) -> tuple[Observation, dict[str, Any]]:
        return self.workcell.step(action)

    def close(self) -> None:
        self.workcell.close()


def sim_environment(
    spec: PolicySpec, *, fps: float | None = None, config: Any | None = None
) -> SimEnvironment:
    """The workcell configured for the policy: rendering only when the spec has cameras, those
    cameras only, at the spec's image size when it declares one.

    config: a `WorkcellConfig` (scene, physics); its render/cameras/size are overridden, its
    fps too when `fps` is given.
    """
    from edgevla.sim.config import WorkcellConfig
    from edgevla.sim.workcell import TeaBagWorkcell

    base = config if config is not None else WorkcellConfig()
    if fps is not None:
        base = dataclasses.replace(base, fps=fps)
    scene = dataclasses.replace(base.scene, cameras=tuple(spec.cameras))
    if spec.image_shape is not None:
        height, width = spec.image_shape
        scene = dataclasses.replace(scene, width=int(width), height=int(height))
    if abs(base.fps - spec.fps) > 1e-6:
        raise ValueError(f"the policy runs at {spec.fps:g} fps, the workcell at {base.fps:g}")
    return SimEnvironment(
        TeaBagWorkcell(dataclasses.replace(base, scene=scene, render=bool(spec.cameras)))
    )
