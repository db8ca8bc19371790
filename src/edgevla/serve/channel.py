"""Channels to a PolicyServer: TLS, size limits, gRPC's own reconnect pacing (from the
runtime's RetrySchedule), health probe, and the mapping of gRPC statuses to the errors the
robot side acts on."""

from __future__ import annotations

from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from edgevla.runtime.retry import RetrySchedule
from edgevla.serve.errors import RemoteError, ServeError, ServerUnavailable, SessionLost, Superseded
from edgevla.serve.server import MIB, read_pem

_UNAVAILABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
)


def make_channel(
    address: str,
    *,
    tls_ca: str | Path | bytes | None = None,
    tls_server_name: str | None = None,
    max_message_bytes: int = 64 * MIB,
    retry: RetrySchedule | None = None,
) -> grpc.Channel:
    """A channel with our size limits; gRPC re-dials a lost connection at the pace of `retry`."""
    retry = retry or RetrySchedule()
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", int(retry.initial_s * 1000)),
        ("grpc.min_reconnect_backoff_ms", int(retry.initial_s * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(retry.max_s * 1000)),
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


def is_loopback(address: str) -> bool:
    """Whether `host:port` stays on this machine (a token in plaintext is then harmless)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")
