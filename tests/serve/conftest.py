"""Fixtures for edgevla.serve tests: loopback servers on free ports, raw stubs, certs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgevla.serve import PolicyServer

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `import serve_fakes`

from serve_fakes import RawClient  # noqa: E402


@pytest.fixture
def serve() -> Iterator[Callable[..., PolicyServer]]:
    """serve(policies, **kwargs) -> a started loopback server on a free port; all stopped after."""
    servers: list[PolicyServer] = []

    def start(policies, **kwargs) -> PolicyServer:
        kwargs.setdefault("port", 0)
        server = PolicyServer(policies, host="127.0.0.1", **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(grace=0)


@pytest.fixture
def raw_client() -> Iterator[Callable[..., RawClient]]:
    clients: list[RawClient] = []

    def make(address: str, **kwargs) -> RawClient:
        client = RawClient(address, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for localhost/127.0.0.1, made now, never checked in."""
    out = tmp_path_factory.mktemp("tls")
    cert, key = out / "cert.pem", out / "key.pem"
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI to make a test certificate")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key
