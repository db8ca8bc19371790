"""What the camera sees: drift of fixed cameras, lighting level, colour and flicker, focus,
and whether the object stands out from where it rests and the arm from the table."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgevla.dataset.doctor.context import DoctorContext
from edgevla.dataset.doctor.imaging import chromaticity, grey, phase_shift, rotation
from edgevla.dataset.doctor.registry import check
from edgevla.dataset.doctor.report import CheckResult, Finding
from edgevla.dataset.doctor.results import not_available, result


def _scale(ctx: DoctorContext, key: str, small_width: int) -> float:
    """Full-resolution pixels per analysis pixel."""
    return ctx.reader.features[key]["shape"][1] / max(1, small_width)


@check("camera.drift", "image", "warn", max_shift_px=2.0, max_rotation_deg=2.0)
def drift(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Fixed cameras keep their viewpoint: each episode's background against the dataset's
    usual pose (shift and roll, between episodes) and each window against the episode's
    first (shift, within an episode)."""
    keys = ctx.fixed_video_keys
    if not keys:
        return not_available("camera.drift", t, "no fixed cameras (all are moving cameras)")
    limit = float(t["max_shift_px"])
    findings, metrics = [], {}
    for key in keys:
        samples = {e: ctx.sample(e, key) for e in ctx.episodes}
        usable = [e for e, s in samples.items() if s.backgrounds.shape[0] > 0 and s.ok]
        if not usable:
            continue
        scale = _scale(ctx, key, samples[usable[0]].backgrounds.shape[2])
        ref = grey(samples[usable[0]].backgrounds[0])
        firsts = [grey(samples[e].backgrounds[0]) for e in usable]
        shifts = np.array([phase_shift(ref, b) for b in firsts]) * scale
        rolls = np.array([_roll(samples[usable[0]], samples[e]) for e in usable])
        shifts -= np.median(shifts, axis=0)
        rolls -= np.median(rolls)
        metrics[key] = {
            e: round(float(np.hypot(*s)), 3) for e, s in zip(usable, shifts, strict=True)
        }
        for e, (dy, dx), roll in zip(usable, shifts, rolls, strict=True):
            off = float(np.hypot(dy, dx))
            if off > limit or abs(roll) > float(t["max_rotation_deg"]):
                msg = (
                    f"viewpoint off the dataset's usual by {off:.1f} px (dx {dx:+.1f}, "
                    f"dy {dy:+.1f}) and {roll:+.1f} degrees of roll"
                )
                findings.append(Finding(msg, e, key, 0, off, (usable[0], 0)))
            findings += _within(samples[e], e, key, scale, limit)
    return result("camera.drift", t, findings, "fixed cameras hold still", {"shift_px": metrics})


def _roll(reference, sample) -> float:
    """Roll of `sample`'s camera against `reference`'s, in degrees: measured on the first and
    the last window (the arm at rest in both) and kept only where they agree in sign, the
    smaller of the two; a knocked camera stays rolled, a chance match does not repeat."""
    first = rotation(grey(reference.backgrounds[0]), grey(sample.backgrounds[0]))
    if first == 0.0:
        return 0.0
    last = rotation(grey(reference.backgrounds[-1]), grey(sample.backgrounds[-1]))
    if first * last <= 0:
        return 0.0
    return float(np.sign(first) * min(abs(first), abs(last)))


def _within(s, episode: int, key: str, scale: float, limit: float) -> list[Finding]:
    first = grey(s.backgrounds[0])
    for w in range(1, s.backgrounds.shape[0]):
        dy, dx = phase_shift(first, grey(s.backgrounds[w]))
        off = float(np.hypot(dy, dx)) * scale
        if off > limit:
            frame = int(s.window_starts[w])
            msg = f"camera moved {off:.1f} px within the episode (by frame {frame})"
            return [Finding(msg, episode, key, frame, off, (episode, 0))]
    return []


@check("lighting.level", "image", "warn", max_brightness_change=0.15, max_colour_shift=0.02)
def lighting(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Each episode's brightness and colour balance against the dataset's median, per fixed
    camera, on the background (the moving arm drops out of the temporal median)."""
    findings, metrics = [], {}
    for key in ctx.fixed_video_keys:
        eps = [e for e in ctx.episodes if ctx.sample(e, key).backgrounds.shape[0]]
        if len(eps) < 2:
            continue
        mean = np.array([ctx.sample(e, key).backgrounds.reshape(-1, 3).mean(0) for e in eps])
        level = mean.mean(axis=1)
        ratio = level / max(float(np.median(level)), 1e-6)
        chroma = chromaticity(mean)
        colour = np.abs(chroma - np.median(chroma, axis=0)).max(axis=1)
        metrics[key] = {e: round(float(r), 4) for e, r in zip(eps, ratio, strict=True)}
        usual = (eps[int(np.argmin(np.abs(ratio - 1)))], 0)  # the episode nearest the median
        for e, r, c in zip(eps, ratio, colour, strict=True):
            if abs(r - 1) > float(t["max_brightness_change"]):
                msg = f"brightness {100 * (r - 1):+.0f} % against the dataset's median"
                findings.append(Finding(msg, e, key, None, float(r), usual))
            elif c > float(t["max_colour_shift"]):
                msg = f"colour balance shifted by {c:.3f}"
                findings.append(Finding(msg, e, key, None, float(c), usual))
    return result(
        "lighting.level", t, findings, "lighting steady across episodes", {"brightness": metrics}
    )


@check("lighting.flicker", "image", "warn", max_gain_range=0.08)
def flicker(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Brightness swinging from frame to frame within a window: a flickering lamp."""
    findings = []
    for key in ctx.fixed_video_keys:
        for e in ctx.episodes:
            s = ctx.sample(e, key)
            worst, frame = 0.0, None
            for w in np.unique(s.window):
                g = s.gain[s.window == w]
                g = g[np.isfinite(g)]
                if g.size > 1 and g.max() - g.min() > worst:
                    worst, frame = float(g.max() - g.min()), int(s.frames[s.window == w][0])
            if worst > float(t["max_gain_range"]):
                msg = f"brightness swings {100 * worst:.0f} % between consecutive frames"
                findings.append(Finding(msg, e, key, frame, worst))
    return result("lighting.flicker", t, findings, "no flicker")


@check("focus.blur", "image", "warn", min_sharpness_ratio=0.5)
def blur(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Sharpness (variance of the Laplacian) of each episode against that camera's own median:
    absolute values mean nothing across cameras."""
    findings, metrics = [], {}
    for key in ctx.video_keys:
        sharp = {
            e: float(np.nanmedian(ctx.sample(e, key).sharpness))
            for e in ctx.episodes
            if ctx.sample(e, key).sharpness.size
        }
        if len(sharp) < 2:
            continue
        median = float(np.median(list(sharp.values())))
        metrics[key] = {e: round(v / max(median, 1e-9), 3) for e, v in sharp.items()}
        for e, v in sharp.items():
            ratio = v / max(median, 1e-9)
            if ratio < float(t["min_sharpness_ratio"]):
                msg = f"sharpness {100 * ratio:.0f} % of this camera's median (out of focus?)"
                findings.append(Finding(msg, e, key, value=ratio))
    return result(
        "focus.blur", t, findings, "every camera as sharp as usual", {"sharpness": metrics}
    )


@check("contrast.object", "image", "warn", min_contrast=40.0)
def object_contrast(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """The object against where it rests: where the scene changed between the episode's first
    and last window (the object was picked up from there), how different do those pixels look,
    in the fixed camera that sees it best? White on white barely changes."""
    findings, metrics = [], {}
    for e in ctx.episodes:
        per = {k: _change(ctx.sample(e, k).backgrounds) for k in ctx.fixed_video_keys}
        per = {k: v for k, v in per.items() if v is not None}
        if not per:
            continue
        best = max(per, key=per.get)
        metrics[e] = round(per[best], 1)
        if per[best] < float(t["min_contrast"]):
            msg = f"the moved object differs from where it rested by only {per[best]:.0f} levels"
            findings.append(Finding(msg, e, best, 0, per[best]))
    return result("contrast.object", t, findings, "objects stand out", {"contrast": metrics})


def _change(backgrounds: np.ndarray) -> float | None:
    """99.5th percentile of the colour change between the first and last background."""
    if backgrounds.shape[0] < 2:
        return None
    first, last = backgrounds[0].astype(np.float32), backgrounds[-1].astype(np.float32)
    return float(np.percentile(np.abs(first - last).max(axis=-1), 99.5))


@check("contrast.arm", "image", "warn", min_contrast=35.0, percentile=95.0)
def arm_contrast(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """The arm stands out from the table where it moves, in every fixed camera.

    How much the view changes where the arm moved (each window's background against the
    first one's, the arm at rest there): the `percentile` of that change over the image,
    the median over episodes. The arm covers more of the view than the object does, so the
    tea bag hardly moves this; a black arm on a black table barely changes it."""
    findings, metrics = [], {}
    for key in ctx.fixed_video_keys:
        per = {e: _moved(ctx.sample(e, key), float(t["percentile"])) for e in ctx.episodes}
        per = {e: v for e, v in per.items() if v is not None}
        if not per:
            continue
        value = float(np.median(list(per.values())))
        metrics[key] = {e: round(v, 1) for e, v in per.items()}
        if value < float(t["min_contrast"]):
            e = min(per, key=lambda k: abs(per[k] - value))  # a typical episode to show
            frame = int(ctx.sample(e, key).window_starts[1])
            msg = (
                f"the arm differs from the table by only {value:.0f} levels where it moves"
                " (or no arm-sized part of this view moves)"
            )
            findings.append(Finding(msg, e, key, frame, value, (e, 0)))
    return result("contrast.arm", t, findings, "the arm stands out", {"contrast": metrics})


def _moved(sample, percentile: float) -> float | None:
    """`percentile` of the largest colour change between the first background and each
    middle one (the arm away from its rest pose); None with fewer than three windows."""
    b = sample.backgrounds
    if b.shape[0] < 3:
        return None
    change = np.abs(b[1:-1].astype(np.float32) - b[0].astype(np.float32)).max(axis=-1)
    return float(np.percentile(change.max(axis=0), percentile))
