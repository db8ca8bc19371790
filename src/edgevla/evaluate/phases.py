"""Where an episode's time goes: reach, grasp, transport, release, and the regrasps.

Completion time alone cannot say why async loses to sync: a subscriber that splits every
episode into task phases (from the sim's privileged state, which only evaluation reads) shows
whether the extra seconds are spent reaching, re-grasping, carrying or letting go, and how
much of each phase the arm spent waiting for inference.

Phases, from the commanded gripper and the sim's `held` flag:
- reach: from the start until the gripper, once open, is first commanded closed
- grasp: from then until the bag is first held
- transport: from then until the bag is last released
- release: from then until the episode ends (at success, or the time limit)
A grasp attempt is each open -> closed command of the gripper (one resting closed at the start
is none); a drop is the bag leaving the
jaws anywhere but at the final release.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgevla.features import ENV_STATE_HELD, ENV_STATE_KEY, JOINT_NAMES
from edgevla.runtime.records import EpisodeResult, EpisodeStart, TickRecord

PHASES: tuple[str, ...] = ("reach", "grasp", "transport", "release")
GRIPPER = JOINT_NAMES.index("gripper")
CLOSED_BELOW = 50.0  # gripper target (0 closed .. 100 open) counted as a close command
OPEN_ABOVE = 70.0  # ... and as open again: the gap keeps a blended target from chattering


@dataclass(frozen=True)
class PhaseSplit:
    """One episode. seconds / waiting_s: per phase in PHASES order (waiting: idle ticks)."""

    seconds: tuple[float, ...]
    waiting_s: tuple[float, ...]
    grasp_attempts: int
    drops: int
    success: bool

    def as_dict(self) -> dict[str, float | int | bool]:
        out: dict[str, float | int | bool] = {
            f"{p}_s": s for p, s in zip(PHASES, self.seconds, strict=True)
        }
        out.update({f"{p}_wait_s": w for p, w in zip(PHASES, self.waiting_s, strict=True)})
        out.update(grasp_attempts=self.grasp_attempts, drops=self.drops, success=self.success)
        return out


class PhaseRecorder:
    """Subscriber: one PhaseSplit per episode in `episodes`, in order."""

    def __init__(self) -> None:
        self.episodes: list[PhaseSplit] = []
        self._fps = 30.0
        self._held: list[bool] = []
        self._closed: list[bool] = []
        self._idle: list[bool] = []

    def on_episode_start(self, start: EpisodeStart) -> None:
        self._fps, self._held, self._closed, self._idle = start.fps, [], [], []

    def on_tick(self, record: TickRecord) -> None:
        state = record.observation.get(ENV_STATE_KEY)
        if state is None:
            raise KeyError(
                f"phase split needs the sim's privileged {ENV_STATE_KEY!r} in observations"
            )
        gripper = float(record.action[GRIPPER])
        was_closed = self._closed[-1] if self._closed else False
        closed = gripper < CLOSED_BELOW or (was_closed and gripper <= OPEN_ABOVE)
        self._held.append(bool(state[ENV_STATE_HELD] > 0.5))
        self._closed.append(closed)
        self._idle.append(record.idle)

    def on_episode_end(self, result: EpisodeResult) -> None:
        ends = int(round(result.completion_time_s * self._fps)) if result.success else None
        self.episodes.append(
            split_phases(self._held, self._closed, self._idle, self._fps, result.success, ends)
        )


def split_phases(
    held: Sequence[bool],
    closed: Sequence[bool],
    idle: Sequence[bool],
    fps: float,
    success: bool,
    end_tick: int | None = None,
) -> PhaseSplit:
    """Per-tick flags of one episode -> its PhaseSplit; ticks past `end_tick` (the settle
    ticks after success) are not counted."""
    n = len(held) if end_tick is None else min(end_tick, len(held))
    held_, closed_ = np.asarray(held[:n], bool), np.asarray(closed[:n], bool)
    closing = np.zeros(n, bool)  # open -> closed edges (a gripper resting closed is no grasp)
    closing[1:] = closed_[1:] & ~closed_[:-1]
    first_close = _first(closing, n)
    first_hold = max(_first(held_, n), first_close)
    last_release = n if not held_.any() else int(np.flatnonzero(held_)[-1]) + 1
    last_release = max(last_release, first_hold)
    bounds = (0, first_close, first_hold, last_release, n)
    idle_ = np.asarray(idle[:n], bool)
    seconds = tuple((bounds[i + 1] - bounds[i]) / fps for i in range(len(PHASES)))
    waiting = tuple(int(idle_[bounds[i] : bounds[i + 1]].sum()) / fps for i in range(len(PHASES)))
    attempts = int(np.count_nonzero(closing))
    releases = int(np.count_nonzero(held_[:-1] & ~held_[1:]))
    drops = max(0, releases - (1 if success else 0))
    return PhaseSplit(seconds, waiting, attempts, drops, success)


def summarize_phases(splits: Sequence[PhaseSplit]) -> dict[str, float]:
    """Medians over the successful episodes (failures have no release to time), plus the
    mean grasp attempts and drops over every episode."""
    wins = [s for s in splits if s.success]
    out: dict[str, float] = {}
    for i, phase in enumerate(PHASES):
        out[f"{phase}_s"] = float(np.median([s.seconds[i] for s in wins])) if wins else np.nan
        out[f"{phase}_wait_s"] = (
            float(np.median([s.waiting_s[i] for s in wins])) if wins else np.nan
        )
    out["grasp_attempts"] = float(np.mean([s.grasp_attempts for s in splits])) if splits else 0.0
    out["drops"] = float(np.mean([s.drops for s in splits])) if splits else 0.0
    return out


def _first(flags: np.ndarray, default: int) -> int:
    hits = np.flatnonzero(flags)
    return int(hits[0]) if hits.size else default
