"""Channels to a PolicyServer: TLS, size limits, re-dial pacing within one attempt, health
probe, and the mapping of gRPC statuses to the errors the robot side acts on.

Each reconnect attempt gets a fresh channel that re-dials every DIAL_INTERVAL_S while the
attempt lasts (OpenSession waits for ready, bounded by the attempt's timeout), so a restarted
server is found within about that interval of listening; the waits *between* attempts are
the runtime's RetrySchedule (edgevla.runtime.retry)."""

from __future__ import annotations

from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from edgevla.serve.errors import (
    BUSY_PREFIX,
    RemoteError,
    ServeError,
    ServerBusy,
    ServerUnavailable,
    SessionLost,
    Superseded,
)
from edgevla.serve.server import MIB, read_pem

DIAL_INTERVAL_S = 0.1
"""How often a channel re-dials an unreachable server within one attempt."""

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
) -> grpc.Channel:
    """A channel with our size limits that re-dials a lost server every DIAL_INTERVAL_S."""
    dial_ms = int(DIAL_INTERVAL_S * 1000)
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", dial_ms),
        ("grpc.min_reconnect_backoff_ms", dial_ms),
        ("grpc.max_reconnect_backoff_ms", dial_ms),
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
    busy -> ServerBusy, forgotten session -> SessionLost, replaced observation -> Superseded,
    else RemoteError."""
    code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
    details = e.details() if hasattr(e, "details") else str(e)
    message = f"{what} on {address}: {code.name}: {details}"
    if code == grpc.StatusCode.NOT_FOUND and what.startswith("Infer"):
        return SessionLost(message, code)
    if code in _UNAVAILABLE:
        return ServerUnavailable(message, code)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and str(details).startswith(BUSY_PREFIX):
        return ServerBusy(message, code)
    if code == grpc.StatusCode.ABORTED:
        return Superseded(message, code)
    return RemoteError(message, code)


def is_loopback(address: str) -> bool:
    """Whether `host:port` stays on this machine (a token in plaintext is then harmless)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")
