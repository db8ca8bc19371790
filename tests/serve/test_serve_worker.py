"""Inference off the RPC threads: a pool of workers per policy keeping only the newest
observation per session, at most max_in_flight of one session's requests at once."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from serve_fakes import SPEC, EchoPolicy, GatedPolicy, infer_request, make_observation

from edgevla.serve import RemotePolicy, check_health
from edgevla.serve.worker import InProcess, PolicyWorker, SupersededError, WorkerStopped

pytestmark = pytest.mark.timeout(30)


def _wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def test_worker_keeps_only_the_newest_pending_observation_per_session():
    policy = GatedPolicy()
    worker = PolicyWorker("p", InProcess("p", policy))
    worker.start()
    obs = make_observation()
    running = worker.submit("s1", obs, 0, 8)
    assert policy.entered.wait(5)  # t=0 is being computed; everything below waits
    stale = worker.submit("s1", obs, 1, 8)
    other = worker.submit("s2", obs, 10, 8)
    newest = worker.submit("s1", obs, 2, 8)
    with pytest.raises(SupersededError, match="timestep 1 superseded by a newer one"):
        stale.result(timeout=1)  # answered at once, never computed
    assert worker.pending_sessions() == ["s1", "s2"]  # s1 kept its place in line
    policy.gate.set()
    assert running.result(5).timestep == 0
    assert newest.result(5).timestep == 2 and other.result(5).timestep == 10
    assert [t for t, _ in policy.seen] == [0, 2, 10]
    worker.stop(1)


def test_worker_reports_queue_wait_and_compute_on_its_own_clock():
    policy = GatedPolicy()
    worker = PolicyWorker("p", InProcess("p", policy))
    worker.start()
    first = worker.submit("a", make_observation(), 0, 8)
    assert policy.entered.wait(5)
    second = worker.submit("b", make_observation(), 0, 8)
    time.sleep(0.1)
    policy.gate.set()
    assert first.result(5).compute_s >= 0.09  # it sat at the gate while computing
    assert second.result(5).queue_wait_s >= 0.09  # it waited behind the first one
    worker.stop(1)


def test_stopping_fails_pending_jobs_instead_of_leaving_them_hanging():
    policy = GatedPolicy()
    worker = PolicyWorker("p", InProcess("p", policy))
    worker.start()
    worker.submit("a", make_observation(), 0, 8)
    assert policy.entered.wait(5)
    pending = worker.submit("b", make_observation(), 0, 8)
    policy.gate.set()
    worker.stop(1)
    with pytest.raises((WorkerStopped, SupersededError)):
        pending.result(1)
    with pytest.raises(WorkerStopped):
        worker.submit("c", make_observation(), 0, 8).result(1)


def test_older_pending_request_over_grpc_is_aborted_as_superseded(serve, raw_client):
    policy = GatedPolicy()
    server = serve({"gated": policy})
    raw = raw_client(server.address)
    sid = raw.open(policy="gated")
    obs = make_observation()
    results: dict[int, object] = {}

    def send(t: int) -> None:
        try:
            results[t] = raw.infer(infer_request(sid, obs, t), timeout=10).timestep
        except grpc.RpcError as e:
            results[t] = e

    threads = [threading.Thread(target=send, args=(0,))]
    threads[0].start()
    assert policy.entered.wait(5)
    worker = server.workers["gated"]
    for t in (1, 2):
        threads.append(threading.Thread(target=send, args=(t,)))
        threads[-1].start()
        if t == 1:
            _wait_until(lambda: worker.pending_sessions() == [sid])
    _wait_until(lambda: 1 in results)
    assert isinstance(results[1], grpc.RpcError)
    assert results[1].code() == grpc.StatusCode.ABORTED
    assert "superseded" in results[1].details()
    assert check_health(server.address) == "SERVING"  # RPC threads are free while it computes
    policy.gate.set()
    for thread in threads:
        thread.join(10)
    assert results[0] == 0 and results[2] == 2
    assert [t for t, _ in policy.seen] == [0, 2]


def test_a_slow_policy_does_not_block_another_policy(serve):
    slow = GatedPolicy()
    server = serve({"slow": slow, "fast": EchoPolicy()})
    slow_client = RemotePolicy(server.address, SPEC, policy="slow")
    slow_client.connect()
    blocked = threading.Thread(target=slow_client.predict_chunk, args=(make_observation(), 0))
    blocked.start()
    assert slow.entered.wait(5)
    with RemotePolicy(server.address, SPEC, policy="fast", timeout=2) as fast:
        assert fast.predict_chunk(make_observation(), 7).timestep == 7
    slow.gate.set()
    blocked.join(5)
    slow_client.close()


class Concurrency(EchoPolicy):
    """Blocks in predict_chunk until `gate`; `inside` counts the calls running at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.inside = [0, 0]  # [now, most ever]

    def predict_chunk(self, observation, timestep=0):
        with self.lock:
            self.inside[0] += 1
            self.inside[1] = max(self.inside)
        self.gate.wait(10)
        with self.lock:
            self.inside[0] -= 1
        return super().predict_chunk(observation, timestep)


@pytest.mark.parametrize(
    ("workers", "max_in_flight", "sessions", "expect"),
    [(1, 2, ["a", "b"], 1), (2, 2, ["a", "b"], 2), (2, 2, ["a", "a"], 2), (2, 1, ["a", "a"], 1)],
)
def test_the_pool_runs_requests_in_parallel_up_to_its_limits(
    workers, max_in_flight, sessions, expect
):
    policy = Concurrency()
    worker = PolicyWorker("p", InProcess("p", policy), workers=workers, max_in_flight=max_in_flight)
    worker.start()
    futures = []
    for t, session in enumerate(sessions):
        futures.append(worker.submit(session, make_observation(), t, 8))
        running = min(expect, t + 1)
        _wait_until(lambda n=running: policy.inside[0] == n)
    time.sleep(0.1)  # time for a wrongly admitted call to enter
    assert policy.inside[1] == expect
    policy.gate.set()
    assert [f.result(5).timestep for f in futures] == [0, 1]
    worker.stop(1)
