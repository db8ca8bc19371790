"""Video integrity: files decode, frame counts and timestamps agree with the parquet rows and
the fps grid, formats match info.json, no frozen or black frames."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from edgevla.dataset.doctor.context import DoctorContext
from edgevla.dataset.doctor.registry import check
from edgevla.dataset.doctor.report import CheckResult, Finding
from edgevla.dataset.doctor.results import result
from edgevla.features import STATE_KEY


@check("video.decode", "video", "error")
def decode(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Every sampled frame decodes, at its timestamp (a truncated file loses its last frames)."""
    findings = []
    for e in ctx.episodes:
        for key in ctx.video_keys:
            s = ctx.sample(e, key)
            for err in s.errors:
                findings.append(Finding(err, e, key))
            if s.missing:
                findings.append(
                    Finding(
                        f"{len(s.missing)} wanted frames not in the file (first {s.missing[:5]})",
                        e,
                        key,
                        s.missing[0],
                    )
                )
    return result("video.decode", t, findings, "every sampled frame decodes")


@check("video.frame_count", "video", "error", tolerance_frames=0.5)
def frame_count(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Each episode's from/to timestamps span as many frames as it has parquet rows; episodes
    sharing a file are contiguous; a file lasts as long as its last episode."""
    fps = float(ctx.reader.fps)
    tol = float(t["tolerance_frames"])
    findings = []
    files: dict[Any, list[tuple[float, float, int]]] = defaultdict(list)
    for e in ctx.episodes:
        row = ctx.meta(e)
        for key in ctx.video_keys:
            start = float(row[f"videos/{key}/from_timestamp"])
            end = float(row[f"videos/{key}/to_timestamp"])
            frames = (end - start) * fps
            if abs(frames - row["length"]) > tol:
                findings.append(
                    Finding(
                        f"video spans {frames:.1f} frames ({start:.3f}-{end:.3f} s), "
                        f"the parquet has {row['length']} rows",
                        e,
                        key,
                        value=frames,
                    )
                )
            files[(key, ctx.reader.video_path(e, key))].append((start, end, e))
    for (key, path), spans in files.items():
        findings += _file_spans(ctx, key, path, sorted(spans), tol / fps)
    return result("video.frame_count", t, findings, "frame counts match the parquet rows")


def _file_spans(ctx, key, path, spans, tol_s) -> list[Finding]:
    out = []
    for (_, prev_end, _), (start, _, e) in zip(spans, spans[1:], strict=False):
        if abs(start - prev_end) > tol_s:
            out.append(
                Finding(f"starts at {start:.3f} s, the episode before ends {prev_end:.3f}", e, key)
            )
    probed = ctx.probe(path) if path.exists() else f"missing video file {path.name}"
    if isinstance(probed, str):
        return out + [Finding(probed, spans[0][2], key)]
    last_end, last_episode = spans[-1][1], spans[-1][2]
    if probed["duration"] < last_end - tol_s:
        out.append(
            Finding(
                f"{path.name} lasts {probed['duration']:.3f} s, its episodes need {last_end:.3f} s"
                " (truncated?)",
                last_episode,
                key,
                value=probed["duration"],
            )
        )
    return out


@check("video.timestamps", "video", "error", tolerance_s=1e-4)
def timestamps(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Timestamps start at 0 and step by exactly 1/fps (LeRobot's loader demands it within
    tolerance_s); frame_index counts 0..N-1."""
    period, tol = 1.0 / ctx.reader.fps, float(t["tolerance_s"])
    findings = []
    for e in ctx.episodes:
        cols = ctx.columns(e)
        ts = np.asarray(cols["timestamp"], dtype=np.float64)
        if ts.size and abs(ts[0]) > tol:
            findings.append(Finding(f"first timestamp is {ts[0]:.4f} s, not 0", e, frame=0))
        off = np.flatnonzero(np.abs(np.diff(ts) - period) > tol)
        if off.size:
            i = int(off[0])
            findings.append(
                Finding(
                    f"{off.size} steps off the {period * 1000:.2f} ms grid; first {ts[i]:.4f} -> "
                    f"{ts[i + 1]:.4f} s (dropped or duplicated frames)",
                    e,
                    frame=i + 1,
                    value=float(ts[i + 1] - ts[i]),
                )
            )
        fi = cols.get("frame_index")
        if fi is not None and not np.array_equal(np.asarray(fi), np.arange(len(fi))):
            bad = int(np.flatnonzero(np.asarray(fi) != np.arange(len(fi)))[0])
            findings.append(Finding("frame_index does not count 0..N-1", e, frame=bad))
    return result("video.timestamps", t, findings, "timestamps on the fps grid")


@check("video.format", "video", "error")
def video_format(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Resolution and fps of every video file as info.json says."""
    findings, seen = [], set()
    for e in ctx.episodes:
        for key in ctx.video_keys:
            path = ctx.reader.video_path(e, key)
            if path in seen or not path.exists():
                continue
            seen.add(path)
            probed = ctx.probe(path)
            if isinstance(probed, str):
                continue  # video.frame_count reports it
            h, w = ctx.reader.features[key]["shape"][:2]
            got = probed["info"]
            if (got["video.height"], got["video.width"]) != (h, w):
                msg = f"{path.name} is {got['video.width']}x{got['video.height']}, info.json says {w}x{h}"
                findings.append(Finding(msg, e, key))
            if abs(got["video.fps"] - ctx.reader.fps) > 1e-6:
                msg = f"{path.name} runs at {got['video.fps']} fps, info.json says {ctx.reader.fps}"
                findings.append(Finding(msg, e, key))
    return result("video.format", t, findings, "resolution and fps as info.json says")


@check(
    "video.frozen", "video", "warn", max_diff=0.01, min_run=6, min_motion_deg=5.0, min_contrast=2.0
)
def frozen(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Runs of (near-)identical consecutive frames while the arm (not just its jaws) moves: a
    stalled camera. Blank frames (contrast below min_contrast) are video.black's: a covered
    lens repeats the same dark frame, and one defect is reported once."""
    findings = []
    names = ctx.reader.features.get(STATE_KEY, {}).get("names") or []
    arm = [i for i, n in enumerate(names) if "gripper" not in n]  # jaws barely change a view
    for e in ctx.episodes:
        state = np.asarray(ctx.columns(e).get(STATE_KEY, np.zeros((0, 0))), dtype=np.float64)
        state = state[:, arm] if arm and state.size else state
        for key in ctx.video_keys:
            s = ctx.sample(e, key)
            # nan (a window's first frame) compares False
            still = (s.diff_prev < float(t["max_diff"])) & (s.contrast >= float(t["min_contrast"]))
            for first, last in _runs(still):
                a, b = int(s.frames[first - 1]), int(s.frames[last])  # the run's frames a..b
                if b - a + 1 < int(t["min_run"]) or state.size == 0:
                    continue
                moved = float(np.abs(state[b] - state[a]).max())
                if moved >= float(t["min_motion_deg"]):
                    msg = f"frames {a}-{b} identical while the arm moved {moved:.1f}"
                    findings.append(Finding(msg, e, key, a, moved))
    return result("video.frozen", t, findings, "no frozen frames while the arm moves")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    out, start = [], None
    for i, v in enumerate(mask.tolist() + [False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i - 1))
            start = None
    return out


@check("video.black", "video", "warn", min_brightness=12.0, min_contrast=2.0)
def black(ctx: DoctorContext, t: dict[str, Any]) -> CheckResult:
    """Black or blank (uniform) frames."""
    findings = []
    for e in ctx.episodes:
        for key in ctx.video_keys:
            s = ctx.sample(e, key)
            grey = s.mean_rgb.mean(axis=1)
            bad = np.flatnonzero(
                (grey < float(t["min_brightness"])) | (s.contrast < float(t["min_contrast"]))
            )
            if bad.size:
                i = int(bad[0])
                msg = (
                    f"{bad.size} of {s.frames.size} sampled frames black or blank "
                    f"(brightness {grey[i]:.0f}, contrast {s.contrast[i]:.1f})"
                )
                findings.append(Finding(msg, e, key, int(s.frames[i]), float(grey[i])))
    return result("video.black", t, findings, "no black or blank frames")
