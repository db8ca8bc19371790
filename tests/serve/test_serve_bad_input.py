"""Every kind of bad input gets the right status and a message naming expected vs. got, and
the server keeps serving a well-behaved session afterwards."""

from __future__ import annotations

import re

import grpc
import numpy as np
import pytest
from serve_fakes import SPEC, EchoPolicy, FailingPolicy, infer_request, make_observation

from edgevla.contracts import ActionChunk
from edgevla.features import STATE_KEY, image_key
from edgevla.serve import RemoteError, RemotePolicy
from edgevla.serve.limits import ServeLimits
from edgevla.serve.proto import policy_service_pb2 as pb
from edgevla.serve.tensors import fill_jpeg, fill_raw

pytestmark = pytest.mark.timeout(30)
Code = grpc.StatusCode
TOP = image_key("top")


def _wrong_state_dtype(r):
    fill_raw(r.observation[STATE_KEY], np.zeros(6, np.float64))


def _wrong_state_shape(r):
    fill_raw(r.observation[STATE_KEY], np.zeros(7, np.float32))


def _wrong_image_shape(r):
    fill_raw(r.observation[TOP], np.zeros((32, 24, 3), np.uint8))


def _wrong_image_dtype(r):
    fill_raw(r.observation[TOP], np.zeros((24, 32, 3), np.float32))


def _missing_camera(r):
    del r.observation[image_key("gripper")]


def _extra_camera(r):
    fill_raw(r.observation[image_key("wrist")], np.zeros((24, 32, 3), np.uint8))


def _short_bytes(r):
    r.observation[STATE_KEY].data = r.observation[STATE_KEY].data[:-1]


def _long_bytes(r):
    r.observation[TOP].data += b"\0"


def _garbage_jpeg(r):
    t = r.observation[TOP]
    t.encoding, t.data = pb.ENCODING_JPEG, b"\xff\xd8\xff garbage"


def _jpeg_wrong_size(r):
    fill_jpeg(r.observation[TOP], np.zeros((12, 16, 3), np.uint8), 80)
    r.observation[TOP].shape[:] = [24, 32, 3]


def _unknown_dtype(r):
    r.observation[STATE_KEY].dtype = 42


def _nan_state(r):
    fill_raw(r.observation[STATE_KEY], np.array([0, 0, np.nan, 0, 0, 0], np.float32))


def _negative_timestep(r):
    r.timestep = -1


def _huge_task(r):
    r.task = "x" * 5000


CASES = [
    (_wrong_state_dtype, r"observation\.state: expected float32\[6\], got float64\[6\]"),
    (_wrong_state_shape, r"observation\.state: expected float32\[6\], got float32\[7\]"),
    (_wrong_image_shape, r"images\.top: expected uint8\[24, 32, 3\], got uint8\[32, 24, 3\]"),
    (_wrong_image_dtype, r"images\.top: expected uint8\[24, 32, 3\], got float32"),
    (_missing_camera, r"missing \['observation\.images\.gripper'\]"),
    (_extra_camera, r"unknown keys \['observation\.images\.wrist'\].*cameras are"),
    (_short_bytes, r"observation\.state: float32\[6\] needs 24 bytes of raw data, got 23"),
    (_long_bytes, r"needs 2304 bytes of raw data, got 2305"),
    (_garbage_jpeg, r"images\.top: undecodable JPEG"),
    (_jpeg_wrong_size, r"declared \[24, 32, 3\] but the JPEG is 12x16"),
    (_unknown_dtype, r"unknown dtype code 42"),
    (_nan_state, r"observation\.state must be finite"),
    (_negative_timestep, r"timestep must be >= 0, got -1"),
    (_huge_task, r"task must be at most 4096 chars, got 5000"),
]


@pytest.mark.parametrize(("corrupt", "message"), CASES, ids=[c[0].__name__[1:] for c in CASES])
def test_bad_observation_is_invalid_argument_and_the_server_keeps_serving(
    serve, raw_client, corrupt, message
):
    policy = EchoPolicy()
    server = serve({"echo": policy})
    raw = raw_client(server.address)
    bad_session = raw.open(policy="echo")
    request = infer_request(bad_session, make_observation())
    corrupt(request)
    with pytest.raises(grpc.RpcError) as e:
        raw.infer(request)
    assert e.value.code() == Code.INVALID_ARGUMENT
    assert re.search(message, e.value.details()), e.value.details()
    assert policy.seen == []  # bad input never reaches the policy
    _assert_still_serving(server.address)
    raw.infer(infer_request(bad_session, make_observation()))  # the bad session lives on too


def _assert_still_serving(address: str) -> None:
    with RemotePolicy(address, SPEC) as good:
        assert good.predict_chunk(make_observation(seed=9), 3).timestep == 3


def test_unknown_session_is_not_found(serve, raw_client):
    server = serve({"echo": EchoPolicy()})
    raw = raw_client(server.address)
    with pytest.raises(grpc.RpcError) as e:
        raw.infer(infer_request("deadbeef" * 4, make_observation()))
    assert e.value.code() == Code.NOT_FOUND
    assert "unknown session 'deadbeef'" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        raw.stub.CloseSession(pb.CloseSessionRequest(session_id="nope"))
    assert e.value.code() == Code.NOT_FOUND
    _assert_still_serving(server.address)


def test_oversized_message_is_resource_exhausted(serve, raw_client):
    big = SPEC.__class__(chunk_size=8, cameras=("top",), image_shape=(800, 800))
    server = serve({"big": EchoPolicy(big)}, limits=ServeLimits(max_message_mb=1.0))
    raw = raw_client(server.address)  # the raw client itself allows 64 MiB
    sid = raw.open(policy="big")
    with pytest.raises(grpc.RpcError) as e:
        raw.infer(infer_request(sid, make_observation(big)))  # 1.9 MB of image
    assert e.value.code() == Code.RESOURCE_EXHAUSTED
    assert "larger than max" in e.value.details() or "exceeds" in e.value.details()
    small = big.__class__(chunk_size=8, cameras=("top",), image_shape=(100, 100))
    server2 = serve({"small": EchoPolicy(small)}, limits=ServeLimits(max_message_mb=1.0))
    with RemotePolicy(server2.address, small) as client:
        assert client.predict_chunk(make_observation(small), 0).actions.shape == (8, 6)


def test_jpeg_cannot_declare_a_decoded_size_beyond_the_message_limit(serve, raw_client):
    anysize = SPEC.__class__(chunk_size=8, cameras=("top",), image_shape=None)
    server = serve({"any": EchoPolicy(anysize)}, limits=ServeLimits(max_message_mb=1.0))
    raw = raw_client(server.address)
    request = infer_request(raw.open(policy="any"), make_observation(anysize))
    fill_jpeg(request.observation[TOP], np.zeros((1000, 1000, 3), np.uint8), 50)  # small file
    with pytest.raises(grpc.RpcError) as e:
        raw.infer(request)
    assert e.value.code() == Code.INVALID_ARGUMENT
    assert "3000000 bytes decoded; limit 1048576" in e.value.details()


def test_policy_that_raises_is_internal_and_other_sessions_keep_working(serve):
    server = serve({"broken": FailingPolicy(), "echo": EchoPolicy()})
    with RemotePolicy(server.address, SPEC, policy="broken") as client:
        with pytest.raises(RemoteError, match="motor model exploded") as e:
            client.predict_chunk(make_observation(), 0)
        assert e.value.code == Code.INTERNAL
        with pytest.raises(RemoteError, match="RuntimeError"):  # and again: still answering
            client.predict_chunk(make_observation(), 1)
    with RemotePolicy(server.address, SPEC, policy="echo") as client:
        assert client.predict_chunk(make_observation(), 2).timestep == 2


class _NaNPolicy(EchoPolicy):
    def predict_chunk(self, observation, timestep=0):
        return ActionChunk(np.full((8, 6), np.nan, np.float32), timestep)


class _ShortPolicy(EchoPolicy):
    def predict_chunk(self, observation, timestep=0):
        return ActionChunk(np.zeros((2, 6), np.float32), timestep)


@pytest.mark.parametrize(
    ("policy", "message"),
    [(_NaNPolicy(), "non-finite actions"), (_ShortPolicy(), r"actions \[2, 6\], expected")],
)
def test_policy_returning_a_bad_chunk_is_internal_never_forwarded(serve, policy, message):
    server = serve({"p": policy})
    with (
        RemotePolicy(server.address, SPEC) as client,
        pytest.raises(RemoteError, match=message) as e,
    ):
        client.predict_chunk(make_observation(), 0)
    assert e.value.code == Code.INTERNAL


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("/edgevla.v1.PolicyService/Infer", "edgevla.v1.InferRequest"),
        ("/edgevla.v1.PolicyService/OpenSession", "edgevla.v1.OpenSessionRequest"),
        ("/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest"),
    ],
)
def test_garbage_bytes_as_a_whole_message_are_rejected_without_harm(serve, method, message):
    server = serve({"echo": EchoPolicy()})
    channel = grpc.insecure_channel(server.address)
    call = channel.unary_unary(method)  # bytes in, bytes out
    with pytest.raises(grpc.RpcError) as e:
        call(b"\xff\xff\xff\xff not a protobuf", timeout=5)
    assert e.value.code() == Code.INVALID_ARGUMENT
    assert f"not a valid {message}" in e.value.details()
    channel.close()
    _assert_still_serving(server.address)
