"""A policy that becomes unavailable mid-episode (a server restarting): the arm holds, the
worker reconnects on the RetrySchedule, the failed request is never retried. Wall clock, ~2 s."""

import threading

import numpy as np
import pytest

from edgevla.contracts import PolicyUnavailable
from edgevla.runtime.clocks import WallClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.inference import ThreadedInference
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.retry import RetrySchedule
from edgevla.runtime.toy import LinePolicy, PointEnv

pytestmark = pytest.mark.timeout(30)


class FlakyPolicy(LinePolicy):
    """Unavailable while `down` is set; `reconnect()` fails until it is cleared."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.down = threading.Event()
        self.planned: list[int] = []  # timesteps of the requests it answered
        self.failed: list[int] = []
        self.reconnect_calls = 0
        self.reconnect_timeouts: list[float] = []

    def predict_chunk(self, observation, timestep=0):
        if self.down.is_set():
            self.failed.append(timestep)
            raise PolicyUnavailable(f"server gone (request {timestep})")
        self.planned.append(timestep)
        return super().predict_chunk(observation, timestep)

    def reconnect(self, timeout: float) -> None:
        self.reconnect_calls += 1
        self.reconnect_timeouts.append(timeout)
        if self.down.is_set():
            raise PolicyUnavailable("still gone")


class Outage:
    """Takes the policy down at its second request, brings it back 0.4 s later."""

    def __init__(self, policy: FlakyPolicy) -> None:
        self.policy, self.requests, self.records = policy, 0, []

    def on_tick(self, record) -> None:
        self.records.append(record)
        self.requests += record.requested
        if record.requested and self.requests == 2:
            self.policy.down.set()
            threading.Timer(0.4, self.policy.down.clear).start()


def test_outage_holds_the_arm_reconnects_and_never_retries_the_failed_request():
    policy = FlakyPolicy(chunk_size=20, speed=0.5)
    watch = Outage(policy)
    config = RuntimeConfig(
        trigger="latency_aware", latency="wall", initial_latency_s=0.05, margin_s=0.1
    )
    with ControlLoop(
        PointEnv(goal=1.0), policy, config, clock=WallClock(), subscribers=[watch]
    ) as loop:
        result = loop.run_episode(max_ticks=300)
    assert result.success and result.reconnects == 1
    assert policy.reconnect_calls >= 2  # the first try came while the policy was still down
    assert len(policy.failed) == 1 and policy.failed[0] not in policy.planned
    assert policy.planned == sorted(policy.planned) and policy.planned[-1] > policy.failed[0]
    outage = [r for r in watch.records if r.outage]
    # most of the 0.4 s, plus at most one backoff step (0.1, 0.2, 0.4 s) before the retry
    assert 5 <= len(outage) <= 30
    assert result.outage_ticks == len(outage) and result.starved_ticks == 0
    held = np.stack([r.action for r in outage])
    np.testing.assert_array_equal(held, np.repeat(held[:1], len(held), axis=0))
    assert all(r.idle for r in outage)


def test_unavailable_at_episode_start_is_not_fatal():
    class DownAtReset(FlakyPolicy):
        def reset(self) -> None:
            raise PolicyUnavailable("no session yet")

    with ControlLoop(
        PointEnv(goal=0.3), DownAtReset(chunk_size=20), RuntimeConfig(trigger="sync", latency="wall"),
        clock=WallClock(),
    ) as loop:  # fmt: skip
        assert loop.run_episode(max_ticks=120).success


def test_reset_interrupts_a_reconnect_that_cannot_succeed():
    policy = FlakyPolicy(chunk_size=5)
    policy.down.set()
    inference = ThreadedInference(policy, WallClock(), RetrySchedule(0.05, 2.0, 0.1))
    try:
        inference.submit(PointEnv().reset(), 0)
        deadline = threading.Event()
        while not inference.unavailable and not deadline.wait(0.01):
            pass
        assert inference.unavailable and inference.in_flight
        inference.reset(timeout_s=2.0)  # the episode ended: stop retrying
        assert not inference.in_flight and not inference.unavailable
        assert inference.poll(0) == []
    finally:
        inference.close()
    with pytest.raises(ValueError, match="initial_s <= max_s"):
        RetrySchedule(1.0, 2.0, 0.5)


def test_the_worker_gives_up_after_max_attempts_and_the_episode_fails():
    policy = FlakyPolicy(chunk_size=5)
    policy.down.set()
    retry = RetrySchedule(0.01, 2.0, 0.02, attempt_timeout_s=0.7, max_attempts=3)
    config = RuntimeConfig(trigger="sync", latency="wall", retry=retry)
    loop = ControlLoop(PointEnv(), policy, config, clock=WallClock())
    with loop, pytest.raises(RuntimeError, match="gave up after 3 reconnect attempts"):
        loop.run_episode(max_ticks=300)
    assert policy.reconnect_calls == 3 and policy.reconnect_timeouts == [0.7] * 3
