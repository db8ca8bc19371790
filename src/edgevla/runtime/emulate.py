"""Make a fast policy behave like a slow board on the wall clock.

Virtual time covers most benchmarks; this wrapper exists for the wall-clock path (a real
worker thread, a real sleep-to-period loop, or a gRPC server) where one wants i.MX95-like
latency from a policy that runs in milliseconds on a workstation.
"""

from __future__ import annotations

import time

import numpy as np

from edgevla.contracts import ActionChunk, ChunkPolicy, Observation, PolicySpec
from edgevla.runtime.latency import LatencyModel


class LatencyEmulatingPolicy:
    """`predict_chunk` takes at least a latency drawn from `latency` (the policy's own compute
    time counts towards it)."""

    def __init__(self, policy: ChunkPolicy, latency: LatencyModel, seed: int | None = None):
        self.policy = policy
        self.latency = latency
        self._rng = np.random.default_rng(latency.seed if seed is None else seed)

    @property
    def spec(self) -> PolicySpec:
        return self.policy.spec

    def reset(self) -> None:
        self.policy.reset()

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        target = time.perf_counter() + self.latency.sample(self._rng)
        chunk = self.policy.predict_chunk(observation, timestep=timestep)
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        return chunk
