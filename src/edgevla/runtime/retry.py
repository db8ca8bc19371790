"""The one retry schedule for a policy that is unavailable (a policy server down or restarting).

The inference worker owns the repetition: after an outage it calls the policy's
`reconnect(timeout=attempt_timeout_s)` — a single attempt — and waits between attempts, so an
episode reset can interrupt it between any two. `RemotePolicy.connect()` at start-up retries
with the same schedule and the same loop (`RetrySchedule.retry`), bounded by its timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from edgevla.contracts import PolicyUnavailable

T = TypeVar("T")


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


@dataclass(frozen=True)
class RetrySchedule:
    """Waits initial_s, x factor after each failure, capped at max_s; each attempt may take
    attempt_timeout_s. max_attempts None: retry until interrupted (the episode ends) — a robot
    holds until its server is back; N: give up after N attempts (the episode then fails).
    max_s is short because an attempt on a server that is down already lasts its
    attempt_timeout_s (the remote client waits for it, re-dialing every 0.1 s): a long wait
    between attempts would only be time in which a restarted server goes unnoticed."""

    initial_s: float = 0.1
    factor: float = 2.0
    max_s: float = 0.25
    attempt_timeout_s: float = 2.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s and self.factor >= 1):
            raise ValueError(
                f"RetrySchedule needs 0 < initial_s <= max_s and factor >= 1, got {self}"
            )
        if not self.attempt_timeout_s > 0:
            raise ValueError(f"attempt_timeout_s must be > 0 s, got {self.attempt_timeout_s}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1 or None, got {self.max_attempts}")

    def delay(self, waited: int) -> float:
        """Seconds of the wait after `waited` earlier waits (0-based)."""
        return min(self.max_s, self.initial_s * self.factor ** min(waited, 64))

    def retry(
        self,
        attempt: Callable[[], T],
        *,
        wait: Callable[[float], bool] = _sleep,
        after: PolicyUnavailable | None = None,
        on_failure: Callable[[int, PolicyUnavailable], None] | None = None,
    ) -> T:
        """`attempt()` until it returns; only PolicyUnavailable is retried, anything else
        propagates at once. `wait(seconds)` returns False to stop (an interrupt, a deadline).
        `after`: the failure that called for retrying — the first attempt then waits too (a
        server that just went away is rarely back at once). `on_failure(n, error)` hears of
        each failed attempt. Raises the last PolicyUnavailable once max_attempts are used up
        or `wait` stops."""
        failures, waited, last = 0, 0, after
        while True:
            if last is not None:
                if self.max_attempts is not None and failures >= self.max_attempts:
                    raise last
                if not wait(self.delay(waited)):
                    raise last
                waited += 1
            try:
                return attempt()
            except PolicyUnavailable as e:
                failures, last = failures + 1, e
                if on_failure is not None:
                    on_failure(failures, e)
