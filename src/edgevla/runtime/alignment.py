"""Where an arriving chunk starts: aligned by the clock, or by where the arm really is.

A chunk computed from the observation of tick r plans actions[i] for tick r + i, assuming the
arm follows *this* plan from r on. It did not: for the L·fps ticks of inference it followed
the previous chunk. Time alignment (`align="time"`) drops the first ceil(L·fps) actions and
trusts that both plans progressed alike. They often do not: a stateless policy re-plans from
the observed pose, so its new plan may start slower (a planner that begins every move from
rest) or faster than the old one, or differ across a discrete event (the gripper closed
meanwhile). Executing from the time-aligned index then pulls the arm back along its path — a
jump, lost progress, sometimes an undone grasp.

State alignment (`align="state"`) keeps the clock as the prior and corrects it by the arm:
among the chunk's actions near the time-aligned index it picks the one closest to the last
commanded target and continues from the action after it — but only where that match is
clearly better (at most half the distance of the time-aligned entry). A chunk that is
equally far from the arm everywhere (it disagrees with the old plan by a constant offset, say
a looser grip) carries no evidence of where the arm is in it, and the clock decides. Every
executed action is still one the policy planned, in its order; only the entry point moves, by
at most the staleness.

Moving the entry forward uses up queued actions. Where the schedule is feasible (a chunk less
the actions that go stale during one inference still covers the trigger's reserve) the loop
lets it move forward only as far as the chunk leaves that reserve queued, so alignment never
makes a feasible queue run dry; where it is not, the arm holds before every chunk regardless
and the entry may move freely.
"""

from __future__ import annotations

import numpy as np

ALIGNMENTS = ("time", "state")
TIE_BREAK = 1e-3  # target units per tick of distance from the time-aligned index
MATCH_RATIO = 0.5  # move the entry only to an action at most this fraction as far away


def align_by_state(
    actions: np.ndarray,
    start_tick: int,
    now_tick: int,
    last_target: np.ndarray,
    max_ahead: int | None = None,
) -> int:
    """The tick to give actions[0] so that the action closest to `last_target` is the one
    commanded at tick now_tick − 1 (and its successor runs at now_tick).

    actions: float32[T, A]; start_tick: the time-aligned tick of actions[0]. The search covers
    indices within ±(now_tick − start_tick) of the time-aligned one (no further than the
    chunk is stale), and at most `max_ahead` indices past it when given; ties go to the
    time-aligned index. A chunk with nothing stale (it starts at or after now_tick) keeps its
    time alignment.
    """
    actions = np.asarray(actions, dtype=np.float32)
    target = np.asarray(last_target, dtype=np.float32)
    if actions.ndim != 2 or target.shape != (actions.shape[1],):
        raise ValueError(
            f"expected actions [T, A] and last_target [A], got {actions.shape} and {target.shape}"
        )
    expected = now_tick - 1 - start_tick  # index time alignment commands at now_tick − 1
    if expected < 0:
        return start_tick
    if len(actions) == 0:
        return start_tick
    reach = expected + 1
    ahead = reach if max_ahead is None else max(0, min(reach, max_ahead))
    lo, hi = max(0, expected - reach), min(len(actions) - 1, expected + ahead)
    index = np.arange(lo, hi + 1)
    distance = np.linalg.norm(actions[lo : hi + 1] - target, axis=1)
    best = int(index[np.argmin(distance + TIE_BREAK * np.abs(index - expected))])
    at_expected = float(distance[expected - lo]) if expected <= hi else np.inf
    if distance[best - lo] > MATCH_RATIO * at_expected:
        return start_tick
    return now_tick - 1 - best
