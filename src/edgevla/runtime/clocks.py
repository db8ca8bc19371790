"""Clocks: the only place the control loop reads time from (DESIGN §3).

The loop ends each tick with `clock.wait_until(deadline)`. A `WallClock` sleeps; a
`VirtualClock` jumps there at once and also owns the latency model and its random generator,
so a whole episode — including when each chunk lands — is a function of the seed alone and
a board's latency can be emulated exactly on any machine.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import numpy as np

from edgevla.runtime.latency import LatencyModel


@runtime_checkable
class Clock(Protocol):
    virtual: bool

    def now(self) -> float:
        """Seconds since an arbitrary origin (monotonic)."""
        ...

    def wait_until(self, t: float) -> None: ...


class WallClock:
    """Real time from `time.perf_counter`. `wait_until` sleeps until `spin_s` before the
    deadline, then polls the clock: a sleep may end late by the kernel's timer slack and
    wake-up latency, a short poll does not. spin_s=0 only sleeps."""

    virtual = False

    def __init__(self, spin_s: float = 0.0005) -> None:
        if not 0.0 <= spin_s <= 0.01:
            raise ValueError(f"spin_s must be in [0, 0.01] seconds, got {spin_s}")
        self.spin_s = float(spin_s)

    def now(self) -> float:
        return time.perf_counter()

    def wait_until(self, t: float) -> None:
        delay = t - time.perf_counter() - self.spin_s
        if delay > 0:
            time.sleep(delay)
        while time.perf_counter() < t:
            pass


class VirtualClock:
    """Simulated time plus a latency model: deterministic for a given seed.

    `seed` defaults to the model's own seed. Episodes run on one clock continue its random
    stream (different latencies per episode, same sequence every run); build a clock per
    episode with a per-episode seed to make each episode repeatable on its own.
    """

    virtual = True

    def __init__(self, latency: LatencyModel, seed: int | None = None) -> None:
        self.latency = latency
        self.seed = latency.seed if seed is None else int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._now = 0.0

    def now(self) -> float:
        return self._now

    def wait_until(self, t: float) -> None:
        self._now = max(self._now, float(t))

    def sample_latency(self) -> float:
        """One inference latency in seconds, drawn from the model."""
        value = float(self.latency.sample(self._rng))
        if not value >= 0.0:
            raise ValueError(f"latency model returned {value} s; expected >= 0")
        return value
