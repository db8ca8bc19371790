"""The server going away mid-episode: a prompt ServerUnavailable, never stale actions, and
reconnect() with bounded backoff once it is back on the same port."""

from __future__ import annotations

import threading
import time

import pytest
from serve_fakes import SPEC, EchoPolicy, GatedPolicy, make_observation

from edgevla.serve import Backoff, PolicyServer, RemotePolicy, ServerUnavailable, SessionLost

pytestmark = pytest.mark.timeout(60)

FAST = Backoff(initial_s=0.05, factor=2.0, max_s=0.2, max_attempts=4, attempt_timeout_s=0.5)


def test_server_stop_gives_server_unavailable_promptly_then_reconnect_after_restart(serve):
    server = serve({"echo": EchoPolicy()})
    port = server.port
    client = RemotePolicy(server.address, SPEC, timeout=5, backoff=FAST)
    client.connect()
    assert client.predict_chunk(make_observation(), 0).timestep == 0
    old_session = client.session_id
    server.stop(grace=0)

    start = time.monotonic()
    with pytest.raises(ServerUnavailable, match="UNAVAILABLE"):
        client.predict_chunk(make_observation(), 1)
    assert time.monotonic() - start < 2.0  # promptly, far below the 5 s call timeout

    with pytest.raises(ServerUnavailable, match="gave up after 4 attempts"):
        client.reconnect()  # nobody there: bounded, then a clear error
    with pytest.raises(SessionLost, match="reconnect"):  # still "unavailable", not a bug
        client.predict_chunk(make_observation(), 1)

    restarted = serve({"echo": EchoPolicy()}, port=port)
    assert restarted.port == port
    spec = client.reconnect()
    assert spec == SPEC and client.session_id != old_session
    assert client.predict_chunk(make_observation(), 2).timestep == 2
    client.close()


def test_reconnect_waits_for_a_server_that_comes_back_during_the_backoff(serve):
    server = serve({"echo": EchoPolicy()})
    port = server.port
    client = RemotePolicy(server.address, SPEC, backoff=Backoff(0.1, 2.0, 0.4, 10, 0.5))
    client.connect()
    server.stop(grace=0)
    later = threading.Timer(0.5, lambda: serve({"echo": EchoPolicy()}, port=port))
    later.start()
    assert client.reconnect() == SPEC
    assert client.predict_chunk(make_observation(), 3).timestep == 3
    later.join()
    client.close()


def test_a_restarted_server_has_forgotten_the_session(serve):
    server = serve({"echo": EchoPolicy()})
    port = server.port
    client = RemotePolicy(server.address, SPEC, timeout=2, backoff=FAST)
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
    client = RemotePolicy(f"127.0.0.1:{port}", SPEC, backoff=FAST)
    start = time.monotonic()
    with pytest.raises(ServerUnavailable, match=r"gave up after 0\.5 s"):
        client.connect(timeout=0.5)
    assert time.monotonic() - start < 2.0
    later = threading.Timer(0.3, lambda: serve({"echo": EchoPolicy()}, port=port))
    later.start()
    assert client.connect(timeout=5) == SPEC
    later.join()
    client.close()
