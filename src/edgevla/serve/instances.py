"""A policy object per session, so one robot's episode state is never another's.

How a session gets its own policy, in order of preference:
- the policy has `fork()`: a new per-session policy that shares the weights and owns its
  episode state (cheap; the way for large models);
- the policy has `reset()` (it may keep episode state): a deep copy, reset before first use;
  one that cannot be copied falls back to the shared object (logged once, with why);
- no `reset()`: a stateless policy, shared by every session.
The per-session object is made at the session's first inference, not at OpenSession, so
sessions that never infer cost nothing, and it is dropped when the session ends.
"""

from __future__ import annotations

import copy
import logging
import threading

from edgevla.contracts import ChunkPolicy

log = logging.getLogger("edgevla.serve")


class SessionPolicies:
    """session id -> its policy object, made on first use (see module docstring)."""

    def __init__(self, name: str, policy: ChunkPolicy) -> None:
        self.name = name
        self.base = policy
        if callable(getattr(policy, "fork", None)):
            self.mode = "fork"
        elif callable(getattr(policy, "reset", None)):
            self.mode = "copy"
        else:
            self.mode = "shared"
        self._lock = threading.Lock()
        self._by_session: dict[str, ChunkPolicy] = {}
        self._making: dict[str, threading.Lock] = {}

    def get(self, session_id: str) -> ChunkPolicy:
        """This session's policy; the first call makes (and resets) it."""
        with self._lock:
            policy = self._by_session.get(session_id)
            if policy is not None:
                return policy
            making = self._making.setdefault(session_id, threading.Lock())
        with making:  # two of one session's requests may start together: make it once
            with self._lock:
                policy = self._by_session.get(session_id)
            if policy is None:
                policy = self._make()
                with self._lock:
                    self._by_session[session_id] = policy
                    self._making.pop(session_id, None)
        return policy

    def forget(self, session_id: str) -> None:
        """The session ended: its policy object goes with it."""
        with self._lock:
            self._by_session.pop(session_id, None)
            self._making.pop(session_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_session)

    def _make(self) -> ChunkPolicy:
        if self.mode == "fork":
            return self.base.fork()  # type: ignore[attr-defined]
        if self.mode == "copy":
            try:
                policy = copy.deepcopy(self.base)
            except Exception as e:  # e.g. a native session object that cannot be copied
                log.warning(
                    "policy %r cannot be copied per session (%s: %s): every session shares "
                    "one object, reset when a session starts; give it fork() to isolate them",
                    self.name,
                    type(e).__name__,
                    e,
                )
                self.mode = "shared_reset"
                policy = self.base
            policy.reset()
            return policy
        if self.mode == "shared_reset":
            self.base.reset()  # type: ignore[attr-defined]
        return self.base
