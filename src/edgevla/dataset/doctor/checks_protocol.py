"""The recording protocol (DESIGN §6): cluster sizes, recovery share, a clean held-out cluster,
a gripper camera, one calibration, a task on every episode, sane episode lengths. Checks that
need our per-episode metadata say 'not available' on datasets recorded by LeRobot."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from edgevla.dataset.doctor.context import DoctorContext
from edgevla.dataset.doctor.registry import check
from edgevla.dataset.doctor.report import CheckResult, Finding
from edgevla.dataset.doctor.results import not_available, result

NO_META = (
    "needs edgevla's per-episode metadata (cluster, recovery, calibration hash), which "
    "LeRobot's recorder does not write; this dataset has none"
)


def _train(ctx: DoctorContext) -> list[int]:
    try:
        return ctx.reader.episodes_in_split("train")
    except KeyError:
        return list(ctx.episodes)


@check("protocol.cluster_size", "protocol", "warn", min_episodes=10)
def cluster_size(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """At least min_episodes (non-recovery) episodes in every cluster."""
    if not ctx.has_edgevla_meta:
        return not_available("protocol.cluster_size", t, NO_META)
    counts = Counter(
        ctx.meta(e).get("cluster") for e in ctx.episodes if not ctx.meta(e).get("recovery")
    )
    findings = [
        Finding(f"cluster {c} has {n} episodes, want >= {t['min_episodes']}", value=n)
        for c, n in sorted(counts.items(), key=lambda kv: str(kv[0]))
        if n < int(t["min_episodes"])
    ]
    return result(
        "protocol.cluster_size",
        t,
        findings,
        f"{len(counts)} clusters, all large enough",
        {"episodes": {str(k): v for k, v in counts.items()}},
    )


@check("protocol.recovery", "protocol", "warn", min_share=0.15, max_share=0.25)
def recovery_share(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """The share of recovery episodes in the training split."""
    if not ctx.has_edgevla_meta:
        return not_available("protocol.recovery", t, NO_META)
    train = _train(ctx)
    share = sum(bool(ctx.meta(e).get("recovery")) for e in train) / max(1, len(train))
    findings = []
    if not float(t["min_share"]) <= share <= float(t["max_share"]):
        msg = f"recovery episodes are {100 * share:.0f} % of training, want {100 * t['min_share']:.0f}-{100 * t['max_share']:.0f} %"
        findings.append(Finding(msg, value=share))
    return result("protocol.recovery", t, findings, f"recovery share {100 * share:.0f} %")


@check("protocol.holdout", "protocol", "error")
def holdout(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """No episode of the held-out cluster in the training split."""
    meta = ctx.reader.edgevla_meta or {}
    held = (meta.get("split") or {}).get(
        "holdout_cluster", (meta.get("plan") or {}).get("holdout_cluster")
    )
    if not ctx.has_edgevla_meta or held is None:
        return not_available(
            "protocol.holdout", t, "no held-out cluster recorded in meta/edgevla.json"
        )
    findings = [
        Finding(f"episode of held-out cluster {held} is in the training split", e)
        for e in _train(ctx)
        if ctx.meta(e).get("cluster") == held
    ]
    return result("protocol.holdout", t, findings, f"held-out cluster {held} stays out of training")


@check("protocol.gripper_camera", "protocol", "warn")
def gripper_camera(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """A camera on the gripper (the close-up view grasps depend on)."""
    moving = [k for k in ctx.reader.camera_keys if ctx.is_moving_camera(k)]
    findings = [] if moving else [Finding(f"no gripper camera among {ctx.reader.camera_keys}")]
    return result(
        "protocol.gripper_camera", t, findings, f"gripper camera {moving[0] if moving else ''}"
    )


@check("protocol.calibration", "protocol", "error")
def calibration(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """One calibration hash across all episodes."""
    if not ctx.has_edgevla_meta:
        return not_available("protocol.calibration", t, NO_META)
    hashes = {e: ctx.meta(e).get("calibration_sha256") for e in ctx.episodes}
    counts = Counter(hashes.values())
    usual = counts.most_common(1)[0][0]
    findings = [
        Finding(f"calibration {str(h)[:12]} differs from the usual {str(usual)[:12]}", e)
        for e, h in hashes.items()
        if h != usual or h is None
    ]
    return result("protocol.calibration", t, findings, "one calibration throughout")


@check("protocol.task", "protocol", "error")
def task(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Every episode has a non-empty task string."""
    findings = []
    for e in ctx.episodes:
        tasks = ctx.meta(e).get("tasks") or []
        if not any(isinstance(s, str) and s.strip() for s in tasks):
            findings.append(Finding(f"no task string (tasks: {tasks!r:.40})", e))
    return result("protocol.task", t, findings, "a task on every episode")


@check("protocol.length", "protocol", "warn", max_ratio=2.0)
def length(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Episode lengths within max_ratio of the median (much shorter or longer: a failed or
    runaway recording)."""
    lengths = {e: int(ctx.meta(e)["length"]) for e in ctx.episodes}
    if not lengths:
        return not_available("protocol.length", t, "no episodes")
    median = float(np.median(list(lengths.values())))
    r = float(t["max_ratio"])
    findings = [
        Finding(f"{n} frames, the median is {median:.0f}", e, value=n)
        for e, n in lengths.items()
        if n > median * r or n < median / r
    ]
    return result(
        "protocol.length", t, findings, f"lengths near the median {median:.0f}", {"length": lengths}
    )
