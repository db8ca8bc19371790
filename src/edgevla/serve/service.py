"""The PolicyService RPC handlers: decode and validate on the RPC thread, infer on the worker.

Every failure leaves as a gRPC status whose message says what was expected and what came;
nothing a client sends can take the server down or disturb another session.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import logging
import math

import grpc
import numpy as np
from google.protobuf.message import DecodeError

from edgevla.contracts import Observation
from edgevla.features import STATE_KEY, TASK_KEY
from edgevla.serve import schema, tensors
from edgevla.serve.proto import policy_service_pb2 as pb
from edgevla.serve.proto import policy_service_pb2_grpc as pb_grpc
from edgevla.serve.sessions import Session, SessionTable, TooManySessions
from edgevla.serve.worker import PolicyFailed, PolicyWorker, SupersededError, WorkerStopped

log = logging.getLogger("edgevla.serve")

MAX_TASK_CHARS = 4096
RESET_TIMEOUT_S = 60.0

Code = grpc.StatusCode


class RpcFailure(Exception):
    """Raised inside a handler to answer with `code` and `message`."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _rpc(method):
    """Turn RpcFailure into its status and anything unexpected into INTERNAL, never a crash."""

    @functools.wraps(method)
    def wrapper(self, request, context: grpc.ServicerContext):
        try:
            return method(self, request, context)
        except RpcFailure as e:
            failure = e
        except Exception as e:
            log.exception("%s failed unexpectedly", method.__name__)
            failure = RpcFailure(Code.INTERNAL, f"{method.__name__}: {type(e).__name__}: {e}")
        level = logging.DEBUG if failure.code == Code.ABORTED else logging.WARNING
        log.log(level, "%s -> %s: %s", method.__name__, failure.code.name, failure.message)
        context.abort(failure.code, failure.message)

    return wrapper


class PolicyServicer(pb_grpc.PolicyServiceServicer):
    """workers: policy name -> its worker; max_bytes caps any decoded tensor."""

    def __init__(
        self, workers: dict[str, PolicyWorker], sessions: SessionTable, max_bytes: int
    ) -> None:
        self.workers = workers
        self.sessions = sessions
        self.max_bytes = max_bytes

    @_rpc
    def OpenSession(self, request: pb.OpenSessionRequest, context) -> pb.OpenSessionReply:
        name, worker = self._pick_policy(request.policy)
        spec = worker.policy.spec
        if not math.isfinite(request.expected.fps) or request.expected.fps < 0:
            raise RpcFailure(
                Code.INVALID_ARGUMENT, f"expected fps {request.expected.fps} is invalid"
            )
        mismatches = schema.spec_mismatches(request.expected, spec)
        if mismatches:
            raise RpcFailure(
                Code.FAILED_PRECONDITION,
                f"policy {name!r} does not match what the robot expects: " + "; ".join(mismatches),
            )
        n_actions = request.actions_per_chunk or spec.chunk_size
        if n_actions > spec.chunk_size:
            raise RpcFailure(
                Code.INVALID_ARGUMENT,
                f"actions_per_chunk must be 1..{spec.chunk_size} (policy {name!r} predicts "
                f"{spec.chunk_size}), got {request.actions_per_chunk}",
            )
        _check_task(request.task)
        try:
            session, expired = self.sessions.open(
                policy=name,
                spec=dataclasses.replace(spec, chunk_size=n_actions),
                task=request.task,
                client=request.client_name[:200],
                peer=context.peer(),
            )
        except TooManySessions as e:
            raise RpcFailure(Code.RESOURCE_EXHAUSTED, str(e)) from e
        for s in expired:
            log.info("session %s expired (idle): %s", s.id[:8], s.stats.summary())
        self._reset_policy(worker, session)
        log.info(
            "session %s opened: policy=%s client=%r peer=%s actions_per_chunk=%d",
            session.id[:8],
            name,
            session.client,
            session.peer,
            n_actions,
        )
        reply = pb.OpenSessionReply(session_id=session.id, policy=name)
        schema.spec_to_proto(session.spec, reply.spec)
        return reply

    @_rpc
    def Infer(self, request: pb.InferRequest, context) -> pb.InferReply:
        session = self._session(request.session_id)
        worker = self.workers[session.policy]
        if request.timestep < 0:
            raise RpcFailure(
                Code.INVALID_ARGUMENT, f"timestep must be >= 0, got {request.timestep}"
            )
        task = request.task or session.task
        _check_task(task)
        observation = self._decode_observation(request, session)
        observation[TASK_KEY] = task
        future = worker.submit(session.id, observation, request.timestep, session.spec.chunk_size)
        context.add_callback(lambda: worker.discard(session.id, future))
        result = self._wait(future, session, context)
        self.sessions.update(session, lambda s: s.record_ok(result.compute_s, result.queue_wait_s))
        reply = pb.InferReply(
            timestep=result.timestep, compute_s=result.compute_s, queue_wait_s=result.queue_wait_s
        )
        tensors.fill_raw(reply.actions, result.actions)
        return reply

    @_rpc
    def CloseSession(self, request: pb.CloseSessionRequest, context) -> pb.CloseSessionReply:
        session = self.sessions.close(request.session_id)
        if session is None:
            raise RpcFailure(Code.NOT_FOUND, _unknown_session(request.session_id))
        log.info("session %s closed: %s", session.id[:8], session.stats.summary())
        return pb.CloseSessionReply(stats=pb.SessionStats(**dataclasses.asdict(session.stats)))

    def _pick_policy(self, requested: str) -> tuple[str, PolicyWorker]:
        if requested:
            if requested not in self.workers:
                raise RpcFailure(
                    Code.NOT_FOUND,
                    f"unknown policy {requested!r}; this server has {sorted(self.workers)}",
                )
            return requested, self.workers[requested]
        if len(self.workers) != 1:
            raise RpcFailure(
                Code.INVALID_ARGUMENT,
                f"this server has several policies {sorted(self.workers)}; name one",
            )
        return next(iter(self.workers.items()))

    def _reset_policy(self, worker: PolicyWorker, session: Session) -> None:
        """A new session is a new episode: reset the policy on its own thread."""
        reset = getattr(worker.policy, "reset", None)
        if reset is None:
            return
        try:
            worker.call(reset).result(timeout=RESET_TIMEOUT_S)
        except Exception as e:
            self.sessions.close(session.id)
            code = Code.UNAVAILABLE if isinstance(e, WorkerStopped) else Code.INTERNAL
            raise RpcFailure(code, f"policy {session.policy!r} reset failed: {e}") from e

    def _session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise RpcFailure(Code.NOT_FOUND, _unknown_session(session_id))
        return session

    def _decode_observation(self, request: pb.InferRequest, session: Session) -> Observation:
        """Check the declared layout first (cheap), then decode each tensor."""
        try:
            layout = {k: tensors.declared(t, k) for k, t in request.observation.items()}
            problem = schema.observation_error(layout, session.spec)
            if problem is not None:
                raise RpcFailure(Code.INVALID_ARGUMENT, problem)
            observation = {
                k: tensors.decode(t, k, self.max_bytes) for k, t in request.observation.items()
            }
        except tensors.TensorError as e:
            self._count_failure(session)
            raise RpcFailure(Code.INVALID_ARGUMENT, str(e)) from e
        except RpcFailure:
            self._count_failure(session)
            raise
        for key in (STATE_KEY, *schema.float_features(session.spec)):
            values = observation[key]
            if not np.isfinite(values).all():
                self._count_failure(session)
                raise RpcFailure(
                    Code.INVALID_ARGUMENT, f"{key} must be finite, got {values.tolist()}"
                )
        return observation

    def _wait(self, future: concurrent.futures.Future, session: Session, context):
        timeout = context.time_remaining()
        try:
            return future.result(timeout=timeout)
        except SupersededError as e:
            self.sessions.update(session, lambda s: setattr(s, "superseded", s.superseded + 1))
            raise RpcFailure(Code.ABORTED, str(e)) from e
        except WorkerStopped as e:
            raise RpcFailure(Code.UNAVAILABLE, str(e)) from e
        except PolicyFailed as e:
            self._count_failure(session)
            raise RpcFailure(Code.INTERNAL, str(e)) from e
        except concurrent.futures.CancelledError as e:
            raise RpcFailure(Code.CANCELLED, "the call was cancelled") from e
        except TimeoutError as e:
            raise RpcFailure(Code.DEADLINE_EXCEEDED, "inference did not finish in time") from e

    def _count_failure(self, session: Session) -> None:
        self.sessions.update(session, lambda s: setattr(s, "infer_failed", s.infer_failed + 1))


_METHODS = {
    "OpenSession": (pb.OpenSessionRequest, pb.OpenSessionReply),
    "Infer": (pb.InferRequest, pb.InferReply),
    "CloseSession": (pb.CloseSessionRequest, pb.CloseSessionReply),
}


def generic_handler(servicer: PolicyServicer, service_name: str) -> grpc.GenericRpcHandler:
    """Handlers that parse requests themselves, so bytes that are not a valid message get
    INVALID_ARGUMENT with the parser's reason (gRPC's own deserializer would say INTERNAL)."""

    def bind(name: str, request_cls, reply_cls) -> grpc.RpcMethodHandler:
        method = getattr(servicer, name)

        def handle(data: bytes, context: grpc.ServicerContext):
            try:
                request = request_cls.FromString(data)
            except DecodeError as e:
                log.warning(
                    "%s -> INVALID_ARGUMENT: unparsable request (%d bytes)", name, len(data)
                )
                context.abort(
                    Code.INVALID_ARGUMENT,
                    f"request is not a valid {request_cls.DESCRIPTOR.full_name} ({len(data)} "
                    f"bytes): {e}",
                )
            return method(request, context)

        return grpc.unary_unary_rpc_method_handler(
            handle, response_serializer=reply_cls.SerializeToString
        )

    return grpc.method_handlers_generic_handler(
        service_name, {name: bind(name, *classes) for name, classes in _METHODS.items()}
    )


def _check_task(task: str) -> None:
    if len(task) > MAX_TASK_CHARS:
        raise RpcFailure(
            Code.INVALID_ARGUMENT, f"task must be at most {MAX_TASK_CHARS} chars, got {len(task)}"
        )


def _unknown_session(session_id: str) -> str:
    return (
        f"unknown session {session_id[:8]!r}: the server restarted, or the session was closed "
        "or expired; open a new session"
    )
