"""The HTML view of a report: one self-contained page with a table of checks, thumbnails of
flagged frames (beside the frame they were compared with, for drift) and per-episode plots.
PNGs are written with zlib and SVG by hand, so the page needs nothing beyond numpy and PyAV."""

from __future__ import annotations

import base64
import html
import struct
import zlib
from pathlib import Path

import numpy as np

from edgevla.dataset.doctor.context import DoctorContext
from edgevla.dataset.doctor.report import FAIL, Finding, Report
from edgevla.dataset.video import decode_frames

MAX_THUMBNAILS = 48
THUMB_WIDTH = 240
DIFF_GAIN = 4  # the difference image is amplified so a few levels show


def png(image: np.ndarray) -> bytes:
    """uint8[H, W, 3] -> PNG bytes."""
    h, w = image.shape[:2]
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def write_html(report: Report, directory: Path, ctx: DoctorContext | None = None) -> Path:
    """Write `directory`/index.html; thumbnails need the context the report was made with."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    budget = [MAX_THUMBNAILS]
    parts = [_head(report)]
    for r in report.results:
        parts.append(
            f'<tr class="{r.status.replace(" ", "-")}"><td>{html.escape(r.name)}</td>'
            f"<td>{r.severity}</td><td>{r.status}</td><td>{html.escape(r.summary)}</td></tr>"
        )
    parts.append("</table>")
    for r in report.results:
        if r.status != FAIL and not r.metrics:
            continue
        parts.append(f"<h2>{html.escape(r.name)} <small>{r.status}</small></h2>")
        for f in r.findings[:20]:
            parts.append(
                f"<div class=finding><p>{html.escape(_where(f))}{html.escape(f.message)}</p>"
            )
            if ctx is not None and budget[0] > 0 and f.episode is not None and f.camera:
                parts.append(_thumbnails(ctx, f))
                budget[0] -= 1
            parts.append("</div>")
        for name, series in r.metrics.items():
            parts.append(_plots(name, series))
    parts.append("</body></html>")
    path = directory / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _head(report: Report) -> str:
    failed = sum(r.status == FAIL for r in report.results)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>edgevla doctor</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}tr.fail{{background:#fdd}}tr.pass{{background:#efe}}
tr.not-available{{color:#888}}.finding{{margin:8px 0;padding:6px;border-left:4px solid #d55}}
img{{image-rendering:pixelated;margin-right:8px;border:1px solid #999}}figure{{display:inline-block;margin:0 8px 0 0}}
figcaption{{font-size:80%;color:#555}}svg{{background:#fafafa;border:1px solid #ddd;margin:4px}}</style></head><body>
<h1>edgevla doctor</h1><p>{html.escape(report.dataset)}: {report.episodes} episodes, cameras
{html.escape(", ".join(report.cameras))}; {html.escape(report.sampling)}; {report.seconds:.1f} s.
<b>{failed} of {len(report.results)} checks failed.</b></p>
<table><tr><th>check</th><th>severity</th><th>status</th><th>summary</th></tr>"""


def _where(f: Finding) -> str:
    parts = [f"episode {f.episode}" if f.episode is not None else "", f.camera or ""]
    parts.append(f"frame {f.frame}" if f.frame is not None else "")
    text = ", ".join(p for p in parts if p)
    return text + ": " if text else ""


def _thumbnails(ctx: DoctorContext, f: Finding) -> str:
    """The flagged frame; with a reference, that frame first and their difference last (a
    shifted view shows its edges doubled, a lamp change a uniform grey)."""
    shots = []
    if f.reference is not None:
        shots.append((f"reference: episode {f.reference[0]}, frame {f.reference[1]}", *f.reference))
    shots.append((f"flagged: episode {f.episode}, frame {f.frame or 0}", f.episode, f.frame or 0))
    out, images = [], []
    for caption, episode, frame in shots:
        image = _frame(ctx, episode, f.camera, frame)
        images.append(image)
        if image is None:
            out.append(f"<figure><figcaption>{caption}: not decodable</figcaption></figure>")
        else:
            out.append(_figure(image, caption))
    pair = [i for i in images if i is not None]
    if len(pair) == 2 and pair[0].shape == pair[1].shape:
        diff = np.abs(pair[0].astype(np.int16) - pair[1].astype(np.int16)) * DIFF_GAIN
        out.append(_figure(np.clip(diff, 0, 255).astype(np.uint8), f"difference x{DIFF_GAIN}"))
    return "".join(out)


def _figure(image: np.ndarray, caption: str) -> str:
    data = base64.b64encode(png(image)).decode()
    return (
        f'<figure><img width="{THUMB_WIDTH}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _frame(ctx: DoctorContext, episode: int, key: str, frame: int) -> np.ndarray | None:
    row = ctx.meta(episode)
    frame = min(max(0, frame), int(row["length"]) - 1)
    try:
        got = decode_frames(
            ctx.reader.video_path(episode, key),
            np.array([frame / ctx.reader.fps]),
            from_timestamp=float(row[f"videos/{key}/from_timestamp"]),
            tolerance_s=0.5 / ctx.reader.fps,
        )
    except (ValueError, OSError):
        return None
    return got[0]


def _plots(name: str, series: dict) -> str:
    """One small line plot per camera (or one for the dataset): value against episode;
    metrics that are not numbers per episode (a unit, notes) are not plotted."""
    if not isinstance(series, dict):
        return ""
    groups = series if all(isinstance(v, dict) for v in series.values()) else {"": series}
    out = []
    for label, values in groups.items():
        try:
            pts = sorted((int(k), float(v)) for k, v in values.items())
        except (TypeError, ValueError):
            continue
        if len(pts) < 2:
            continue
        out.append(_svg(f"{name} {label}".strip(), pts))
    return "".join(out)


def _svg(title: str, pts: list[tuple[int, float]], w: int = 320, h: int = 120) -> str:
    xs, ys = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
    lo, hi = float(ys.min()), float(ys.max())
    span = hi - lo or 1.0
    px = 30 + (xs - xs.min()) / max(xs.max() - xs.min(), 1) * (w - 40)
    py = h - 20 - (ys - lo) / span * (h - 40)
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(px, py, strict=True))
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2"/>' for x, y in zip(px, py, strict=True)
    )
    return (
        f'<svg width="{w}" height="{h}"><text x="4" y="12" font-size="11">{html.escape(title)} '
        f"(episodes {int(xs.min())}-{int(xs.max())}; {lo:.3g} .. {hi:.3g})</text>"
        f'<polyline fill="none" stroke="#36c" points="{line}"/>{dots}</svg>'
    )
