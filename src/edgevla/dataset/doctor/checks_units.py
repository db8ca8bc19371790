"""Joint units: every episode in the unit the dataset declares (degrees or -100..100, the
gripper 0..100), within what that unit allows for the calibrated range, and on the same
per-joint scale as the other episodes (one recorded in the other unit is scaled by the
calibration's degrees-per-unit ratio). A dataset without our metadata gets the scale part."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from edgevla.dataset.doctor.context import DoctorContext
from edgevla.dataset.doctor.registry import check
from edgevla.dataset.doctor.report import CheckResult, Finding
from edgevla.dataset.doctor.results import not_available, result
from edgevla.dataset.doctor.units import DEGREES, GRIPPER, NORMALIZED, UNITS, joint
from edgevla.features import ACTION_KEY, JOINT_UNITS_META, STATE_KEY

HALF_TURN = 180.0  # degrees either side of the range middle: no joint turns further
QUANTILES = np.linspace(0.05, 0.95, 10)


@check(
    "motion.units",
    "motion",
    "error",
    tolerance=2.0,
    max_out_share=0.1,
    min_scale_ratio=1.4,
    max_scale_z=3.0,
)
def units(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """One joint unit (degrees vs -100..100), within what the calibration allows.

    Also on the same per-joint scale in every episode (one read in the other unit is scaled
    by the calibration's degrees per unit)."""
    keys = [k for k in (STATE_KEY, ACTION_KEY) if k in ctx.reader.features]
    if not keys or len(ctx.episodes) == 0:
        return not_available("motion.units", t, "no 'observation.state' or 'action' feature")
    names = list(ctx.reader.features[keys[0]].get("names") or [])
    if any(list(ctx.reader.features[k].get("names") or []) != names for k in keys) or not names:
        return not_available("motion.units", t, "state and action need the same joint names")
    values = {
        e: np.concatenate([np.asarray(ctx.columns(e)[k], dtype=np.float64) for k in keys])
        for e in ctx.episodes
    }
    ratios = _calibration_ratios(ctx)
    declared = {e: ctx.meta(e).get(JOINT_UNITS_META) for e in ctx.episodes}
    unit, findings, unchecked = _declared(declared)
    findings += _envelope(values, names, unit, ratios, t)
    scale, hidden, scales = _scale(values, names, ratios, t)
    findings += scale
    if hidden:
        unchecked.append(f"a unit mix would not show on {', '.join(hidden)}")
    summary = f"one unit ({unit or 'undeclared'}) throughout" + "".join(f"; {u}" for u in unchecked)
    metrics = {
        "unit": unit,
        "degrees_per_unit": ratios,
        "not_checked": unchecked,
        "scale": scales,
    }
    return result("motion.units", t, findings, summary, metrics)


def _calibration_ratios(ctx: DoctorContext) -> dict[str, float] | None:
    """Degrees per normalized unit of each arm joint, where the calibration is known: the
    sim's (its hash is stamped in every sim episode). None otherwise."""
    if not ctx.has_edgevla_meta:
        return None
    from edgevla.dataset.doctor.units import degrees_per_unit
    from edgevla.sim.calibration import sim_calibration, sim_calibration_sha256

    hashes = Counter(ctx.meta(e).get("calibration_sha256") for e in ctx.episodes)
    if hashes.most_common(1)[0][0] != sim_calibration_sha256():
        return None
    return {k: round(v, 4) for k, v in degrees_per_unit(sim_calibration()).items()}


def _declared(declared: dict[int, Any]) -> tuple[str | None, list[Finding], list[str]]:
    """The dataset's unit (the most common declaration), a finding for each episode that
    declares another or an unknown one, and what could not be checked."""
    given = {e: u for e, u in declared.items() if u is not None}
    if not given:
        why = f"no declared unit (our recorder's '{JOINT_UNITS_META}'): range not checked"
        return None, [], [why]
    usual = Counter(given.values()).most_common(1)[0][0]
    findings = []
    for e, u in declared.items():
        if u not in UNITS:
            findings.append(Finding(f"joint unit {u!r} is none of {list(UNITS)}", e))
        elif u != usual:
            findings.append(Finding(f"recorded in {u}, the other episodes in {usual}", e))
    return (usual if usual in UNITS else None), findings, []


def _envelope(
    values: dict[int, np.ndarray],
    names: list[str],
    unit: str | None,
    ratios: dict[str, float] | None,
    t: dict[str, Any],
) -> list[Finding]:
    """The worst joint of each episode beyond what the declared unit allows (by more than
    `tolerance` in more than `max_out_share` of its frames: a jaw pushed open by a contact
    for a moment is no unit): the gripper 0..100 (both units), arm joints +-100 in
    -100..100, in degrees the calibrated range (else half a turn)."""
    tolerance, share = float(t["tolerance"]), float(t["max_out_share"])
    findings = []
    for e, v in values.items():
        worst = None
        for j, name in enumerate(names):
            lo, hi = _allowed(joint(name), unit, ratios)
            if lo is None:
                continue
            out = (v[:, j] < lo - tolerance) | (v[:, j] > hi + tolerance)
            over = max(lo - v[:, j].min(), v[:, j].max() - hi)
            if out.mean() > share and (worst is None or over > worst[0]):
                low = lo - v[:, j].min() >= v[:, j].max() - hi
                extreme = v[:, j].min() if low else v[:, j].max()
                worst = (over, name, float(extreme), lo, hi)
        if worst is not None:
            _, name, extreme, lo, hi = worst
            msg = f"{name} reaches {extreme:.1f}, outside the {lo:.0f}..{hi:.0f} {unit or 'either unit'} allows"
            if unit == NORMALIZED and joint(name) != GRIPPER:
                msg += " (recorded in degrees?)"
            findings.append(Finding(msg, e, value=extreme))
    return findings


def _allowed(
    motor: str, unit: str | None, ratios: dict[str, float] | None
) -> tuple[float | None, float | None]:
    if motor == GRIPPER:
        return 0.0, 100.0
    if unit == NORMALIZED:
        return -100.0, 100.0
    if unit == DEGREES:
        half = 100.0 * abs(ratios[motor]) if ratios and motor in ratios else HALF_TURN
        return -half, half
    return None, None


def _scale(
    values: dict[int, np.ndarray], names: list[str], ratios: dict[str, float] | None, t: dict
) -> tuple[list[Finding], list[str], dict[str, dict[int, float]]]:
    """Per arm joint, each episode's scale against the others' (a fit through zero, the
    middle of the calibrated range in both units, of its value quantiles to their median
    quantiles), beyond min_scale_ratio and max_scale_z robust deviations of the joint's own
    spread across episodes. A unit read the other way rescales every arm joint of the episode
    at once, so an episode is flagged only where most of its comparable joints are off in the
    same direction: one joint that simply moved elsewhere (an object on the other side of the
    pan axis) is the task, not a unit. Also the joints where the two units differ too little
    to show, and each episode's scale per joint."""
    episodes = list(values)
    if len(episodes) < 3:
        return [], [], {}
    profiles = np.stack([np.quantile(values[e], QUANTILES, axis=0) for e in episodes])
    hidden, scales = [], {}
    off: dict[int, list[tuple[str, float]]] = {e: [] for e in episodes}  # (joint, log scale)
    compared = dict.fromkeys(episodes, 0)
    for j, name in enumerate(names):
        if joint(name) == GRIPPER:
            continue
        k = np.array([_scale_of(profiles, i, j) for i in range(len(episodes))])
        if np.isnan(k).any():
            continue  # the joint sits near the middle of its range: no scale to compare
        scales[name] = {e: round(float(v), 3) for e, v in zip(episodes, k, strict=True)}
        fits = k > 0  # <= 0: the episode's joint lies on the other side of zero, no scale
        logs = np.log(np.where(fits, k, 1.0))
        spread = 1.4826 * float(np.median(np.abs(logs[fits] - np.median(logs[fits]))))
        limit = max(np.log(float(t["min_scale_ratio"])), float(t["max_scale_z"]) * spread)
        r = abs(ratios[joint(name)]) if ratios and joint(name) in ratios else None
        if r is not None and abs(np.log(r)) < limit:
            hidden.append(f"{name} (the units differ x{r:.2f} there)")
        for e, d, ok in zip(episodes, logs, fits, strict=True):
            if ok:
                compared[e] += 1
                if abs(d) > limit:
                    off[e].append((name, float(d)))
    findings = []
    for e in episodes:
        for sign in (1.0, -1.0):
            same = [(name, d) for name, d in off[e] if d * sign > 0]
            if len(same) < 2 or 2 * len(same) <= compared[e]:
                continue
            for name, d in same:
                r = abs(ratios[joint(name)]) if ratios and joint(name) in ratios else None
                unit_ratio = f"; degrees per unit {r:.2f} on this calibration" if r else ""
                msg = (
                    f"{name} spans x{np.exp(d):.2f} the scale of the other episodes, like "
                    f"{len(same) - 1} more of its {compared[e]} joints (recorded in the other "
                    f"unit?{unit_ratio})"
                )
                findings.append(Finding(msg, e, value=float(np.exp(d))))
    return findings, hidden, scales


def _scale_of(profiles: np.ndarray, i: int, j: int) -> float:
    """Episode i's scale on joint j against the median of the other episodes' quantiles
    (nan where those hardly leave zero)."""
    ref = np.median(np.delete(profiles[:, :, j], i, axis=0), axis=0)
    norm = float((ref * ref).sum())
    if norm < 1e-6 * len(ref):
        return float("nan")
    return float((profiles[i, :, j] * ref).sum()) / norm
