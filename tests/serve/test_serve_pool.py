"""Worker processes (`isolation="process"`): the same chunks as thread workers, sessions kept
apart across processes, a killed worker restarted (or the server NOT_SERVING when it cannot
be), and no worker process outliving the server — stopped or killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from serve_fakes import FAIL_LOAD_ENV, SPEC, Counter, make_observation

from edgevla.serve import PolicyServer, RemotePolicy, ServeError, check_health
from edgevla.serve.limits import ServeLimits
from edgevla.serve.pool import PolicyLoader

pytestmark = pytest.mark.timeout(60)

PROCESSES = ServeLimits(workers=2, isolation="process")
PIXELS = PolicyLoader(factory="serve_fakes:PixelPolicy")
COUNTER = PolicyLoader(factory="serve_fakes:counter_unless_told_to_fail")


def _gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie not yet reaped by init counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _wait_until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_worker_processes_serve_the_chunks_thread_workers_serve_bit_for_bit(serve):
    threads = serve({"p": PIXELS}, limits=ServeLimits(workers=2))
    processes = serve({"p": PIXELS}, limits=PROCESSES)
    assert processes.workers["p"].isolation == "process+fork"
    assert processes.specs == threads.specs
    chunks = {}
    for label, server in (("thread", threads), ("process", processes)):
        with RemotePolicy(server.address, SPEC) as client:
            chunks[label] = [
                client.predict_chunk(make_observation(seed=s), 10 + s) for s in range(3)
            ]
    for a, b in zip(chunks["thread"], chunks["process"], strict=True):
        assert a.timestep == b.timestep
        np.testing.assert_array_equal(a.actions, b.actions)
    assert len({c.actions.tobytes() for c in chunks["process"]}) == 3  # inputs mattered


def test_sessions_keep_their_own_state_across_and_within_worker_processes(serve):
    server = serve({"count": COUNTER}, limits=PROCESSES)
    obs = make_observation()
    a, b, c = (RemotePolicy(server.address, SPEC) for _ in range(3))  # c shares a process
    for client in (a, b, c):
        client.connect()
    assert [a.predict_chunk(obs, t).actions[0, 0] for t in range(3)] == [1, 2, 3]
    assert [b.predict_chunk(obs, t).actions[0, 0] for t in range(2)] == [1, 2]
    assert c.predict_chunk(obs, 0).actions[0, 0] == 1
    b.reset()  # a new session for b: nobody else's state moves
    assert b.predict_chunk(obs, 0).actions[0, 0] == 1
    assert a.predict_chunk(obs, 3).actions[0, 0] == 4
    assert c.predict_chunk(obs, 1).actions[0, 0] == 2
    for client in (a, b, c):
        client.close()


def test_a_killed_worker_process_is_restarted_and_serving_goes_on(serve):
    server = serve({"count": COUNTER}, limits=PROCESSES)
    runner = server.workers["count"].runner
    with RemotePolicy(server.address, SPEC, timeout=30) as client:
        assert client.predict_chunk(make_observation(), 0).actions[0, 0] == 1
        for pid in runner.pids():
            os.kill(pid, signal.SIGKILL)
        _wait_until(lambda: runner.restarts == 2)  # found dead while idle, restarted
        assert client.predict_chunk(make_observation(), 1).actions[0, 0] == 1  # state lost
    assert check_health(server.address) == "SERVING"


def test_a_hung_worker_process_is_killed_and_restarted_and_serving_goes_on(serve):
    limits = ServeLimits(workers=1, isolation="process", infer_timeout_s=1.0)
    server = serve({"p": PolicyLoader(factory="serve_fakes:HangsWhenTold")}, limits=limits)
    runner = server.workers["p"].runner
    (hung_pid,) = runner.pids()
    with RemotePolicy(server.address, SPEC, timeout=30) as client:
        started = time.monotonic()
        with pytest.raises(ServeError, match="no answer within 1 s"):
            client.predict_chunk(make_observation(task="hang"), 0)
        assert time.monotonic() - started < 15  # not the client's 30 s deadline
        assert _gone(hung_pid) and runner.restarts == 1
        assert client.predict_chunk(make_observation(seed=3), 1).timestep == 1
    assert check_health(server.address) == "SERVING"


def test_a_worker_process_that_cannot_restart_makes_the_server_not_serving(serve, monkeypatch):
    server = serve({"count": COUNTER}, limits=PROCESSES)
    runner = server.workers["count"].runner
    monkeypatch.setenv(FAIL_LOAD_ENV, "1")  # what a restarted worker will inherit
    os.kill(runner.pids()[0], signal.SIGKILL)
    _wait_until(lambda: check_health(server.address) == "NOT_SERVING")
    with RemotePolicy(server.address, SPEC, timeout=5) as client, pytest.raises(ServeError):
        client.predict_chunk(make_observation(), 0)


def test_a_source_that_does_not_load_fails_start_with_the_workers_reason():
    server = PolicyServer({"x": "no-such-kind"}, port=0, limits=PROCESSES)
    with pytest.raises(ServeError, match="not a known kind"):
        server.start()


def test_process_isolation_refuses_an_already_loaded_policy():
    server = PolicyServer({"c": Counter()}, port=0, limits=PROCESSES)
    with pytest.raises(ServeError, match="pass its source or a PolicyLoader"):
        server.start()


def test_stopping_the_server_ends_every_worker_process(serve):
    server = serve({"hold": "hold:chunk_size=8,cameras=top+gripper,image=24x32"}, limits=PROCESSES)
    pids = server.workers["hold"].runner.pids()
    assert len(pids) == 2 and not any(_gone(p) for p in pids)
    server.stop(grace=0)
    assert all(_gone(p) for p in pids)


CRASHING_SERVER = """
import sys
from edgevla.serve import PolicyServer
from edgevla.serve.limits import ServeLimits
server = PolicyServer({"hold": "hold"}, port=0, limits=ServeLimits(workers=2, isolation="process"))
server.start()
print(*server.workers["hold"].runner.pids(), flush=True)
sys.stdin.read()
"""


def test_a_killed_server_leaves_no_worker_process_behind():
    server = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        pids = [int(p) for p in server.stdout.readline().split()]
        assert len(pids) == 2
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        _wait_until(lambda: all(_gone(p) for p in pids))  # their stdin closed: they exit
    finally:
        server.kill()
        server.wait(10)
        server.stdin.close()
        server.stdout.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_worker_processes_serve_a_bundle_as_loaded_here_without_torch(serve, fp32_bundle):
    from edgevla.runtime.bundle import BundleRuntimeConfig, load_bundle

    local = load_bundle(fp32_bundle, BundleRuntimeConfig(threads=1))
    server = serve({"b": str(fp32_bundle)}, limits=ServeLimits(workers=2, isolation="process"))
    for pid in server.workers["b"].runner.pids():
        assert "libtorch" not in Path(f"/proc/{pid}/maps").read_text()
    with RemotePolicy(server.address) as client:
        for seed in range(2):
            obs = make_observation(client.spec, seed=seed)
            np.testing.assert_allclose(
                client.predict_chunk(obs, seed).actions, local.predict_chunk(obs).actions, atol=1e-5
            )
