"""A robot and a server on loopback: the right chunk, the right timing fields, session rules."""

from __future__ import annotations

import dataclasses

import grpc
import numpy as np
import pytest
from serve_fakes import SPEC, EchoPolicy, infer_request, make_observation

from edgevla.contracts import ChunkPolicy
from edgevla.features import STATE_KEY, image_key
from edgevla.serve import (
    NotConnected,
    RemoteError,
    RemotePolicy,
    ServerUnavailable,
    check_health,
)
from edgevla.serve.proto import policy_service_pb2 as pb

pytestmark = pytest.mark.timeout(30)


def test_session_returns_the_policys_chunk_with_server_timestep_and_timings(serve):
    policy = EchoPolicy()
    server = serve({"echo": policy})
    obs = make_observation(seed=3)
    with RemotePolicy(server.address, SPEC, task="default task") as client:
        chunk = client.predict_chunk(obs, timestep=41)
        assert chunk.timestep == 41
        assert chunk.actions.dtype == np.float32 and chunk.actions.shape == (8, 6)
        expected = obs[STATE_KEY][None, :] + np.arange(8, dtype=np.float32)[:, None]
        np.testing.assert_array_equal(chunk.actions, expected)
        chunk.actions[0, 0] = 123.0  # the chunk is the caller's to modify
        timing = client.last_timing
        assert timing is not None
        assert 0 < timing.compute_s < timing.round_trip_s
        assert 0 <= timing.queue_wait_s < timing.round_trip_s
        assert client.last_compute_s == timing.compute_s
        assert client.last_round_trip_s == timing.round_trip_s
    assert policy.seen == [(41, "pick")]  # the observation's task wins over the session's
    for cam in SPEC.cameras:  # images arrived bit-exact
        np.testing.assert_array_equal(policy.images[0][image_key(cam)], obs[image_key(cam)])


def test_remote_policy_is_a_chunk_policy_that_does_no_io_before_connect():
    client = RemotePolicy("127.0.0.1:1", SPEC)  # nothing listens there; no error yet
    assert isinstance(client, ChunkPolicy)
    assert client.spec == SPEC
    with pytest.raises(NotConnected, match="connect"):
        client.predict_chunk(make_observation())
    assert not hasattr(RemotePolicy("127.0.0.1:1"), "spec")  # unknown until connected


def test_session_task_is_used_when_the_observation_has_none(serve):
    policy = EchoPolicy()
    server = serve({"echo": policy})
    obs = make_observation()
    del obs["task"]
    with RemotePolicy(server.address, task="stack the cubes") as client:
        client.predict_chunk(obs, 0)
    assert policy.seen == [(0, "stack the cubes")]


def test_client_without_expectations_adopts_the_server_spec(serve):
    server = serve({"echo": EchoPolicy()})
    with RemotePolicy(server.address) as client:
        assert client.spec == SPEC


def test_actions_per_chunk_trims_every_reply(serve):
    server = serve({"echo": EchoPolicy()})
    with RemotePolicy(server.address, SPEC, actions_per_chunk=3) as client:
        assert client.spec.chunk_size == 3
        assert client.predict_chunk(make_observation(), 5).actions.shape == (3, 6)
    too_many = RemotePolicy(server.address, SPEC, actions_per_chunk=9)
    with pytest.raises(RemoteError, match=r"actions_per_chunk must be 1\.\.8") as e:
        too_many.connect()
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cameras": ("top",)}, "cameras: robot expects"),
        ({"image_shape": (480, 640)}, r"image shape \(H, W\): robot sends \(480, 640\)"),
        ({"action_names": SPEC.action_names[::-1]}, "action_names"),
        ({"fps": 15.0}, "fps: robot runs at 15, policy was trained at 30"),
        ({"chunk_size": 50}, "chunk_size: robot expects 50, policy predicts 8"),
    ],
)
def test_spec_mismatch_is_failed_precondition_naming_both_sides(serve, change, message):
    server = serve({"echo": EchoPolicy()})
    client = RemotePolicy(server.address, dataclasses.replace(SPEC, **change))
    with pytest.raises(RemoteError, match=message) as e:
        client.connect(timeout=5)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert not client.connected


def test_policy_choice_by_name(serve):
    other = dataclasses.replace(SPEC, chunk_size=4)
    server = serve({"a": EchoPolicy(), "b": EchoPolicy(other)})
    with pytest.raises(RemoteError, match=r"several policies \['a', 'b'\]; name one"):
        RemotePolicy(server.address).connect()
    with pytest.raises(RemoteError, match=r"unknown policy 'c'; this server has \['a', 'b'\]"):
        RemotePolicy(server.address, policy="c").connect()
    with RemotePolicy(server.address, policy="b") as client:
        assert client.predict_chunk(make_observation(), 0).actions.shape == (4, 6)


def test_each_session_resets_the_policy_and_close_reports_stats(serve, raw_client):
    policy = EchoPolicy()
    server = serve({"echo": policy})
    client = RemotePolicy(server.address, SPEC)
    client.connect()
    assert policy.forks == []  # a session gets its policy at its first inference
    client.predict_chunk(make_observation(), 0)
    first = client.session_id
    client.reset()  # a new episode is a new session with a fresh policy object
    client.predict_chunk(make_observation(), 1)
    assert [f.resets for f in policy.forks] == [0, 0] and client.session_id != first
    client.close()
    with pytest.raises(grpc.RpcError) as e:  # the first session was closed by reset()
        raw_client(server.address).stub.CloseSession(pb.CloseSessionRequest(session_id=first))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_close_session_returns_the_session_stats(serve, raw_client):
    server = serve({"echo": EchoPolicy()})
    raw = raw_client(server.address)
    sid = raw.open(policy="echo")
    obs = make_observation()
    for t in range(3):
        raw.infer(infer_request(sid, obs, t))
    stats = raw.stub.CloseSession(pb.CloseSessionRequest(session_id=sid)).stats
    assert stats.infer_ok == 3 and stats.infer_failed == 0
    assert 0 < stats.compute_s_max <= stats.compute_s_total


def test_health_service_reports_serving_then_not_after_stop(serve):
    server = serve({"echo": EchoPolicy()})
    assert check_health(server.address) == "SERVING"
    assert check_health(server.address, service="edgevla.v1.PolicyService") == "SERVING"
    server.stop(grace=0)
    with pytest.raises(ServerUnavailable):
        check_health(server.address, timeout=1)


def test_client_refuses_an_observation_that_does_not_fit_before_sending(serve):
    policy = EchoPolicy()
    server = serve({"echo": policy})
    obs = make_observation()
    obs[STATE_KEY] = obs[STATE_KEY].astype(np.float64)
    client = RemotePolicy(server.address, SPEC)
    client.connect()
    with pytest.raises(ValueError, match=r"expected float32\[6\], got float64\[6\]"):
        client.predict_chunk(obs, 0)
    client.close()
    assert policy.seen == []


def test_jpeg_images_arrive_decoded_close_to_the_originals(serve):
    policy = EchoPolicy()
    server = serve({"echo": policy})
    obs = make_observation()
    y, x = np.mgrid[0:24, 0:32]
    smooth = np.stack([x * 8, y * 10, x + y], -1).astype(np.uint8)
    for cam in SPEC.cameras:
        obs[image_key(cam)] = smooth
    with RemotePolicy(server.address, SPEC, jpeg_quality=95) as client:
        assert client.predict_chunk(obs, 0).actions.shape == (8, 6)
    for cam in SPEC.cameras:
        got = policy.images[0][image_key(cam)]
        assert got.shape == (24, 32, 3) and got.dtype == np.uint8
        assert np.abs(got.astype(int) - smooth.astype(int)).mean() < 4
    with pytest.raises(ValueError, match="jpeg_quality must be 1..100"):
        RemotePolicy(server.address, jpeg_quality=0)
