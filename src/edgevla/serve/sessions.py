"""The server's sessions: one per robot, each with its own spec, task and timing stats.

No lock-out: sessions idle longer than `idle_s` are swept on a timer (`sweep`), and at a cap
(in all, or from one host) the oldest session that never inferred is evicted before a new
one is refused, so thousands of cheap OpenSession calls can neither push out a robot that is
running nor keep a new robot from getting a session.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    """spec: what this session receives (chunk_size = actions per reply); host: the peer's
    address without its port (the unit of the per-peer cap)."""

    id: str
    policy: str
    spec: PolicySpec
    task: str
    client: str
    peer: str
    host: str
    opened: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    stats: SessionStats = field(default_factory=SessionStats)
    claimed: bool = False  # sent a valid observation (see SessionTable.claim)


class TooManySessions(Exception):
    """A session cap is reached and every session under it has inferred (none to evict)."""


def host_of(peer: str) -> str:
    """`ipv4:10.0.0.5:51234` -> `ipv4:10.0.0.5`; `ipv6:[::1]:5` -> `ipv6:[::1]`; else as is."""
    kind, sep, rest = peer.partition(":")
    if not sep or kind not in ("ipv4", "ipv6"):
        return peer
    address, colon, port = rest.rpartition(":")
    return f"{kind}:{address}" if colon and port.isdigit() else peer


class SessionTable:
    """Thread-safe id -> Session with caps in all and per host, eviction and idle expiry."""

    def __init__(self, max_sessions: int, max_per_host: int, idle_s: float) -> None:
        self.max_sessions = max_sessions
        self.max_per_host = max_per_host
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}  # insertion order = opening order

    def open(self, **fields: Any) -> tuple[Session, list[Session]]:
        """A new session with an unguessable id, plus the sessions it evicted (the oldest
        unclaimed one per full cap), or raise TooManySessions."""
        session = Session(id=secrets.token_hex(16), **fields)
        with self._lock:
            evicted = []
            same_host = [s for s in self._sessions.values() if s.host == session.host]
            if len(same_host) >= self.max_per_host:
                evicted.append(self._evict(same_host, f" from {session.host}", self.max_per_host))
            if len(self._sessions) >= self.max_sessions:
                evicted.append(self._evict(self._sessions.values(), "", self.max_sessions))
            self._sessions[session.id] = session
        return session, evicted

    def _evict(self, candidates, where: str, limit: int) -> Session:
        for s in candidates:
            if not s.claimed:
                return self._sessions.pop(s.id)
        raise TooManySessions(
            f"the server already has {limit} sessions{where} (the limit), all running; "
            "close one first"
        )

    def claim(self, session: Session) -> None:
        """The session sent a valid observation: it is a robot, never evicted for a newcomer."""
        with self._lock:
            session.claimed = True

    def sweep(self, now: float | None = None) -> list[Session]:
        """Drop the sessions idle longer than `idle_s`; returns them for the log."""
        now = time.monotonic() if now is None else now
        with self._lock:
            expired = [s for s in self._sessions.values() if now - s.last_used > self.idle_s]
            for s in expired:
                del self._sessions[s.id]
        return expired

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                session.last_used = time.monotonic()
            return session

    def close(self, session_id: str) -> Session | None:
        with self._lock:
            return self._sessions.pop(session_id, None)

    def update(self, session: Session, fn: Callable[[SessionStats], None]) -> None:
        """Apply `fn(stats)` under the table's lock (stats are read on close/log/evict)."""
        with self._lock:
            fn(session.stats)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def all(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def clear(self) -> list[Session]:
        """Drop every session (server shutdown); returns them for the log."""
        with self._lock:
            dropped = list(self._sessions.values())
            self._sessions.clear()
            return dropped


class Sweeper:
    """Calls `table.sweep()` every `interval_s` on its own thread and hands what expired to
    `on_expired` — expiry no longer waits for the next OpenSession."""

    def __init__(
        self,
        table: SessionTable,
        interval_s: float,
        on_expired: Callable[[list[Session]], None],
    ) -> None:
        self._table, self._interval_s, self._on_expired = table, interval_s, on_expired
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgevla-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            expired = self._table.sweep()
            if expired:
                self._on_expired(expired)
