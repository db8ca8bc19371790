"""The scripted policy served over loopback gRPC, driving the sim on the wall clock — and the
server restarting mid-episode: the arm holds, the client reconnects, the episode goes on."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edgevla.dataset.splits import evaluation_sets
from edgevla.evaluate.episodes import run_episodes
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.retry import RetrySchedule
from edgevla.serve import PolicyServer, RemotePolicy
from edgevla.sim.scripted_policy import ScriptedChunkPolicy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FAST = RetrySchedule(initial_s=0.05, factor=2.0, max_s=0.2, attempt_timeout_s=0.5)


class RecordingScripted(ScriptedChunkPolicy):
    """Server side: remembers the timestep of every observation it planned from."""

    def __init__(self, seen: list[int], **kw) -> None:
        super().__init__(**kw)
        self.seen = seen

    def predict_chunk(self, observation, timestep=0):
        self.seen.append(int(timestep))
        return super().predict_chunk(observation, timestep)


class Ticks:
    def __init__(self) -> None:
        self.records = []

    def on_tick(self, record) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def start():
    return evaluation_sets(tuple(c for c in range(1, 12) if c != 6), 6)["test"][0]


def wall(apc: int | None = None) -> RuntimeConfig:
    return RuntimeConfig(latency="wall", initial_latency_s=0.15, actions_per_chunk=apc)


def test_loopback_episode_with_the_scripted_policy_succeeds(start):
    seen: list[int] = []
    server = PolicyServer({"scripted": RecordingScripted(seen)}, port=0)
    server.start()
    client = RemotePolicy(server.address, task="Put the tea bag in the mug", retry=FAST)
    try:
        spec = client.connect(timeout=5)
        assert spec.cameras == () and "observation.environment_state" in str(spec.extra)
        (result,) = run_episodes(client, [start], runtime=wall(), max_seconds=15)
    finally:
        client.close()
        server.stop(grace=0)
    assert result.success and not result.virtual_time
    assert result.starved_ticks == 0 and result.outage_ticks == 0
    assert seen == sorted(set(seen)) and len(seen) == result.chunks_received


def test_server_restart_mid_episode_holds_the_arm_and_reconnects(start):
    seen: list[int] = []
    server = PolicyServer({"scripted": RecordingScripted(seen)}, port=0)
    port = server.start()
    restarted: list[PolicyServer] = []
    ticks = Ticks()

    class Saboteur:
        """Stops the server right after the second request, restarts it 0.6 s later."""

        requests = 0

        def on_tick(self, record) -> None:
            self.requests += record.requested
            if record.requested and self.requests == 2:
                server.stop(grace=0)
                threading.Timer(0.6, self._restart).start()

        def _restart(self) -> None:
            again = PolicyServer({"scripted": RecordingScripted(seen)}, port=port)
            again.start()
            restarted.append(again)

    client = RemotePolicy(server.address, retry=FAST, timeout=5)
    try:
        client.connect(timeout=5)
        (result,) = run_episodes(
            client, [start], runtime=wall(), max_seconds=25,
            subscribers=[ticks, Saboteur()],
        )  # fmt: skip
    finally:
        client.close()
        server.stop(grace=0)
        for s in restarted:
            s.stop(grace=0)
    assert restarted, "the server was never restarted"
    assert result.success, result.summary()
    assert result.reconnects == 1 and result.outage_ticks >= 5  # held for most of 0.6 s
    records = ticks.records
    outage = [r.tick for r in records if r.outage]
    assert outage == list(range(outage[0], outage[-1] + 1))  # one contiguous hold
    held = np.stack([records[t].action for t in outage])
    np.testing.assert_array_equal(
        held, np.repeat(records[outage[0] - 1].action[None], len(held), 0)
    )
    # The request that died with the server is never retried: every observation the servers
    # planned from is newer than the one before, and no chunk arrived twice.
    assert seen == sorted(set(seen))
    assert result.chunks_received <= len(seen)
    assert result.chunks_received < result.inferences  # the lost request got no chunk
