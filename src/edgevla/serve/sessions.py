"""The server's sessions: one per robot, each with its own spec, task and timing stats."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from edgevla.contracts import PolicySpec


@dataclass
class SessionStats:
    """Counts and server-clock timings of one session's inferences."""

    infer_ok: int = 0
    infer_failed: int = 0
    superseded: int = 0
    compute_s_total: float = 0.0
    compute_s_max: float = 0.0
    queue_wait_s_total: float = 0.0

    def record_ok(self, compute_s: float, queue_wait_s: float) -> None:
        self.infer_ok += 1
        self.compute_s_total += compute_s
        self.compute_s_max = max(self.compute_s_max, compute_s)
        self.queue_wait_s_total += queue_wait_s

    def summary(self) -> str:
        mean = self.compute_s_total / self.infer_ok if self.infer_ok else 0.0
        return (
            f"{self.infer_ok} ok, {self.infer_failed} failed, {self.superseded} superseded, "
            f"compute mean {mean * 1e3:.1f} ms max {self.compute_s_max * 1e3:.1f} ms"
        )


@dataclass
class Session:
    """spec: what this session receives (chunk_size = actions per reply)."""

    id: str
    policy: str
    spec: PolicySpec
    task: str
    client: str
    peer: str
    opened: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    stats: SessionStats = field(default_factory=SessionStats)


class TooManySessions(Exception):
    """The server's session limit is reached."""


class SessionTable:
    """Thread-safe id -> Session; sessions idle longer than `idle_s` are dropped on open."""

    def __init__(self, max_sessions: int, idle_s: float) -> None:
        self.max_sessions = max_sessions
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def open(self, **fields) -> tuple[Session, list[Session]]:
        """A new session with an unguessable id, plus the idle sessions it expired."""
        now = time.monotonic()
        with self._lock:
            expired = [s for s in self._sessions.values() if now - s.last_used > self.idle_s]
            for s in expired:
                del self._sessions[s.id]
            if len(self._sessions) >= self.max_sessions:
                raise TooManySessions(
                    f"the server already has {len(self._sessions)} sessions "
                    f"(limit {self.max_sessions}); close one first"
                )
            session = Session(id=secrets.token_hex(16), **fields)
            self._sessions[session.id] = session
        return session, expired

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                session.last_used = time.monotonic()
            return session

    def close(self, session_id: str) -> Session | None:
        with self._lock:
            return self._sessions.pop(session_id, None)

    def update(self, session: Session, fn) -> None:
        """Apply `fn(stats)` under the table's lock (stats are read on close/log)."""
        with self._lock:
            fn(session.stats)

    def all(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def clear(self) -> list[Session]:
        """Drop every session (server shutdown); returns them for the log."""
        with self._lock:
            dropped = list(self._sessions.values())
            self._sessions.clear()
            return dropped
