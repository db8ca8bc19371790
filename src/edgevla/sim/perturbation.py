"""Execution noise for recording (DART): the arm is pushed off the expert's path while the
dataset keeps the expert's own targets, so the demonstrations show how to get back.

A policy that reaches the pre-grasp a few centimetres or degrees off sees a gripper-camera view
the clean expert never produced and has no example of correcting it; that is where our ACT
failed closed-loop. Here the executed command is `expert target + noise`, the recorded action is
the target, so every perturbed state is labelled with the way back. The noise is smooth
(Ornstein-Uhlenbeck per arm joint, the gripper untouched), fades in after the start and fades
out before the jaws close so the grasp itself stays the expert's.

`NoisyExecution` is that as an Environment wrapper: the control loop commands (and its
subscribers record) the expert's target, the wrapped workcell executes the noisy one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgevla.contracts import Environment, Observation
from edgevla.sim.geometry import LOWER, UPPER

ARM_JOINTS = 5
NOISE_STREAM = 0xDA27  # the noise draws from its own stream of the episode's seed
FADE_IN_S = 0.3
FADE_OUT_S = 0.6  # before the jaws start closing: the last approach is a corrected one


class ExecutionNoise:
    """Smooth per-joint noise in action units (degrees) with an envelope; one per episode."""

    def __init__(
        self,
        std_deg: Sequence[float],
        fps: float,
        rng: np.random.Generator,
        time_constant_s: float = 0.5,
    ) -> None:
        std = np.asarray(std_deg, dtype=np.float64)
        if std.shape != (ARM_JOINTS,) or np.any(std < 0) or not np.all(np.isfinite(std)):
            raise ValueError(
                f"action noise needs {ARM_JOINTS} non-negative degrees (one per arm joint, "
                f"shoulder_pan .. wrist_roll), got {list(std_deg)}"
            )
        if time_constant_s <= 0:
            raise ValueError(f"noise time constant must be positive, got {time_constant_s}")
        self.std = std
        self.fps = float(fps)
        self.rng = rng
        self._decay = math.exp(-1.0 / (time_constant_s * fps))
        self._value = np.zeros(ARM_JOINTS)
        self._tick = 0
        self._lo = np.degrees(LOWER[:ARM_JOINTS])
        self._hi = np.degrees(UPPER[:ARM_JOINTS])

    def envelope(self, ticks_to_close: int | None) -> float:
        """0..1: ramps up after the episode starts, down to 0 when the grasp begins; 0 after
        (None: the plan has no grasp ahead)."""
        if ticks_to_close is None:
            return 0.0
        fade_in = min(1.0, self._tick / (FADE_IN_S * self.fps))
        fade_out = min(1.0, ticks_to_close / (FADE_OUT_S * self.fps))
        return fade_in * fade_out

    def apply(self, action: np.ndarray, ticks_to_close: int | None) -> np.ndarray:
        """The command to execute for the expert's `action` (float[6], degrees / gripper %)."""
        # AR(1) with the stationary standard deviation `std`.
        shock = self.rng.standard_normal(ARM_JOINTS) * self.std * math.sqrt(1 - self._decay**2)
        self._value = self._decay * self._value + shock
        self._tick += 1
        out = np.array(action, dtype=np.float32, copy=True)
        arm = out[:ARM_JOINTS] + self.envelope(ticks_to_close) * self._value
        out[:ARM_JOINTS] = np.clip(arm, self._lo, self._hi)
        return out


class NoisyExecution:
    """Environment wrapper: `step(target)` executes `target + noise` (DART), the loop sees
    only `target`. `ticks_to_grasp()` says how many ticks are left until the jaws start
    closing (the expert's plan mark; None: no grasp ahead), so the noise fades out before it.

    Each episode's noise is drawn from `reset(noise_seed=...)`, so a recorded episode can be
    reproduced (and resumed) from its own seed; without one, from a stream of `seed`.
    """

    def __init__(
        self,
        env: Environment,
        std_deg: Sequence[float],
        ticks_to_grasp: Callable[[], int | None],
        *,
        time_constant_s: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.env = env
        self.fps = float(env.fps)
        self.std_deg = tuple(float(v) for v in std_deg)
        self.time_constant_s = float(time_constant_s)
        self.ticks_to_grasp = ticks_to_grasp
        self._seeds = np.random.SeedSequence([int(seed), NOISE_STREAM])
        self._noise = self._new_noise(np.random.default_rng(0))  # checks the settings now

    def _new_noise(self, rng: np.random.Generator) -> ExecutionNoise:
        return ExecutionNoise(self.std_deg, self.fps, rng, self.time_constant_s)

    def reset(self, *, noise_seed: int | None = None, **options: Any) -> Observation:
        if noise_seed is None:
            rng = np.random.default_rng(self._seeds.spawn(1)[0])
        else:
            rng = np.random.default_rng([int(noise_seed), NOISE_STREAM])
        self._noise = self._new_noise(rng)
        return self.env.reset(**options)

    def step(self, action: np.ndarray) -> tuple[Observation, dict[str, Any]]:
        return self.env.step(self._noise.apply(action, self.ticks_to_grasp()))
