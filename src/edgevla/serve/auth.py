"""Optional bearer-token check: metadata `authorization: Bearer <token>`, compared in constant
time. The standard health service stays open so load balancers and probes need no secret."""

from __future__ import annotations

import hmac
import logging

import grpc

from edgevla.serve.bounds import ThrottledLog, clip_text

log = logging.getLogger(__name__)

HEALTH_PREFIX = "/grpc.health.v1.Health/"


def bearer_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying `token` (empty when there is none)."""
    return (("authorization", f"Bearer {token}"),) if token else ()


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Rejects every non-health call without the right token with UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("a bearer token must be a non-empty string")
        self._token = token.encode()
        self._log = ThrottledLog(log)
        self._deny_missing = _deny("missing 'authorization: Bearer <token>' metadata")
        self._deny_wrong = _deny("wrong bearer token")

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(HEALTH_PREFIX):
            return continuation(handler_call_details)
        method = clip_text(handler_call_details.method)
        value = None
        for key, v in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                value = v
                break
        if value is None:
            self._log.log("auth:missing", logging.WARNING, "rejected %s: no bearer token", method)
            return self._deny_missing
        scheme, _, presented = str(value).partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), self._token)
        if not ok:
            self._log.log("auth:wrong", logging.WARNING, "rejected %s: wrong bearer token", method)
            return self._deny_wrong
        return continuation(handler_call_details)


def _deny(message: str) -> grpc.RpcMethodHandler:
    def abort(_request, context: grpc.ServicerContext):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.unary_unary_rpc_method_handler(abort)
