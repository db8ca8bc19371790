"""Policies that need no model: for benchmarks, tests and smoke-testing a deployment.

`FixedChunkPolicy` returns a precomputed chunk instantly (inference excluded from a wire
benchmark); `HoldPolicy` repeats the observed joint state, the one safe thing to send a
real arm when you only want to test the plumbing. A zero chunk drives every joint to 0:
never point it at real hardware.
"""

from __future__ import annotations

import numpy as np

from edgevla.contracts import ActionChunk, Observation, PolicySpec
from edgevla.features import STATE_KEY


class FixedChunkPolicy:
    """actions: float32[chunk_size, action_dim], returned for every observation."""

    def __init__(self, spec: PolicySpec, actions: np.ndarray | None = None) -> None:
        shape = (spec.chunk_size, spec.action_dim)
        if actions is None:
            actions = np.zeros(shape, np.float32)
        if actions.shape != shape:
            raise ValueError(f"actions must be {list(shape)} for this spec, got {actions.shape}")
        self.spec = spec
        self.actions = np.ascontiguousarray(actions, dtype=np.float32)
        self.calls = 0

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        self.calls += 1
        return ActionChunk(self.actions, timestep)

    def reset(self) -> None:
        self.calls = 0


class HoldPolicy:
    """Every action of the chunk is the current `observation.state` (needs state_dim ==
    action_dim): the arm stays where it is."""

    def __init__(self, spec: PolicySpec) -> None:
        if spec.state_dim != spec.action_dim:
            raise ValueError(
                f"hold needs state_dim == action_dim, got {spec.state_dim} and {spec.action_dim}"
            )
        self.spec = spec

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        state = np.asarray(observation[STATE_KEY], dtype=np.float32)
        return ActionChunk(np.tile(state, (self.spec.chunk_size, 1)), timestep)

    def reset(self) -> None:
        """Stateless."""
