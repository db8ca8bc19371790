"""The server going away mid-episode: a prompt ServerUnavailable, never stale actions, a
single-attempt reconnect() that works once it is back on the same port, and an episode reset
that never waits out the retry schedule (the inference worker owns retrying)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from serve_fakes import SPEC, EchoPolicy, GatedPolicy, make_observation

from edgevla.contracts import ActionChunk, PolicySpec
from edgevla.features import STATE_KEY
from edgevla.runtime.clocks import WallClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.retry import RetrySchedule
from edgevla.runtime.toy import PointEnv
from edgevla.serve import PolicyServer, RemotePolicy, ServerUnavailable, SessionLost

pytestmark = pytest.mark.timeout(60)

FAST = RetrySchedule(initial_s=0.05, factor=2.0, max_s=0.2, attempt_timeout_s=0.5)
# Four attempts 5 s apart: ~15 s of waiting if anything at an episode start went through it.
SLOW = RetrySchedule(initial_s=5.0, factor=1.0, max_s=5.0, attempt_timeout_s=1.0, max_attempts=4)


class CountingClient(RemotePolicy):
    """Counts attempts to open a session: connect, reconnect and reset all make them."""

    opens = 0

    def _open(self, channel, stub, timeout):
        self.opens += 1
        return super()._open(channel, stub, timeout)


def test_server_stop_gives_server_unavailable_promptly_then_reconnect_after_restart(serve):
    server = serve({"echo": EchoPolicy()})
    port = server.port
    client = RemotePolicy(server.address, SPEC, timeout=5, retry=FAST)
    client.connect()
    assert client.predict_chunk(make_observation(), 0).timestep == 0
    old_session = client.session_id
    server.stop(grace=0)

    start = time.monotonic()
    with pytest.raises(ServerUnavailable, match="UNAVAILABLE"):
        client.predict_chunk(make_observation(), 1)
    assert time.monotonic() - start < 2.0  # promptly, far below the 5 s call timeout

    with pytest.raises(ServerUnavailable, match="OpenSession"):
        client.reconnect()  # nobody there: one attempt, then a clear error
    with pytest.raises(SessionLost, match="reconnect"):  # still "unavailable", not a bug
        client.predict_chunk(make_observation(), 1)

    restarted = serve({"echo": EchoPolicy()}, port=port)
    assert restarted.port == port
    spec = client.reconnect()
    assert spec == SPEC and client.session_id != old_session
    assert client.predict_chunk(make_observation(), 2).timestep == 2
    client.close()


def test_reset_and_reconnect_make_one_attempt_each_against_a_dead_server(serve):
    server = serve({"echo": EchoPolicy()})
    client = CountingClient(server.address, SPEC, retry=SLOW)
    client.connect(timeout=5)
    server.stop(grace=0)
    with pytest.raises(ServerUnavailable):
        client.predict_chunk(make_observation(), 0)
    before = client.opens
    with pytest.raises(ServerUnavailable, match="OpenSession"):
        client.reset()  # it had a session: one attempt, none of SLOW's waits
    assert client.opens == before + 1
    with pytest.raises(SessionLost, match="no session to reset"):
        client.reset()  # no session left: fails at once, the worker will reconnect
    assert client.opens == before + 1
    with pytest.raises(ServerUnavailable, match="OpenSession"):
        client.reconnect()
    assert client.opens == before + 2
    client.close()


class Hold:
    """Served policy: a chunk that holds the observed state."""

    spec = PolicySpec(chunk_size=10, fps=30.0, cameras=(), action_names=("x0",), state_dim=1)

    def predict_chunk(self, observation, timestep=0):
        state = np.asarray(observation[STATE_KEY], np.float32)
        return ActionChunk(np.repeat(state[None], self.spec.chunk_size, 0), timestep)


class OpensAt:
    """Subscriber: the client's open attempts when each episode starts and ends."""

    def __init__(self, client: CountingClient) -> None:
        self.client, self.starts, self.ends = client, [], []

    def on_episode_start(self, start) -> None:
        self.starts.append(self.client.opens)

    def on_episode_end(self, result) -> None:
        self.ends.append(self.client.opens)


def test_an_episode_starts_holding_the_arm_without_waiting_for_a_dead_server(serve):
    server = serve({"hold": Hold()})
    client = CountingClient(server.address, retry=SLOW)
    client.connect(timeout=5)
    opens = OpensAt(client)
    config = RuntimeConfig(trigger="threshold", threshold=0.5, latency="wall", retry=SLOW)
    loop = ControlLoop(
        PointEnv(tolerance=None), client, config, clock=WallClock(), subscribers=[opens]
    )
    with loop:
        first = loop.run_episode(max_ticks=5)
        server.stop(grace=0)
        lost = loop.run_episode(max_ticks=15)  # reset: one failed attempt, then held
        held = loop.run_episode(max_ticks=15)  # reset: no session, no attempt
    assert first.outage_ticks == 0 and first.chunks_received >= 1
    # The worker's first reconnect waits SLOW's 5 s: no attempt came from it meanwhile.
    assert opens.starts[1] - opens.ends[0] == 1  # policy.reset()'s single attempt
    assert opens.starts[2] - opens.ends[1] == 0
    for result in (lost, held):
        assert result.chunks_received == 0 and result.outage_ticks >= result.ticks - 1
    client.close()


def test_a_restarted_server_has_forgotten_the_session(serve):
    server = serve({"echo": EchoPolicy()})
    port = server.port
    client = RemotePolicy(server.address, SPEC, timeout=2, retry=FAST)
    client.connect()
    server.stop(grace=0)
    serve({"echo": EchoPolicy()}, port=port)
    deadline = time.monotonic() + 5
    while True:  # the channel may first report the dropped connection, then the lost session
        try:
            client.predict_chunk(make_observation(), 0)
        except SessionLost as e:
            assert "unknown session" in str(e)
            break
        except ServerUnavailable:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        else:
            raise AssertionError("a chunk came back for a session the server never opened")
    client.reconnect()
    assert client.predict_chunk(make_observation(), 1).timestep == 1
    client.close()


def test_server_stopping_during_an_inference_fails_the_call_promptly(serve):
    policy = GatedPolicy()
    server = serve({"gated": policy})
    client = RemotePolicy(server.address, SPEC, timeout=10)
    client.connect()
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(client.predict_chunk(make_observation(), 0))
        except Exception as e:
            outcome.append(e)

    thread = threading.Thread(target=call)
    thread.start()
    assert policy.entered.wait(5)
    start = time.monotonic()
    stopper = threading.Thread(target=server.stop, kwargs={"grace": 0.2})
    stopper.start()
    thread.join(5)
    assert time.monotonic() - start < 3.0
    assert len(outcome) == 1 and isinstance(outcome[0], ServerUnavailable), outcome
    policy.gate.set()
    stopper.join(5)
    client.close()


def test_connect_waits_up_to_its_timeout_for_the_server(serve):
    probe = PolicyServer({"echo": EchoPolicy()}, port=0)
    port = probe.start()
    probe.stop(grace=0)  # a port that was free a moment ago
    client = RemotePolicy(f"127.0.0.1:{port}", SPEC, retry=FAST)
    start = time.monotonic()
    with pytest.raises(ServerUnavailable, match=r"gave up after \d+ attempts in 0\.5 s"):
        client.connect(timeout=0.5)
    assert time.monotonic() - start < 2.0
    later = threading.Timer(0.3, lambda: serve({"echo": EchoPolicy()}, port=port))
    later.start()
    assert client.connect(timeout=5) == SPEC
    later.join()
    client.close()


def test_a_restarted_server_is_found_within_a_dial_interval_of_listening(serve):
    """The reconnect attempt waits for ready on a fresh channel that re-dials every 0.1 s, so
    it does not sit in backoff (target: ~0.3 s after listening; benchmarks measure it)."""
    server = serve({"echo": EchoPolicy()})
    port = server.port
    client = RemotePolicy(server.address, SPEC)  # the default RetrySchedule
    client.connect()
    server.stop(grace=0)
    listening: list[float] = []

    def restart() -> None:
        serve({"echo": EchoPolicy()}, port=port)
        listening.append(time.monotonic())

    later = threading.Timer(1.0, restart)
    later.start()
    client.connect(timeout=5)
    found = time.monotonic()
    later.join()
    assert found - listening[0] < 1.0, found - listening[0]
    assert client.predict_chunk(make_observation(), 0).timestep == 0
    client.close()
