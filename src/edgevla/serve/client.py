"""RemotePolicy: a ChunkPolicy whose chunks come from a PolicyServer (the robot side).

It never returns stale or invented actions: when the server cannot answer, `predict_chunk`
raises `ServerUnavailable` within `timeout`, the control loop holds the arm, and the inference
worker calls `reconnect()` — one attempt, which opens a fresh session — on the runtime's
`RetrySchedule` (edgevla.runtime.retry: the one owner of retrying). `connect()` at start-up
retries on the same schedule. Within one attempt a fresh channel re-dials every
`channel.DIAL_INTERVAL_S`, so a restarted server is found within about that of listening.
A chunk the action guard refuses (NaN/inf, far outside the spec's action range) raises
`UnsafeChunk` — a `ServerUnavailable`, so the arm holds — and is counted in `refused_chunks`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from edgevla.contracts import ActionChunk, Observation, PolicySpec, PolicyUnavailable
from edgevla.features import IMAGE_KEY_PREFIX, TASK_KEY
from edgevla.runtime.retry import RetrySchedule
from edgevla.serve import schema, tensors
from edgevla.serve.auth import bearer_metadata
from edgevla.serve.channel import is_loopback, make_channel, translate
from edgevla.serve.errors import (
    NotConnected,
    RemoteError,
    ServeError,
    ServerUnavailable,
    SessionLost,
    UnsafeChunk,
)
from edgevla.serve.guard import ActionGuard
from edgevla.serve.proto import policy_service_pb2 as pb
from edgevla.serve.proto import policy_service_pb2_grpc as pb_grpc
from edgevla.serve.server import MIB

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallTiming:
    """One Infer call: round trip on the robot's clock, compute and queue wait on the server's."""

    round_trip_s: float
    compute_s: float
    queue_wait_s: float

    @property
    def network_s(self) -> float:
        """Round trip minus the server's time: serialization, transport, RPC overhead."""
        return max(0.0, self.round_trip_s - self.compute_s - self.queue_wait_s)


class RemotePolicy:
    """ChunkPolicy over gRPC. The constructor does no I/O; `connect()` opens the session.

    expect: the spec the robot expects (fields left at their defaults are still checked);
    None adopts whatever the server serves. actions_per_chunk: 0 = the policy's chunk size.
    tls_ca: PEM bytes or path of the CA that signed the server's cert (None = plaintext).
    jpeg_quality: send images as JPEG at this quality (needs Pillow); None = raw.
    retry: how `connect()` retries and how long one `reconnect()` or `reset()` attempt may
    take (it waits for the server that long). Mid-episode the inference worker reconnects on
    `RuntimeConfig.retry` (`edgevla run` builds both from the same flags).
    """

    def __init__(
        self,
        address: str,
        expect: PolicySpec | None = None,
        *,
        policy: str = "",
        task: str = "",
        actions_per_chunk: int = 0,
        token: str | None = None,
        tls_ca: str | Path | bytes | None = None,
        tls_server_name: str | None = None,
        timeout: float = 10.0,
        jpeg_quality: int | None = None,
        max_message_mb: float = 64.0,
        retry: RetrySchedule | None = None,
        client_name: str = "",
    ) -> None:
        if not address:
            raise ValueError("address must be host:port, got an empty string")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 s, got {timeout}")
        if jpeg_quality is not None:
            if not 1 <= jpeg_quality <= 100:
                raise ValueError(f"jpeg_quality must be 1..100 or None, got {jpeg_quality}")
            if not tensors.jpeg_available():
                raise ValueError("jpeg_quality needs Pillow (pip install pillow); or send raw")
        self.address = address
        self.expect = expect
        self.policy_name = policy
        self.task = task
        self.actions_per_chunk = actions_per_chunk
        self.timeout = timeout
        self.jpeg_quality = jpeg_quality
        self.retry = retry or RetrySchedule()
        self.client_name = client_name
        self._token = token
        self._metadata = bearer_metadata(token)
        self._tls_ca = tls_ca
        self._tls_server_name = tls_server_name
        self._max_bytes = int(max_message_mb * MIB)
        self._lock = threading.Lock()
        self._channel: grpc.Channel | None = None
        self._stub: pb_grpc.PolicyServiceStub | None = None
        self._session_id: str | None = None
        self._spec: PolicySpec | None = None
        self._guard = ActionGuard()
        self.last_timing: CallTiming | None = None
        self.refused_chunks = 0

    # -- ChunkPolicy ------------------------------------------------------------------------

    @property
    def spec(self) -> PolicySpec:
        """The session's spec once connected; before that, what the robot expects."""
        if self._spec is not None:
            return self._spec
        if self.expect is not None:
            return self.expect
        raise NotConnected("RemotePolicy.spec is known after connect()")

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        """Send one observation; the chunk's timestep is the server's, actions float32[T, A].

        Raises ServerUnavailable (SessionLost if the server forgot the session), Superseded,
        RemoteError (the server rejected the input or the policy failed), ValueError (the
        observation does not fit the spec; nothing was sent).
        """
        stub, session_id, spec = self._current()
        request = self._request(observation, timestep, session_id, spec)
        start = time.perf_counter()
        try:
            reply = stub.Infer(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise translate(e, f"Infer(timestep={timestep})", self.address) from None
        except ValueError as e:  # grpc: the channel was closed under us by reconnect()/close()
            raise ServerUnavailable(f"Infer on {self.address}: {e}") from None
        round_trip = time.perf_counter() - start
        actions = _actions(reply, spec)
        problem = self._guard.problem(actions)
        if problem is not None:
            self.refused_chunks += 1
            log.log(
                logging.WARNING if self.refused_chunks == 1 else logging.DEBUG,
                "refused a chunk from %s (%d so far), holding the arm: %s",
                self.address,
                self.refused_chunks,
                problem,
            )
            raise UnsafeChunk(f"Infer(timestep={timestep}) on {self.address}: {problem}")
        self.last_timing = CallTiming(round_trip, reply.compute_s, reply.queue_wait_s)
        return ActionChunk(actions, int(reply.timestep))

    def reset(self) -> None:
        """New episode: a fresh session, so the server resets the policy and the stats.

        Never waits out a retry schedule: without a session (the server went away) it raises
        SessionLost at once, else it makes one attempt of `retry.attempt_timeout_s`. On either
        failure the loop starts the episode holding the arm while the inference worker
        reconnects."""
        with self._lock:
            channel, stub, session_id = self._channel, self._stub, self._session_id
        if self._spec is None:
            return  # never connected: predict_chunk says to connect() first
        if session_id is None or channel is None:
            raise SessionLost(f"RemotePolicy({self.address}) has no session to reset: reconnect()")
        self._close_session()
        self._open(channel, stub, self.retry.attempt_timeout_s)

    # -- connection -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._session_id is not None

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def last_compute_s(self) -> float | None:
        return self.last_timing.compute_s if self.last_timing else None

    @property
    def last_round_trip_s(self) -> float | None:
        return self.last_timing.round_trip_s if self.last_timing else None

    def connect(self, timeout: float | None = None) -> PolicySpec:
        """Open a session, retrying on `self.retry` for up to `timeout` s (default
        self.timeout) while the server is unreachable; any other error at once."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout

        def before_deadline(seconds: float) -> bool:
            if time.monotonic() + seconds >= deadline:
                return False
            time.sleep(seconds)
            return True

        failures = 0

        def note(attempt: int, error: PolicyUnavailable) -> None:
            nonlocal failures
            failures = attempt
            log.info("connect to %s: attempt %d failed: %s", self.address, attempt, error)

        try:
            return self.retry.retry(
                lambda: self.reconnect(timeout=max(0.05, deadline - time.monotonic())),
                wait=before_deadline,
                on_failure=note,
            )
        except ServerUnavailable as e:
            raise ServerUnavailable(
                f"{e} (gave up after {failures} attempts in {timeout:g} s)"
            ) from None

    def reconnect(self, timeout: float | None = None) -> PolicySpec:
        """One attempt: drop the old session and channel, open a fresh session within
        `timeout` s (default `retry.attempt_timeout_s`). Raises ServerUnavailable when the
        server cannot be reached; the caller (the inference worker, `connect()`) owns retrying."""
        timeout = self.retry.attempt_timeout_s if timeout is None else timeout
        self._close_session()
        channel, stub = self._new_channel()
        try:
            return self._open(channel, stub, timeout)
        except ServeError:
            channel.close()
            raise

    def close(self) -> None:
        """Close the session (best effort) and the channel."""
        self._close_session()
        with self._lock:
            channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            channel.close()

    def __enter__(self) -> RemotePolicy:
        if not self.connected:
            self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _new_channel(self) -> tuple[grpc.Channel, pb_grpc.PolicyServiceStub]:
        channel = make_channel(
            self.address,
            tls_ca=self._tls_ca,
            tls_server_name=self._tls_server_name,
            max_message_bytes=self._max_bytes,
        )
        with self._lock:
            old, self._channel = self._channel, channel
            self._stub = pb_grpc.PolicyServiceStub(channel)
            stub = self._stub
        if old is not None:
            old.close()
        if self._token and self._tls_ca is None and not is_loopback(self.address):
            log.warning(
                "sending a bearer token to %s without TLS: anyone on the path can read it",
                self.address,
            )
        return channel, stub

    def _open(self, channel, stub, timeout: float) -> PolicySpec:
        request = pb.OpenSessionRequest(
            policy=self.policy_name,
            task=self.task,
            actions_per_chunk=self.actions_per_chunk,
            client_name=self.client_name,
            adopt=self.expect is None,
        )
        if self.expect is not None:
            schema.spec_to_proto(self.expect, request.expected)
        try:  # waits for the server within `timeout`: the channel re-dials meanwhile
            reply = stub.OpenSession(
                request, timeout=timeout, metadata=self._metadata, wait_for_ready=True
            )
        except grpc.RpcError as e:
            raise translate(e, "OpenSession", self.address) from None
        try:
            spec = schema.spec_from_proto(reply.spec)
            guard = ActionGuard.for_spec(spec)
        except ValueError as e:  # extra_json that is not JSON, a malformed action range
            raise RemoteError(f"the server announced an unreadable spec: {e}") from e
        self._check_announced(spec)
        with self._lock:
            self._channel, self._stub = channel, stub
            self._session_id, self._spec, self._guard = reply.session_id, spec, guard
        log.info(
            "session %s open on %s: policy %r, %d actions per chunk at %g fps",
            reply.session_id[:8],
            self.address,
            reply.policy,
            spec.chunk_size,
            spec.fps,
        )
        return spec

    def _check_announced(self, spec: PolicySpec) -> None:
        """Trust but verify: the session must be what the robot asked for."""
        if self.expect is None:
            return
        expected = schema.spec_to_proto(self.expect)
        expected.chunk_size = self.actions_per_chunk or 0  # the reply carries actions per chunk
        problems = schema.spec_mismatches(expected, spec)
        if problems:
            raise RemoteError(f"the server opened a session that does not match: {problems}")

    def _close_session(self) -> None:
        with self._lock:
            stub, session_id, self._session_id = self._stub, self._session_id, None
        if stub is None or session_id is None:
            return
        try:
            stub.CloseSession(
                pb.CloseSessionRequest(session_id=session_id),
                timeout=min(0.5, self.timeout),
                metadata=self._metadata,
            )
        except grpc.RpcError as e:  # the server may be gone; the session dies with it
            log.debug("CloseSession %s: %s", session_id[:8], e.code().name)

    def _current(self) -> tuple[pb_grpc.PolicyServiceStub, str, PolicySpec]:
        with self._lock:
            if self._stub is None or self._session_id is None or self._spec is None:
                if self._spec is None:
                    raise NotConnected(f"RemotePolicy({self.address}): call connect() first")
                # It had a session and lost it (a failed reset/reconnect): same remedy as a
                # server that went away, so the control loop's reconnect path handles it.
                raise SessionLost(f"RemotePolicy({self.address}) has no session: reconnect()")
            return self._stub, self._session_id, self._spec

    def _request(
        self, observation: Observation, timestep: int, session_id: str, spec: PolicySpec
    ) -> pb.InferRequest:
        task = observation.get(TASK_KEY, "")
        if not isinstance(task, str):
            raise ValueError(f"observation[{TASK_KEY!r}] must be a str, got {type(task).__name__}")
        # Send what the policy declares, nothing more: a camera it does not use or the sim's
        # privileged state never leaves the robot. Missing keys are still an error below.
        wanted = schema.expected_keys(spec)
        arrays = {k: np.asarray(v) for k, v in observation.items() if k in wanted}
        problem = schema.observation_error({k: (a.dtype, a.shape) for k, a in arrays.items()}, spec)
        if problem is not None:
            raise ValueError(problem)
        request = pb.InferRequest(session_id=session_id, task=task, timestep=int(timestep))
        for key, array in arrays.items():
            # Encoding cameras on a thread pool measured slower on 2 cores: keep it serial.
            if self.jpeg_quality is not None and key.startswith(IMAGE_KEY_PREFIX):
                tensors.fill_jpeg(request.observation[key], array, self.jpeg_quality)
            else:
                tensors.fill_raw(request.observation[key], array)
        return request


def _actions(reply: pb.InferReply, spec: PolicySpec) -> np.ndarray:
    """float32[chunk_size, action_dim] from the reply, or RemoteError: never guess."""
    want = (spec.chunk_size, spec.action_dim)
    try:
        actions = tensors.decode(reply.actions, "actions")
    except tensors.TensorError as e:
        raise RemoteError(f"the server sent an undecodable action chunk: {e}") from e
    if actions.dtype != np.float32 or actions.shape != want:
        raise RemoteError(
            f"the server sent actions {actions.dtype}{list(actions.shape)}, "
            f"expected float32{list(want)}"
        )
    return actions.copy()  # writable and independent of the reply buffer
