"""The action queue: timestep-tagged joint targets between inference and the control tick.

The control thread pops one action per tick while an inference worker merges chunks in, so
every operation takes one lock and leaves the queue consistent: timesteps strictly increasing,
each at most once. Actions are keyed by control tick, not by position, because a chunk that
took L seconds to compute starts at the tick of its observation: its first ceil(L·fps)
actions are already in the past when it lands (stale) and must be dropped, not executed late.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from edgevla.contracts import ActionChunk
from edgevla.runtime.aggregators import Aggregator


@dataclass(frozen=True)
class MergeReport:
    """What one merge did: counts of the chunk's actions by fate."""

    stale: int  # timestep < now_tick: passed while the chunk was computed; dropped
    blended: int  # overlapped a queued action; the aggregator combined the two
    appended: int  # new timesteps added after the queued ones
    superseded: int  # queued actions beyond the new chunk's end, dropped: the new plan rules


@dataclass(frozen=True)
class QueueCounters:
    """Cumulative counters; `appended == popped + expired + superseded + size` always holds."""

    merges: int
    stale_dropped: int
    blended: int
    appended: int
    popped: int
    expired: int  # queued actions whose tick passed without being popped
    superseded: int


class ActionQueue:
    """Thread-safe queue of (timestep, float32[A]) entries with strictly increasing timesteps."""

    def __init__(self, action_dim: int) -> None:
        if action_dim <= 0:
            raise ValueError(f"action_dim must be positive, got {action_dim}")
        self.action_dim = int(action_dim)
        self._lock = threading.Lock()
        self._items: deque[tuple[int, np.ndarray]] = deque()
        self._c = dict.fromkeys(QueueCounters.__dataclass_fields__, 0)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def size(self) -> int:
        return len(self)

    @property
    def counters(self) -> QueueCounters:
        with self._lock:
            return QueueCounters(**self._c)

    def timesteps(self) -> list[int]:
        """A snapshot of the queued timesteps, oldest first."""
        with self._lock:
            return [ts for ts, _ in self._items]

    def head(self, tick: int, limit: int) -> np.ndarray:
        """float32[k, A]: the queued actions for ticks tick, tick + 1, ... (k <= limit, stopping
        at the first gap) — what the arm will execute from `tick` on if nothing else lands."""
        with self._lock:
            rows = [a for ts, a in self._items if ts >= tick]
            steps = [ts for ts, _ in self._items if ts >= tick]
        k = 0
        while k < min(limit, len(rows)) and steps[k] == tick + k:
            k += 1
        if k == 0:
            return np.zeros((0, self.action_dim), dtype=np.float32)
        return np.stack(rows[:k]).astype(np.float32)

    def clear(self) -> None:
        """Empty the queue and zero the counters (start of an episode)."""
        with self._lock:
            self._items.clear()
            self._c = dict.fromkeys(self._c, 0)

    def pop(self, tick: int) -> np.ndarray | None:
        """The action for control tick `tick`, or None if the queue has none for it.

        Queued actions for earlier ticks are discarded (counted as `expired`); an action for a
        later tick stays queued. On None the caller holds its last target.
        """
        with self._lock:
            while self._items and self._items[0][0] < tick:
                self._items.popleft()
                self._c["expired"] += 1
            if not self._items or self._items[0][0] > tick:
                return None
            self._c["popped"] += 1
            return self._items.popleft()[1]

    def merge(
        self,
        chunk: ActionChunk,
        now_tick: int,
        aggregator: Aggregator,
        *,
        min_blend: int = 0,
        hold: np.ndarray | None = None,
    ) -> MergeReport:
        """Merge `chunk` (actions[i] is for tick chunk.timestep + i) at control tick `now_tick`.

        Drops the chunk's actions for ticks before `now_tick`, blends the ones whose tick is
        still queued with `aggregator(old, new)`, appends the rest, and drops queued actions
        past the chunk's last tick.

        min_blend: blend at least this many of the chunk's first fresh actions even where the
        queue holds fewer. The missing `old` rows continue the last queued action — or `hold`,
        the target the arm holds now, when nothing is queued — with the new chunk's own
        motion, so what is blended away is only the offset between the two: a chunk landing
        on a short or dry queue is entered without a jump and without a speed-up.
        """
        actions = np.asarray(chunk.actions, dtype=np.float32)
        if actions.ndim != 2 or actions.shape[1] != self.action_dim:
            raise ValueError(
                f"chunk actions must be [T, {self.action_dim}], got shape {actions.shape}"
            )
        first = max(int(now_tick) - chunk.timestep, 0)
        stale = min(first, len(actions))
        fresh = actions[stale:]
        start = chunk.timestep + stale
        with self._lock:
            self._c["merges"] += 1
            self._c["stale_dropped"] += stale
            if len(fresh) == 0:
                return MergeReport(stale=stale, blended=0, appended=0, superseded=0)
            end = start + len(fresh)  # exclusive
            before = [(ts, a) for ts, a in self._items if ts < start]
            overlap = [(ts, a) for ts, a in self._items if start <= ts < end]
            superseded = len(self._items) - len(before) - len(overlap)
            fresh = fresh.copy()
            rows = [ts - start for ts, _ in overlap]
            olds = [a for _, a in overlap]
            if len(rows) < min_blend and rows == list(range(len(rows))):  # contiguous
                base, ref = _pad_reference(olds, before, hold, fresh, actions, stale)
                if base is not None:
                    for i in range(len(rows), min(min_blend, len(fresh))):
                        rows.append(i)
                        olds.append(base + (fresh[i] - ref))
            if rows:
                old = np.stack(olds).astype(np.float32)
                rows = np.asarray(rows)
                blended = np.asarray(aggregator(old, fresh[rows]), dtype=np.float32)
                if blended.shape != old.shape:
                    raise ValueError(
                        f"aggregator returned shape {blended.shape}, expected {old.shape}"
                    )
                fresh[rows] = blended
            self._items = deque(before)
            self._items.extend((start + i, fresh[i]) for i in range(len(fresh)))
            appended = len(fresh) - len(overlap)
            self._c["blended"] += len(rows)
            self._c["appended"] += appended
            self._c["superseded"] += superseded
            return MergeReport(
                stale=stale, blended=len(rows), appended=appended, superseded=superseded
            )


def _pad_reference(olds, before, hold, fresh, actions, stale):
    """(base, ref): the old plan's last target and the new chunk's target for the same tick,
    or (None, None) when there is nothing to blend. A chunk with nothing stale landing on a
    dry queue starts where it was planned from — the pose the arm holds — so it needs none."""
    if olds:
        return olds[-1], fresh[len(olds) - 1]
    base = before[-1][1] if before else hold
    if base is None or stale == 0:
        return None, None
    return np.asarray(base, dtype=np.float32), actions[stale - 1]
