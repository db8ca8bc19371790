"""ServeLimits: every bound the policy server keeps, in one frozen config (DESIGN §5).

Passed whole to PolicyServer and built whole by `edgevla serve`; the defaults suit a lab of a
few dozen arms on one server and a network where not every client is well behaved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from edgevla.contracts import FLOAT_FEATURES, PolicySpec

MIB = 1024 * 1024
ANY_SIZE_MESSAGE_BYTES = 32 * MIB
"""The message limit when a policy accepts images of any size (nothing to derive it from)."""
ISOLATIONS = ("thread", "process")


@dataclass(frozen=True)
class ServeLimits:
    """max_sessions / max_sessions_per_peer: open sessions in all / from one host; at a cap,
    the oldest session that never inferred is evicted before a new one is refused.
    session_idle_s: a session unused this long is swept (on a timer, every sweep_s).
    workers: inference workers per policy; isolation: "thread" (workers are threads of this
    process, sharing its GIL) or "process" (a process each, loading the policy from its
    source; edgevla.serve.pool); max_in_flight: one session's requests computed at once
    (its newer ones wait, newest only; a session stays in one worker process, so there at
    most one). infer_timeout_s: a worker process that has not answered one inference in this
    long is taken as hung, killed and restarted (thread workers cannot be killed: a hung one
    stays busy). max_message_mb: None = derived from the
    policies' specs. peer_rate / peer_burst: PolicyService calls per second from one host.
    rpc_threads: gRPC's threads; control_threads of them are never given to a waiting Infer,
    so health checks and session control answer under any inference load."""

    max_sessions: int = 64
    max_sessions_per_peer: int = 32
    session_idle_s: float = 30.0
    sweep_s: float = 1.0
    workers: int = 1
    isolation: str = "thread"
    max_in_flight: int = 2
    infer_timeout_s: float = 30.0
    max_message_mb: float | None = None
    peer_rate: float = 1000.0
    peer_burst: float = 1000.0
    rpc_threads: int = 48
    control_threads: int = 8

    def __post_init__(self) -> None:
        positive = {
            "max_sessions": self.max_sessions,
            "max_sessions_per_peer": self.max_sessions_per_peer,
            "workers": self.workers,
            "max_in_flight": self.max_in_flight,
            "control_threads": self.control_threads,
            "peer_rate": self.peer_rate,
            "peer_burst": self.peer_burst,
            "sweep_s": self.sweep_s,
            "infer_timeout_s": self.infer_timeout_s,
        }
        bad = {k: v for k, v in positive.items() if not (math.isfinite(v) and v > 0)}
        if bad:
            raise ValueError(f"ServeLimits fields must be > 0, got {bad}")
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {self.isolation!r}")
        if not (math.isfinite(self.session_idle_s) and self.session_idle_s >= 0):
            raise ValueError(f"session_idle_s must be >= 0, got {self.session_idle_s}")
        if self.max_message_mb is not None and not self.max_message_mb > 0:
            raise ValueError(f"max_message_mb must be > 0 or None, got {self.max_message_mb}")
        if self.rpc_threads <= self.control_threads:
            raise ValueError(
                f"rpc_threads ({self.rpc_threads}) must exceed control_threads "
                f"({self.control_threads}): the rest serve Infer"
            )

    @property
    def infer_slots(self) -> int:
        """Infer calls that may wait for a worker at once; more get RESOURCE_EXHAUSTED."""
        return self.rpc_threads - self.control_threads

    def max_message_bytes(self, specs: Iterable[PolicySpec]) -> int:
        """The configured limit, or twice the largest raw observation the specs admit plus
        1 MiB of slack (protobuf framing, task text): a client cannot make the server buffer
        32 MiB for a policy that reads 64 KB."""
        if self.max_message_mb is not None:
            return int(self.max_message_mb * MIB)
        largest = 0
        for spec in specs:
            if spec.cameras and spec.image_shape is None:
                return ANY_SIZE_MESSAGE_BYTES
            h, w = spec.image_shape or (0, 0)
            floats = spec.state_dim + sum(_float_dims(spec)) + spec.chunk_size * spec.action_dim
            largest = max(largest, len(spec.cameras) * h * w * 3 + 4 * floats)
        return 2 * largest + MIB


def _float_dims(spec: PolicySpec) -> list[int]:
    declared = spec.extra.get(FLOAT_FEATURES, {})
    return [int(d) for d in declared.values()] if isinstance(declared, dict) else []
