"""Read camera streams in windows of consecutive frames and keep only compact statistics.

A window is `window_frames` consecutive frames of one episode (seek to the keyframe before,
decode forward); `windows` of them are spread from the episode's start to its end, or, with
`full`, back to back over every frame. Per frame we keep its mean colour, contrast, change
from the previous frame and gain against its window's background; per window a small
background image (the temporal median: the moving arm drops out) and one full-resolution
sharpness value. Frames themselves are never kept, so memory stays bounded on large datasets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter


@dataclass
class StreamSample:
    """What was read of one camera of one episode. frames: int[n] indices in the episode."""

    frames: np.ndarray
    window: np.ndarray  # int[n] window of each frame
    mean_rgb: np.ndarray  # float32[n, 3]
    contrast: np.ndarray  # float32[n] std of the small grey image
    diff_prev: np.ndarray  # float32[n] mean |grey - previous frame's grey|, nan if not read
    gain: np.ndarray  # float32[n] median of grey / window background grey
    backgrounds: np.ndarray  # uint8[W, h, w, 3] per window, small
    window_starts: np.ndarray  # int[W] first frame of each window
    sharpness: np.ndarray  # float32[W] variance of the Laplacian, full resolution
    size: tuple[int, int]  # decoded (height, width)
    missing: list[int] = field(default_factory=list)  # wanted frames the file did not give
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.frames.size > 0


def window_starts(length: int, window_frames: int, windows: int, full: bool) -> list[int]:
    if length <= 0:
        return []
    k = min(window_frames, length)
    if full:
        return list(range(0, length, k))
    count = max(1, min(windows, math.ceil(length / k)))
    return sorted({int(round(s)) for s in np.linspace(0, length - k, count)})


def small_size(height: int, width: int, longest: int) -> tuple[int, int]:
    scale = min(1.0, longest / max(height, width))
    return max(8, int(round(height * scale))), max(8, int(round(width * scale)))


def laplacian_variance(grey: np.ndarray) -> float:
    g = grey.astype(np.float32)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def sample_stream(
    path: Path,
    from_timestamp: float,
    length: int,
    fps: float,
    starts: list[int],
    window_frames: int,
    longest: int,
) -> StreamSample:
    """Decode the windows of one episode's camera stream (frame i at from_timestamp + i/fps)."""
    collected: dict[str, list] = {k: [] for k in ("frames", "window", "rgb", "grey")}
    sharp: list[float] = []
    backgrounds: list[np.ndarray] = []
    errors: list[str] = []
    missing: list[int] = []
    size = (0, 0)
    used_starts: list[int] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            size = (stream.codec_context.height, stream.codec_context.width)
            h, w = small_size(*size, longest)
            to_small, to_grey = VideoReformatter(), VideoReformatter()
            for start in starts:
                want = list(range(start, min(start + window_frames, length)))
                got = _decode_window(
                    container, stream, from_timestamp, fps, want, (h, w), to_small, to_grey
                )
                missing += [i for i in want if i not in got.frames]
                if not got.frames:
                    continue
                collected["frames"] += got.frames
                collected["window"] += [len(backgrounds)] * len(got.frames)
                used_starts.append(start)
                collected["rgb"] += got.rgb
                sharp.append(got.sharpness)
                backgrounds.append(np.median(np.stack(got.rgb), axis=0).astype(np.uint8))
    except (av.error.FFmpegError, IndexError, OSError) as e:
        errors.append(f"cannot decode {path.name}: {e}"[:200])
    return _summarise(collected, backgrounds, used_starts, sharp, size, missing, errors)


@dataclass
class _Window:
    frames: list[int]
    rgb: list[np.ndarray]
    sharpness: float


def _decode_window(container, stream, from_ts, fps, want, small, to_small, to_grey) -> _Window:
    """Frames `want` (consecutive indices) of the episode; the first one's full-resolution
    grey image gives the window's sharpness."""
    first = from_ts + want[0] / fps
    last = from_ts + want[-1] / fps
    half = 0.5 / fps
    container.seek(max(0, int((first - half) / stream.time_base)), stream=stream, backward=True)
    out = _Window([], [], float("nan"))
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        t = float(frame.pts * frame.time_base)
        if t < first - half:
            continue
        if t > last + half:
            break
        index = int(round((t - from_ts) * fps))
        if index in out.frames or index not in want:
            continue
        if not out.frames:
            grey = to_grey.reformat(frame, format="gray").to_ndarray()
            out.sharpness = laplacian_variance(grey)
        img = to_small.reformat(
            frame, format="rgb24", width=small[1], height=small[0], interpolation=Interpolation.AREA
        )
        out.frames.append(index)
        out.rgb.append(img.to_ndarray())
    return out


def _summarise(collected, backgrounds, starts, sharp, size, missing, errors) -> StreamSample:
    frames = np.asarray(collected["frames"], dtype=np.int64)
    window = np.asarray(collected["window"], dtype=np.int64)
    n = frames.size
    rgb = np.stack(collected["rgb"]).astype(np.float32) if n else np.zeros((0, 1, 1, 3), np.float32)
    grey = rgb.mean(axis=-1)
    diff = np.full(n, np.nan, np.float32)
    if n > 1:
        step = frames[1:] == frames[:-1] + 1  # consecutive, within a window or across two
        d = np.abs(grey[1:] - grey[:-1]).mean(axis=(1, 2))
        diff[1:][step] = d[step]
    bg = np.stack(backgrounds) if backgrounds else np.zeros((0, 1, 1, 3), np.uint8)
    gain = np.full(n, np.nan, np.float32)
    refs = bg[:, ::2, ::2].astype(np.float32).mean(axis=-1)  # every 4th pixel: a robust median
    for i in range(n):
        ref = refs[window[i]]
        usable = ref > 10
        if usable.any():
            gain[i] = float(np.median(grey[i, ::2, ::2][usable] / ref[usable]))
    return StreamSample(
        frames=frames,
        window=window,
        mean_rgb=rgb.mean(axis=(1, 2)) if n else np.zeros((0, 3), np.float32),
        contrast=grey.std(axis=(1, 2)) if n else np.zeros(0, np.float32),
        diff_prev=diff,
        gain=gain,
        backgrounds=bg,
        window_starts=np.asarray(starts, dtype=np.int64),
        sharpness=np.asarray(sharp, dtype=np.float32),
        size=size,
        missing=missing,
        errors=errors,
    )
