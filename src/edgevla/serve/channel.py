"""Channels to a PolicyServer: reconnect schedule, TLS, size limits, health probe, and the
mapping of gRPC statuses to the errors the robot side acts on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from edgevla.serve.errors import RemoteError, ServeError, ServerUnavailable, SessionLost, Superseded
from edgevla.serve.server import MIB, read_pem

_UNAVAILABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
)


@dataclass(frozen=True)
class Backoff:
    """Reconnect schedule: waits initial_s, x factor each time, capped at max_s; at most
    max_attempts tries of attempt_timeout_s each, so `reconnect()` always ends."""

    initial_s: float = 0.1
    factor: float = 2.0
    max_s: float = 2.0
    max_attempts: int = 8
    attempt_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.factor < 1 or self.max_s < self.initial_s:
            raise ValueError(f"Backoff needs 0 < initial_s <= max_s and factor >= 1, got {self}")
        if self.max_attempts < 1 or self.attempt_timeout_s <= 0:
            raise ValueError(f"Backoff needs max_attempts >= 1, attempt_timeout_s > 0, got {self}")

    def delays(self) -> Iterator[float]:
        """The waits between attempts (max_attempts - 1 of them)."""
        delay = self.initial_s
        for _ in range(self.max_attempts - 1):
            yield delay
            delay = min(self.max_s, delay * self.factor)


def make_channel(
    address: str,
    *,
    tls_ca: str | Path | bytes | None = None,
    tls_server_name: str | None = None,
    max_message_bytes: int = 64 * MIB,
    backoff: Backoff | None = None,
) -> grpc.Channel:
    """A channel with our size limits and a reconnect schedule matching `backoff`."""
    backoff = backoff or Backoff()
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", int(backoff.initial_s * 1000)),
        ("grpc.min_reconnect_backoff_ms", int(backoff.initial_s * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(backoff.max_s * 1000)),
    ]
    if tls_ca is None:
        return grpc.insecure_channel(address, options=options)
    if tls_server_name:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    creds = grpc.ssl_channel_credentials(root_certificates=read_pem(tls_ca))
    return grpc.secure_channel(address, creds, options=options)


def check_health(
    address: str, *, tls_ca: str | Path | bytes | None = None, service: str = "", timeout=2.0
) -> str:
    """The server's health status name (`SERVING`, `NOT_SERVING`, ...) via grpc.health.v1."""
    channel = make_channel(address, tls_ca=tls_ca)
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout
        )
    except grpc.RpcError as e:
        raise translate(e, "Health.Check", address) from None
    finally:
        channel.close()
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def translate(e: grpc.RpcError, what: str, address: str) -> ServeError:
    """The robot-side error for a failed call: unreachable/slow/cut -> ServerUnavailable,
    forgotten session -> SessionLost, replaced observation -> Superseded, else RemoteError."""
    code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
    details = e.details() if hasattr(e, "details") else str(e)
    message = f"{what} on {address}: {code.name}: {details}"
    if code == grpc.StatusCode.NOT_FOUND and what.startswith("Infer"):
        return SessionLost(message, code)
    if code in _UNAVAILABLE:
        return ServerUnavailable(message, code)
    if code == grpc.StatusCode.ABORTED:
        return Superseded(message, code)
    return RemoteError(message, code)


def forever(backoff: Backoff) -> Iterator[float]:
    """The backoff's delays, then its cap forever (connect() is bounded by time instead)."""
    yield from backoff.delays()
    while True:
        yield backoff.max_s


def is_loopback(address: str) -> bool:
    """Whether `host:port` stays on this machine (a token in plaintext is then harmless)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")
