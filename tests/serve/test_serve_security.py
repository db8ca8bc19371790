"""Bearer token and TLS, each on and off."""

from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest
from serve_fakes import SPEC, EchoPolicy, infer_request, make_observation

from edgevla.serve import (
    PolicyServer,
    RemoteError,
    RemotePolicy,
    ServerUnavailable,
    check_health,
)

pytestmark = pytest.mark.timeout(60)


def test_token_required_when_configured(serve):
    server = serve({"echo": EchoPolicy()}, token="s3cret-token")
    with pytest.raises(RemoteError, match="missing 'authorization: Bearer <token>'") as e:
        RemotePolicy(server.address, SPEC).connect(timeout=5)
    assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(RemoteError, match="wrong bearer token") as e:
        RemotePolicy(server.address, SPEC, token="s3cret-tokeN").connect(timeout=5)
    assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    with RemotePolicy(server.address, SPEC, token="s3cret-token") as client:
        assert client.predict_chunk(make_observation(), 4).timestep == 4
    assert check_health(server.address) == "SERVING"  # probes need no secret


def test_token_is_checked_on_every_call_not_just_open(serve, raw_client):
    server = serve({"echo": EchoPolicy()}, token="tok")
    sid = raw_client(server.address, token="tok").open(policy="echo")
    with pytest.raises(grpc.RpcError) as e:
        raw_client(server.address).infer(infer_request(sid, make_observation()))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_no_token_configured_accepts_any_client(serve):
    server = serve({"echo": EchoPolicy()})
    for token in (None, "whatever"):
        with RemotePolicy(server.address, SPEC, token=token) as client:
            assert client.predict_chunk(make_observation(), 1).timestep == 1


def test_tls_server_with_the_right_ca(serve, self_signed):
    cert, key = self_signed
    server = serve({"echo": EchoPolicy()}, tls_cert=cert, tls_key=key, token="tok")
    assert server.tls
    with RemotePolicy(server.address, SPEC, tls_ca=cert, token="tok") as client:
        assert client.predict_chunk(make_observation(), 2).timestep == 2
    assert check_health(server.address, tls_ca=cert.read_bytes()) == "SERVING"


def test_plaintext_client_cannot_talk_to_a_tls_server(serve, self_signed):
    cert, key = self_signed
    server = serve({"echo": EchoPolicy()}, tls_cert=cert, tls_key=key)
    with pytest.raises(ServerUnavailable):
        RemotePolicy(server.address, SPEC).connect(timeout=1)


def test_tls_client_refuses_a_server_it_cannot_verify(serve, self_signed, tmp_path):
    cert, key = self_signed
    server = serve({"echo": EchoPolicy()}, tls_cert=cert, tls_key=key)
    other_cert, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(other_key), "-out", str(other_cert), "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    with pytest.raises(ServerUnavailable):
        RemotePolicy(server.address, SPEC, tls_ca=other_cert).connect(timeout=1)


def test_tls_needs_both_cert_and_key(self_signed):
    with pytest.raises(ValueError, match="both tls_cert and tls_key"):
        PolicyServer({"echo": EchoPolicy()}, tls_cert=self_signed[0])
