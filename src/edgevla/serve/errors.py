"""What can go wrong on the wire, as exceptions the robot side can act on.

The control loop needs one distinction above all: `ServerUnavailable` (hold the arm, then
`reconnect()`) versus everything else (a bug or a misconfiguration to report).
"""

from __future__ import annotations

import grpc

from edgevla.contracts import PolicyUnavailable

BUSY_PREFIX = "busy: "
"""A server's RESOURCE_EXHAUSTED message that means "retry shortly" starts with this."""


class ServeError(RuntimeError):
    """Base of every edgevla.serve error; `code` is the gRPC status when one came back."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class ServerUnavailable(ServeError, PolicyUnavailable):
    """The policy server cannot be reached (down, restarting, too slow): no actions came back.

    Also the runtime's `PolicyUnavailable`, so the control loop holds the arm and reconnects
    without knowing about gRPC."""


class SessionLost(ServerUnavailable):
    """The server no longer knows this session (it restarted or expired it): reconnect."""


class ServerBusy(ServerUnavailable):
    """The server refused for now (request rate, every inference slot taken): hold, retry."""


class UnsafeChunk(ServerUnavailable):
    """A chunk came back that the action guard refuses (NaN/inf, far outside the policy's
    action range): it never reaches the arm, which holds as in an outage."""


class Superseded(ServeError):
    """A newer observation of the same session replaced this one before it was computed."""


class RemoteError(ServeError):
    """The server answered with an error status (bad input, spec mismatch, policy failure)."""


class NotConnected(ServeError, AttributeError):
    """The client has no session yet: call `connect()` first.

    Also an AttributeError so `hasattr(policy, "spec")` is simply False before connecting.
    """
