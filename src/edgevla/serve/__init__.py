"""edgevla.serve — a secure gRPC policy server and its robot-side client (DESIGN §5).

Typed tensors on the wire (never pickle), a session per robot, inference off the RPC
threads with newest-observation-only workers, size limits, health service, optional TLS
and bearer token. numpy, grpcio, protobuf and edgevla.runtime only.
"""

from edgevla.serve.channel import check_health, make_channel
from edgevla.serve.client import CallTiming, RemotePolicy
from edgevla.serve.errors import (
    NotConnected,
    RemoteError,
    ServeError,
    ServerUnavailable,
    SessionLost,
    Superseded,
)
from edgevla.serve.server import PolicyServer

__all__ = [
    "CallTiming",
    "NotConnected",
    "PolicyServer",
    "RemoteError",
    "RemotePolicy",
    "ServeError",
    "ServerUnavailable",
    "SessionLost",
    "Superseded",
    "check_health",
    "make_channel",
]
