"""The PolicyService RPC handlers: decode and validate on the RPC thread, infer on the worker.

Every failure leaves as a gRPC status whose message says what was expected and what came,
with anything the client sent clipped (edgevla.serve.bounds); repeated failures log once a
second. Nothing a client sends can take the server down, disturb another session, or hold
the threads that health checks and session control need (`ServeLimits.infer_slots`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import logging
import math
import threading

import grpc
import numpy as np

from edgevla.contracts import Observation
from edgevla.features import STATE_KEY, TASK_KEY
from edgevla.serve import schema, tensors
from edgevla.serve.bounds import JsonRejected, ThrottledLog, clip, clip_message
from edgevla.serve.errors import BUSY_PREFIX
from edgevla.serve.limits import ServeLimits
from edgevla.serve.proto import policy_service_pb2 as pb
from edgevla.serve.proto import policy_service_pb2_grpc as pb_grpc
from edgevla.serve.sessions import Session, SessionTable, TooManySessions, host_of
from edgevla.serve.worker import PolicyFailed, PolicyWorker, SupersededError, WorkerStopped

log = logging.getLogger("edgevla.serve")

MAX_TASK_CHARS = 4096

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
        message = clip_message(failure.message)
        level = logging.DEBUG if failure.code == Code.ABORTED else logging.WARNING
        key = f"{method.__name__}:{failure.code.name}"
        self.throttled.log(key, level, "%s -> %s: %s", method.__name__, failure.code.name, message)
        context.abort(failure.code, message)

    return wrapper


class PolicyServicer(pb_grpc.PolicyServiceServicer):
    """workers: policy name -> its worker; max_bytes caps any decoded tensor."""

    def __init__(
        self,
        workers: dict[str, PolicyWorker],
        sessions: SessionTable,
        max_bytes: int,
        limits: ServeLimits,
    ) -> None:
        self.workers = workers
        self.sessions = sessions
        self.max_bytes = max_bytes
        self.throttled = ThrottledLog(log)
        self._infer_slots = threading.BoundedSemaphore(limits.infer_slots)
        self._n_slots = limits.infer_slots

    @_rpc
    def OpenSession(self, request: pb.OpenSessionRequest, context) -> pb.OpenSessionReply:
        if not (request.policy or request.adopt or request.expected.ByteSize()):
            raise RpcFailure(
                Code.INVALID_ARGUMENT,
                "OpenSession must name a policy, the spec the robot expects, or adopt=true; "
                "an empty request is not a session",
            )
        name, worker = self._pick_policy(request.policy)
        spec = worker.spec
        n_actions = self._check_open(request, name, spec)
        _check_task(request.task)
        try:
            session, evicted = self.sessions.open(
                policy=name,
                spec=dataclasses.replace(spec, chunk_size=n_actions),
                task=request.task,
                client=request.client_name[:200],
                peer=context.peer()[:200],
                host=host_of(context.peer())[:200],
            )
        except TooManySessions as e:
            raise RpcFailure(Code.RESOURCE_EXHAUSTED, str(e)) from e
        self.ended(evicted, "evicted (never inferred) for a new session")
        self.throttled.log(
            f"open:{session.host}",
            logging.INFO,
            "session %s opened: policy=%s client=%s peer=%s actions_per_chunk=%d",
            session.id[:8],
            name,
            clip(session.client),
            session.peer,
            n_actions,
        )
        reply = pb.OpenSessionReply(session_id=session.id, policy=name)
        schema.spec_to_proto(session.spec, reply.spec)
        return reply

    def _check_open(self, request: pb.OpenSessionRequest, name: str, spec) -> int:
        """The session's actions per chunk, after checking the request against the policy."""
        if not math.isfinite(request.expected.fps) or request.expected.fps < 0:
            raise RpcFailure(
                Code.INVALID_ARGUMENT, f"expected fps {request.expected.fps} is invalid"
            )
        try:
            mismatches = schema.spec_mismatches(request.expected, spec)
        except JsonRejected as e:
            raise RpcFailure(Code.INVALID_ARGUMENT, str(e)) from e
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
        return n_actions

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
        self.sessions.claim(session)
        if not self._infer_slots.acquire(blocking=False):
            raise RpcFailure(
                Code.RESOURCE_EXHAUSTED,
                f"{BUSY_PREFIX}{self._n_slots} inferences already wait for a worker; retry shortly",
            )
        try:
            future = worker.submit(
                session.id, observation, request.timestep, session.spec.chunk_size
            )
            context.add_callback(lambda: worker.discard(session.id, future))
            result = self._wait(future, session, context)
        finally:
            self._infer_slots.release()
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
        self.ended([session], "closed")
        return pb.CloseSessionReply(stats=pb.SessionStats(**dataclasses.asdict(session.stats)))

    def ended(self, sessions: list[Session], why: str) -> None:
        """Sessions that left the table (closed, evicted, expired): free their policy objects
        and log each (unclaimed ones at most once a second per host)."""
        for s in sessions:
            self.workers[s.policy].forget(s.id)
            if s.claimed:
                log.info("session %s %s: %s", s.id[:8], why, s.stats.summary())
            else:
                self.throttled.log(f"ended:{s.host}", logging.INFO, "session %s %s", s.id[:8], why)

    def _pick_policy(self, requested: str) -> tuple[str, PolicyWorker]:
        if requested:
            if requested not in self.workers:
                raise RpcFailure(
                    Code.NOT_FOUND,
                    f"unknown policy {clip(requested)}; this server has {sorted(self.workers)}",
                )
            return requested, self.workers[requested]
        if len(self.workers) != 1:
            raise RpcFailure(
                Code.INVALID_ARGUMENT,
                f"this server has several policies {sorted(self.workers)}; name one",
            )
        return next(iter(self.workers.items()))

    def _session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise RpcFailure(Code.NOT_FOUND, _unknown_session(session_id))
        return session

    def _decode_observation(self, request: pb.InferRequest, session: Session) -> Observation:
        """Check the declared layout first (cheap), then decode each tensor."""
        try:
            want = schema.expected_keys(session.spec)
            if len(request.observation) > 2 * len(want) + 4:
                raise RpcFailure(
                    Code.INVALID_ARGUMENT,
                    f"observation has {len(request.observation)} keys; the policy reads {want}",
                )
            layout = {k: tensors.declared(t, clip(k)) for k, t in request.observation.items()}
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
                    Code.INVALID_ARGUMENT, f"{key} must be finite, got {clip(values.tolist())}"
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


def _check_task(task: str) -> None:
    if len(task) > MAX_TASK_CHARS:
        raise RpcFailure(
            Code.INVALID_ARGUMENT, f"task must be at most {MAX_TASK_CHARS} chars, got {len(task)}"
        )


def _unknown_session(session_id: str) -> str:
    return (
        f"unknown session {clip(session_id[:8])}: the server restarted, or the session was "
        "closed or expired; open a new session"
    )
