"""Motion in the parquet columns: jumps, joints at their limits, idle lead-in/out, a gripper
that never closes, state lagging the action."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgevla.dataset.doctor.context import DoctorContext
from edgevla.dataset.doctor.registry import check
from edgevla.dataset.doctor.report import CheckResult, Finding
from edgevla.dataset.doctor.results import not_available, result
from edgevla.features import ACTION_KEY, MOTOR_NAMES, STATE_KEY

# SO-101 joint limits in follower degrees (its URDF, rounded); the gripper's 0..100 is not a
# saturation but its range.
SO101_LIMITS_DEG = {
    "shoulder_pan.pos": (-110.0, 110.0),
    "shoulder_lift.pos": (-100.0, 100.0),
    "elbow_flex.pos": (-96.8, 96.8),
    "wrist_flex.pos": (-95.1, 95.1),
    "wrist_roll.pos": (-157.0, 162.7),
}


def _names(ctx: DoctorContext, key: str) -> list[str]:
    return list(ctx.reader.features.get(key, {}).get("names") or [])


def _so101(ctx: DoctorContext) -> bool:
    return _names(ctx, ACTION_KEY) == list(MOTOR_NAMES)


@check("motion.jumps", "motion", "warn", max_step_deg=12.0, max_gripper_step=30.0)
def jumps(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Action steps larger than a joint can move in one frame."""
    if ACTION_KEY not in ctx.reader.features:
        return not_available("motion.jumps", t, "no 'action' feature")
    names = _names(ctx, ACTION_KEY)
    findings = []
    for e in ctx.episodes:
        a = np.asarray(ctx.columns(e)[ACTION_KEY], dtype=np.float64)
        if len(a) < 2:
            continue
        step = np.abs(np.diff(a, axis=0))
        limit = np.full(a.shape[1], float(t["max_step_deg"]))
        limit[[i for i, n in enumerate(names) if "gripper" in n]] = float(t["max_gripper_step"])
        over = np.argwhere(step > limit)
        if over.size:
            i, j = (int(v) for v in over[0])
            joint = names[j] if j < len(names) else f"dim {j}"
            msg = f"{len(over)} jumps; first {joint} by {step[i, j]:.1f} at frame {i + 1}"
            findings.append(Finding(msg, e, frame=i + 1, value=float(step[i, j])))
    return result("motion.jumps", t, findings, "no action jumps")


@check("motion.saturation", "motion", "warn", margin_deg=1.0, max_share=0.25)
def saturation(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Arm joints pinned at a limit for a large share of an episode (SO-101 limits)."""
    if not _so101(ctx) or STATE_KEY not in ctx.reader.features:
        return not_available(
            "motion.saturation", t, "needs SO-101 joint names (their limits are known) and a state"
        )
    lo = np.array([v[0] for v in SO101_LIMITS_DEG.values()]) + float(t["margin_deg"])
    hi = np.array([v[1] for v in SO101_LIMITS_DEG.values()]) - float(t["margin_deg"])
    findings = []
    for e in ctx.episodes:
        s = np.asarray(ctx.columns(e)[STATE_KEY], dtype=np.float64)[:, :5]
        share = ((s <= lo) | (s >= hi)).mean(axis=0)
        j = int(np.argmax(share))
        if share[j] > float(t["max_share"]):
            msg = f"{MOTOR_NAMES[j]} at its limit {100 * share[j]:.0f} % of the episode"
            findings.append(Finding(msg, e, value=float(share[j])))
    return result("motion.saturation", t, findings, "no joint pinned at a limit")


@check("motion.gripper", "motion", "warn", closed_below=30.0)
def gripper_closes(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """The gripper closes at least once per episode (else nothing was grasped)."""
    names = _names(ctx, ACTION_KEY)
    cols = [i for i, n in enumerate(names) if "gripper" in n]
    if not cols:
        return not_available("motion.gripper", t, "no action named '*gripper*'")
    findings = []
    for e in ctx.episodes:
        g = np.asarray(ctx.columns(e)[ACTION_KEY], dtype=np.float64)[:, cols[0]]
        if g.size and g.min() > float(t["closed_below"]):
            findings.append(
                Finding(f"gripper never closes (min {g.min():.0f})", e, value=float(g.min()))
            )
    return result("motion.gripper", t, findings, "the gripper closes in every episode")


@check("motion.idle", "motion", "warn", still_deg=0.5, max_idle_s=2.0)
def idle(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Long still stretches at an episode's start or end (recording started or ended late)."""
    if STATE_KEY not in ctx.reader.features:
        return not_available("motion.idle", t, "no 'observation.state' feature")
    fps, still = float(ctx.reader.fps), float(t["still_deg"])
    findings = []
    for e in ctx.episodes:
        s = np.asarray(ctx.columns(e)[STATE_KEY], dtype=np.float64)
        if len(s) < 2:
            continue
        lead = _still_frames(s, still)
        tail = _still_frames(s[::-1], still)
        if lead / fps > float(t["max_idle_s"]):
            findings.append(
                Finding(f"idle for {lead / fps:.1f} s at the start", e, frame=0, value=lead / fps)
            )
        if tail / fps > float(t["max_idle_s"]) and tail < len(s):
            frame = len(s) - tail
            findings.append(
                Finding(f"idle for {tail / fps:.1f} s at the end", e, frame=frame, value=tail / fps)
            )
    return result("motion.idle", t, findings, "no idle lead-in or lead-out")


def _still_frames(s: np.ndarray, still: float) -> int:
    moved = np.flatnonzero(np.abs(s - s[0]).max(axis=1) > still)
    return int(moved[0]) if moved.size else len(s)


@check("motion.lag", "motion", "warn", max_lag_s=0.5)
def lag(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """The state follows the action within max_lag_s (cross-correlation of their velocities)."""
    if STATE_KEY not in ctx.reader.features or ACTION_KEY not in ctx.reader.features:
        return not_available("motion.lag", t, "needs 'observation.state' and 'action'")
    fps = float(ctx.reader.fps)
    max_lag = int(round(float(t["max_lag_s"]) * fps))
    findings = []
    for e in ctx.episodes:
        cols = ctx.columns(e)
        a = np.diff(np.asarray(cols[ACTION_KEY], dtype=np.float64), axis=0)
        s = np.diff(np.asarray(cols[STATE_KEY], dtype=np.float64), axis=0)
        if len(a) < 4 * max_lag or a.shape != s.shape:
            continue
        lags = range(0, 3 * max_lag)
        score = [float((a[: len(a) - k] * s[k:]).sum()) for k in lags]
        best = int(np.argmax(score))
        if best > max_lag:
            msg = f"state follows the action {best / fps:.2f} s late"
            findings.append(Finding(msg, e, value=best / fps))
    return result("motion.lag", t, findings, "state follows the action")
