"""No lock-out and isolation: empty opens are refused, idle sessions are swept on a timer, caps
evict sessions that never inferred before refusing, each session has its own policy state, and
health and session control answer while every inference slot is taken."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from serve_fakes import SPEC, Counter, EchoPolicy, GatedPolicy, infer_request, make_observation

from edgevla.features import STATE_KEY
from edgevla.runtime.retry import RetrySchedule
from edgevla.serve import RemotePolicy, ServerUnavailable, check_health
from edgevla.serve.limits import ServeLimits
from edgevla.serve.proto import policy_service_pb2 as pb

pytestmark = pytest.mark.timeout(60)
Code = grpc.StatusCode
FAST = RetrySchedule(initial_s=0.05, factor=1.5, max_s=0.1, attempt_timeout_s=0.5)


def test_an_empty_open_session_is_not_a_session(serve, raw_client):
    server = serve({"echo": EchoPolicy()})
    raw = raw_client(server.address)
    with pytest.raises(grpc.RpcError) as e:
        raw.open()
    assert e.value.code() == Code.INVALID_ARGUMENT
    assert "must name a policy" in e.value.details()
    channel = grpc.insecure_channel(server.address)  # zero bytes parse as an empty message
    with pytest.raises(grpc.RpcError) as e:
        channel.unary_unary("/edgevla.v1.PolicyService/OpenSession")(b"", timeout=5)
    assert e.value.code() == Code.INVALID_ARGUMENT
    channel.close()
    assert len(server.sessions) == 0
    raw.open(policy="echo")
    raw.open(adopt=True)
    raw.open(SPEC)
    assert len(server.sessions) == 3


def test_idle_sessions_are_swept_on_a_timer_without_another_open(serve, raw_client):
    server = serve({"echo": EchoPolicy()}, limits=ServeLimits(session_idle_s=0.2, sweep_s=0.05))
    raw = raw_client(server.address)
    idle = raw.open(policy="echo")
    busy = raw.open(policy="echo")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # one session keeps inferring, the other sits idle
        raw.infer(infer_request(busy, make_observation()))
        time.sleep(0.05)
    assert [s.id for s in server.sessions.all()] == [busy]
    with pytest.raises(grpc.RpcError) as e:
        raw.infer(infer_request(idle, make_observation()))
    assert e.value.code() == Code.NOT_FOUND


def test_caps_evict_the_oldest_session_that_never_inferred_then_refuse(serve, raw_client):
    limits = ServeLimits(max_sessions=4, max_sessions_per_peer=3)
    server = serve({"echo": EchoPolicy()}, limits=limits)
    raw = raw_client(server.address)
    robot = raw.open(policy="echo")
    raw.infer(infer_request(robot, make_observation()))  # a running robot: never evicted
    opened = [raw.open(policy="echo") for _ in range(50)]
    ids = {s.id for s in server.sessions.all()}
    assert ids == {robot, *opened[-2:]}  # the per-host cap of 3, newest unclaimed kept
    for sid in opened[-2:]:
        raw.infer(infer_request(sid, make_observation()))
    with pytest.raises(grpc.RpcError) as e:  # three running sessions from this host: full
        raw.open(policy="echo")
    assert e.value.code() == Code.RESOURCE_EXHAUSTED
    assert "3 sessions from ipv4:127.0.0.1 (the limit), all running" in e.value.details()
    raw.infer(infer_request(robot, make_observation()))  # refusing harmed nobody


def test_thousands_of_opens_from_one_host_lock_out_no_robot(serve, raw_client):
    server = serve({"echo": EchoPolicy()})
    running = RemotePolicy(server.address, SPEC, retry=FAST)
    running.connect(timeout=5)
    running.predict_chunk(make_observation(), 0)
    session = running.session_id
    stop, chunks = threading.Event(), []

    def robot() -> None:
        t = 1
        while not stop.is_set():
            with contextlib.suppress(ServerUnavailable):  # over the host's rate: held, not lost
                chunks.append(running.predict_chunk(make_observation(), t).timestep)
            t += 1
            time.sleep(1 / 30)

    def flood(n: int) -> None:
        raw = raw_client(server.address)
        for _ in range(n):
            try:
                raw.open(SPEC, client_name="attacker")
            except grpc.RpcError as e:
                assert e.code() == Code.RESOURCE_EXHAUSTED, e.details()

    thread = threading.Thread(target=robot)
    thread.start()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(flood, [500] * 4))
        newcomer = RemotePolicy(server.address, SPEC, retry=FAST)
        start = time.monotonic()
        newcomer.connect(timeout=5)
        newcomer.predict_chunk(make_observation(), 0)
        took = time.monotonic() - start
    stop.set()
    thread.join(5)
    assert running.session_id == session and len(chunks) > 0
    assert running.predict_chunk(make_observation(), 99).timestep == 99
    assert took < 1.0, took
    assert len(server.sessions) <= ServeLimits().max_sessions_per_peer
    running.close()
    newcomer.close()


def test_each_session_has_its_own_policy_state(serve, raw_client):
    base = Counter()
    server = serve({"count": base})
    assert server.workers["count"].isolation == "copy"
    a = RemotePolicy(server.address, SPEC)
    a.connect()
    assert [a.predict_chunk(make_observation(), t).actions[0, 0] for t in range(3)] == [1, 2, 3]
    b = RemotePolicy(server.address, SPEC)
    b.connect()
    raw = raw_client(server.address)
    bad = infer_request(b.session_id, make_observation())
    bad.observation[STATE_KEY].data = b"\0"
    with pytest.raises(grpc.RpcError):
        raw.infer(bad)
    assert b.predict_chunk(make_observation(), 0).actions[0, 0] == 1
    b.reset()  # a new session for b: a's state is untouched
    assert b.predict_chunk(make_observation(), 0).actions[0, 0] == 1
    assert a.predict_chunk(make_observation(), 3).actions[0, 0] == 4
    assert base.calls == 0  # the loaded object is only the template
    a.close()
    b.close()


def test_health_and_session_control_answer_while_every_inference_slot_waits(serve, raw_client):
    policy = GatedPolicy()
    limits = ServeLimits(rpc_threads=6, control_threads=2)
    server = serve({"gated": policy}, limits=limits)
    raws = [raw_client(server.address) for _ in range(8)]
    sessions = [r.open(policy="gated") for r in raws]
    outcomes: list[object] = []

    def call(i: int) -> None:
        try:
            outcomes.append(raws[i].infer(infer_request(sessions[i], make_observation()), 20))
        except grpc.RpcError as e:
            outcomes.append(e.code())

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    assert policy.entered.wait(5)
    time.sleep(0.3)  # all four slots waiting, the other four calls refused as busy
    start = time.monotonic()
    assert check_health(server.address, timeout=2) == "SERVING"
    sid = raws[0].open(policy="gated")
    raws[0].stub.CloseSession(pb.CloseSessionRequest(session_id=sid), timeout=2)
    assert time.monotonic() - start < 1.0
    assert outcomes.count(Code.RESOURCE_EXHAUSTED) == 8 - limits.infer_slots
    policy.gate.set()
    for t in threads:
        t.join(10)
    assert sum(isinstance(o, pb.InferReply) for o in outcomes) == limits.infer_slots


class Uncopyable(Counter):
    """Holds a native handle (here a lock) that cannot be deep-copied, like a runtime session."""

    def __init__(self) -> None:
        super().__init__()
        self.handle = threading.Lock()


def test_a_policy_that_cannot_be_copied_is_shared_reset_per_session_and_says_so(serve, caplog):
    server = serve({"native": Uncopyable()})
    with caplog.at_level(logging.WARNING, logger="edgevla.serve"):
        for _ in range(2):
            with RemotePolicy(server.address, SPEC) as client:
                first = client.predict_chunk(make_observation(), 0).actions[0, 0]
                assert first == 1  # each session starts from a reset policy
    assert server.workers["native"].isolation == "shared_reset"
    warnings = [r.getMessage() for r in caplog.records if "cannot be copied" in r.getMessage()]
    assert len(warnings) == 1 and "give it fork()" in warnings[0]
