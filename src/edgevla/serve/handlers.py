"""The RPC method handlers: rate-limit each host, then parse the request ourselves.

gRPC's own deserializer answers bytes that are not a valid message with INTERNAL and logs a
traceback per call; parsing here answers INVALID_ARGUMENT with the parser's reason, clipped,
and logs at most a line a second. The health service goes through the same parser
(without the rate limit: probes must always be answered).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2

from edgevla.serve.bounds import RateLimiter, ThrottledLog, clip
from edgevla.serve.errors import BUSY_PREFIX
from edgevla.serve.proto import policy_service_pb2 as pb
from edgevla.serve.service import PolicyServicer
from edgevla.serve.sessions import host_of

Code = grpc.StatusCode
Method = tuple[Callable, type[Message], type[Message]]
"""(handler(request, context), request class, reply class)."""

HEALTH_SERVICE = "grpc.health.v1.Health"


def policy_handler(
    servicer: PolicyServicer, service_name: str, limiter: RateLimiter
) -> grpc.GenericRpcHandler:
    """PolicyService's three methods, rate-limited per host and parsed here."""
    methods = {
        "OpenSession": (servicer.OpenSession, pb.OpenSessionRequest, pb.OpenSessionReply),
        "Infer": (servicer.Infer, pb.InferRequest, pb.InferReply),
        "CloseSession": (servicer.CloseSession, pb.CloseSessionRequest, pb.CloseSessionReply),
    }
    return parsing_handler(service_name, methods, servicer.throttled, limiter)


def health_handler(
    servicer: health.HealthServicer, throttled: ThrottledLog
) -> grpc.GenericRpcHandler:
    """grpc.health.v1.Health (Check and the streaming Watch), parsed here."""
    request, reply = health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
    methods = {"Check": (servicer.Check, request, reply), "Watch": (servicer.Watch, request, reply)}
    return parsing_handler(HEALTH_SERVICE, methods, throttled, None, streaming={"Watch"})


def parsing_handler(
    service_name: str,
    methods: Mapping[str, Method],
    throttled: ThrottledLog,
    limiter: RateLimiter | None,
    streaming: frozenset[str] | set[str] = frozenset(),
) -> grpc.GenericRpcHandler:
    """Handlers of `methods` (unary, or unary -> stream for those in `streaming`)."""

    def bind(name: str, method: Callable, request_cls, reply_cls) -> grpc.RpcMethodHandler:
        def parse(data: bytes, context: grpc.ServicerContext):
            if limiter is not None:
                host = host_of(context.peer())
                if not limiter.allow(host):
                    throttled.log(f"rate:{host}", logging.WARNING, "%s from %s: over the rate", name, host)  # fmt: skip
                    context.abort(
                        Code.RESOURCE_EXHAUSTED,
                        f"{BUSY_PREFIX}more than {limiter.rate:g} requests/s from {clip(host)}",
                    )
            try:
                request = request_cls.FromString(data)
            except DecodeError as e:
                throttled.log(
                    f"parse:{name}",
                    logging.WARNING,
                    "%s -> INVALID_ARGUMENT: unparsable request (%d bytes)",
                    name,
                    len(data),
                )
                context.abort(
                    Code.INVALID_ARGUMENT,
                    f"request is not a valid {request_cls.DESCRIPTOR.full_name} ({len(data)} "
                    f"bytes): {clip(str(e))}",
                )
            return request

        def handle(data: bytes, context: grpc.ServicerContext):
            return method(parse(data, context), context)

        def handle_stream(data: bytes, context: grpc.ServicerContext):
            yield from method(parse(data, context), context)

        if name in streaming:
            return grpc.unary_stream_rpc_method_handler(
                handle_stream, response_serializer=reply_cls.SerializeToString
            )
        return grpc.unary_unary_rpc_method_handler(
            handle, response_serializer=reply_cls.SerializeToString
        )

    return grpc.method_handlers_generic_handler(
        service_name, {name: bind(name, *m) for name, m in methods.items()}
    )
