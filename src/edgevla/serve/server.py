"""PolicyServer: serves loaded ChunkPolicies over gRPC, one session per robot (DESIGN §5).

Constructing it does no I/O; `start()` loads (a factory's policies, or each source: here, or
in every worker process with `ServeLimits.isolation="process"`), binds and serves;
`stop(grace)` drains in-flight calls, then stops the policy workers. Every bound it keeps
(sessions, workers, isolation, rates, message size) is one ServeLimits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2

from edgevla.contracts import ChunkPolicy, PolicySpec
from edgevla.serve.auth import BearerTokenInterceptor
from edgevla.serve.bounds import RateLimiter
from edgevla.serve.errors import ServeError
from edgevla.serve.handlers import health_handler, policy_handler
from edgevla.serve.limits import MIB, ServeLimits
from edgevla.serve.pool import PolicyLoader, ProcessRunner, WorkerDied
from edgevla.serve.proto import policy_service_pb2 as pb
from edgevla.serve.service import PolicyServicer
from edgevla.serve.sessions import SessionTable, Sweeper
from edgevla.serve.worker import InProcess, PolicyWorker, Runner

log = logging.getLogger("edgevla.serve")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PolicyService"].full_name

PolicyEntry = ChunkPolicy | PolicyLoader | str
"""A loaded policy, or what to load: a PolicyLoader, or a `--policy` source string."""
Policies = Mapping[str, PolicyEntry] | Callable[[], Mapping[str, PolicyEntry]]


def read_pem(value: str | Path | bytes) -> bytes:
    """PEM bytes given directly, or read from a file path."""
    if isinstance(value, bytes):
        return value
    path = Path(value)
    if not path.is_file():
        raise ServeError(f"expected a PEM file, {path} does not exist")
    return path.read_bytes()


def format_address(host: str, port: int) -> str:
    """`host:port`, bracketing IPv6 literals."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


class PolicyServer:
    """policies: name -> ChunkPolicy, PolicyLoader or source string, or a zero-argument
    factory of that mapping called in `start()`. With `limits.isolation == "process"` every
    policy must be a loader or a source: each worker process loads its own.

    tls_cert/tls_key: PEM bytes or file paths (both or neither); token: require
    `authorization: Bearer <token>` on every PolicyService call. port=0 picks a free port.
    limits: sessions, workers, rates and the message size (see ServeLimits).
    """

    def __init__(
        self,
        policies: Policies,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        tls_cert: str | Path | bytes | None = None,
        tls_key: str | Path | bytes | None = None,
        token: str | None = None,
        limits: ServeLimits | None = None,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("TLS needs both tls_cert and tls_key (or neither)")
        if token is not None and not token:
            raise ValueError("token must be a non-empty string or None")
        self._policies = policies
        self.host = host
        self._requested_port = port
        limits = limits or ServeLimits()
        self.limits = limits
        self.max_bytes = 0  # known in start(): derived from the policies' specs by default
        self._tls = (tls_cert, tls_key) if tls_cert is not None else None
        self._token = token
        self._sessions = SessionTable(
            limits.max_sessions, limits.max_sessions_per_peer, limits.session_idle_s
        )
        self._sweeper: Sweeper | None = None
        self._server: grpc.Server | None = None
        self._health: health.HealthServicer | None = None
        self._workers: dict[str, PolicyWorker] = {}
        self.port: int | None = None

    @property
    def address(self) -> str:
        if self.port is None:
            raise ServeError("the server is not started")
        return format_address(self.host, self.port)

    @property
    def specs(self) -> dict[str, PolicySpec]:
        return {name: w.spec for name, w in self._workers.items()}

    @property
    def workers(self) -> Mapping[str, PolicyWorker]:
        """name -> the worker running that policy (for monitoring: pending sessions)."""
        return dict(self._workers)

    @property
    def sessions(self) -> SessionTable:
        """The open sessions (for monitoring and tests)."""
        return self._sessions

    @property
    def tls(self) -> bool:
        return self._tls is not None

    def start(self) -> int:
        """Load, bind and serve; returns the bound port."""
        if self._server is not None:
            raise ServeError("the server is already started")
        policies = self._policies() if callable(self._policies) else self._policies
        limits = self.limits
        self._health = health.HealthServicer()
        self._workers = {
            name: PolicyWorker(name, self._runner(name, p), limits.workers, limits.max_in_flight)
            for name, p in _named(policies).items()
        }
        self._start_workers()
        try:
            self._serve()
        except BaseException:
            self._stop_workers(1.0)
            raise
        return self.port

    def _runner(self, name: str, entry: PolicyEntry) -> Runner:
        if isinstance(entry, str):
            entry = PolicyLoader(source=entry)
        if self.limits.isolation == "process":
            if not isinstance(entry, PolicyLoader):
                raise ServeError(
                    f"policy {name!r}: with isolation=process each worker process loads the "
                    f"policy itself; pass its source or a PolicyLoader, not a loaded "
                    f"{type(entry).__name__}"
                )
            return ProcessRunner(
                name,
                entry,
                self.limits.workers,
                infer_timeout_s=self.limits.infer_timeout_s,
                on_broken=self._out_of_service,
            )
        policy = entry.load() if isinstance(entry, PolicyLoader) else entry
        return InProcess(name, _checked(name, policy))

    def _start_workers(self) -> None:
        started: list[PolicyWorker] = []
        try:
            for name, worker in self._workers.items():
                try:
                    worker.start()
                except WorkerDied as e:
                    raise ServeError(f"policy {name!r}: {e}") from None
                started.append(worker)
                _check_spec(name, worker.spec)
        except BaseException:
            for worker in started:
                worker.stop(1.0)
            raise

    def _out_of_service(self, why: str) -> None:
        """A policy's worker processes cannot be restarted: tell health checkers."""
        for service in ("", SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)

    def _serve(self) -> None:
        limits = self.limits
        self.max_bytes = limits.max_message_bytes(w.spec for w in self._workers.values())
        server = grpc.server(
            futures.ThreadPoolExecutor(limits.rpc_threads, thread_name_prefix="edgevla-rpc"),
            interceptors=[BearerTokenInterceptor(self._token)] if self._token else [],
            options=[
                ("grpc.max_receive_message_length", self.max_bytes),
                ("grpc.max_send_message_length", self.max_bytes),
                ("grpc.so_reuseport", 0),  # a port in use is an error, not a shared listener
            ],
        )
        servicer = PolicyServicer(self._workers, self._sessions, self.max_bytes, limits)
        limiter = RateLimiter(limits.peer_rate, limits.peer_burst)
        server.add_generic_rpc_handlers(
            (
                policy_handler(servicer, SERVICE_NAME, limiter),
                health_handler(self._health, servicer.throttled),
            )
        )
        self.port = self._bind(server)
        self._sweeper = Sweeper(
            self._sessions,
            min(limits.sweep_s, max(limits.session_idle_s, 0.01)),
            lambda expired: servicer.ended(expired, "expired (idle)"),
        )
        self._sweeper.start()
        server.start()
        for service in ("", SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        log.info(
            "serving %s on %s (TLS %s, token %s, max message %.2f MiB, %d workers, "
            "sessions isolated by %s)",
            sorted(self._workers),
            self.address,
            "on" if self._tls else "off",
            "on" if self._token else "off",
            self.max_bytes / MIB,
            limits.workers,
            sorted({w.isolation for w in self._workers.values()}),
        )

    def _bind(self, server: grpc.Server) -> int:
        target = format_address(self.host, self._requested_port)
        try:
            if self._tls is None:
                port = server.add_insecure_port(target)
            else:
                cert, key = (read_pem(v) for v in self._tls)
                creds = grpc.ssl_server_credentials([(key, cert)])
                port = server.add_secure_port(target, creds)
        except RuntimeError as e:
            raise ServeError(f"cannot listen on {target}: {e} (port in use?)") from e
        if port == 0:
            raise ServeError(f"cannot listen on {target} (port in use or bad host)")
        return port

    def stop(self, grace: float | None = 1.0) -> None:
        """Report NOT_SERVING, let in-flight calls finish for `grace` s, then stop workers."""
        if self._server is None:
            return
        self._health.enter_graceful_shutdown()
        self._server.stop(grace).wait()
        if self._sweeper is not None:
            self._sweeper.stop()
        self._stop_workers(grace if grace is not None else 1.0)
        for session in self._sessions.clear():
            log.info("session %s dropped at shutdown: %s", session.id[:8], session.stats.summary())
        self._server = None
        log.info("stopped serving on %s", self.address)

    def _stop_workers(self, timeout: float) -> None:
        for worker in self._workers.values():
            worker.stop(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops; True if it did within `timeout`."""
        if self._server is None:
            return True
        return self._server.wait_for_termination(timeout)

    def __enter__(self) -> PolicyServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _named(policies: Mapping[str, PolicyEntry]) -> Mapping[str, PolicyEntry]:
    if not policies:
        raise ServeError("no policies to serve")
    for name in policies:
        if not name or not isinstance(name, str):
            raise ServeError(f"policy names must be non-empty strings, got {name!r}")
    return policies


def _checked(name: str, policy: ChunkPolicy) -> ChunkPolicy:
    spec = getattr(policy, "spec", None)
    if not isinstance(spec, PolicySpec) or not callable(getattr(policy, "predict_chunk", None)):
        raise ServeError(
            f"policy {name!r} must have a PolicySpec `spec` and `predict_chunk`, "
            f"got {type(policy).__name__}"
        )
    return policy


def _check_spec(name: str, spec: PolicySpec) -> None:
    if spec.chunk_size < 1:
        raise ServeError(f"policy {name!r}: chunk_size must be >= 1, got {spec.chunk_size}")
