"""Encode camera frames to MP4 with PyAV in a background thread, probe and decode them back.

Settings follow LeRobot's recorder: AV1 (libsvtav1, preset 12, crf 30), yuv420p, a keyframe
every 2 frames (GOP 2) so a decoder can seek to any timestamp by decoding at most one extra
frame. Frame i gets pts i / fps, so its timestamp in the file is exactly the `timestamp` column.
PyAV releases the GIL while encoding, so the thread overlaps with rendering in the main thread.
"""

from __future__ import annotations

import fractions
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from edgevla.dataset.stats import FeatureStats, ImageStatsAccumulator

# Per-codec defaults: LeRobot's for AV1; for H.264 the fastest preset (still ~5x smaller than
# raw PNG and decodable everywhere).
_PRESETS = {"libsvtav1": "12", "libx264": "ultrafast"}
CODECS: tuple[str, ...] = tuple(_PRESETS)
DEFAULT_CODEC = "libsvtav1"


@dataclass(frozen=True)
class VideoSettings:
    """How camera streams are encoded; stored in meta/edgevla.json so `resume` encodes alike."""

    codec: str = DEFAULT_CODEC
    crf: int = 30
    gop: int = 2
    preset: str | None = None  # None: the codec's default from _PRESETS
    pix_fmt: str = "yuv420p"

    def __post_init__(self) -> None:
        if self.codec not in _PRESETS:
            raise ValueError(f"video codec must be one of {list(CODECS)}, got {self.codec!r}")
        if self.pix_fmt != "yuv420p":
            raise ValueError(f"only pix_fmt 'yuv420p' is supported, got {self.pix_fmt!r}")
        if self.gop < 1 or not 0 <= self.crf <= 63:
            raise ValueError(f"need gop >= 1 and 0 <= crf <= 63, got gop={self.gop} crf={self.crf}")

    def options(self) -> dict[str, str]:
        return {
            "g": str(self.gop),
            "crf": str(self.crf),
            "preset": self.preset if self.preset is not None else _PRESETS[self.codec],
        }


def check_encodable(settings: VideoSettings) -> None:
    """Fail early, with the list of what exists, if this PyAV build lacks the encoder."""
    try:
        av.codec.Codec(settings.codec, "w")
    except ValueError:  # av.codec.codec.UnknownCodecError
        have = [c for c in CODECS if c in av.codecs_available]
        raise ValueError(
            f"this PyAV build has no {settings.codec!r} encoder; available: {have}"
        ) from None


class VideoEncoder:
    """Encodes one camera's frames of one episode to `path` in a background thread.

    `put(frame)` blocks only when `max_queue` frames are waiting (back-pressure, bounded memory).
    Errors from the thread are re-raised in the caller's next `put` or in `finish`.
    """

    def __init__(
        self,
        path: Path,
        height: int,
        width: int,
        fps: int,
        settings: VideoSettings,
        max_queue: int = 64,
    ) -> None:
        self.path = Path(path)
        self.height, self.width, self.fps = height, width, fps
        self.settings = settings
        self.stats = ImageStatsAccumulator()
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max_queue)
        self._error: BaseException | None = None
        self._cancel = threading.Event()
        # daemon: a recorder that dies without close() must not hang on this thread at exit
        self._thread = threading.Thread(
            target=self._run, name=f"encode-{self.path.name}", daemon=True
        )
        self._frames_in = 0
        self._thread.start()

    def put(self, frame: np.ndarray) -> None:
        """frame: uint8[H, W, 3]; it is copied, so the caller may reuse its buffer."""
        self._raise_if_failed()
        self._queue.put(np.array(frame, dtype=np.uint8, copy=True))
        self._frames_in += 1

    def finish(self) -> FeatureStats:
        """Flush, close the file and return the camera's stats for the episode."""
        if self._thread.is_alive():
            self._queue.put(None)
        self._thread.join()
        self._raise_if_failed()
        return self.stats.result()

    def cancel(self) -> None:
        """Stop without caring about the file (the caller deletes it)."""
        self._cancel.set()
        while True:  # unblock a thread waiting on a full queue, then post the stop mark
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"video encoding failed for {self.path}: {self._error}") from (
                self._error
            )

    def _run(self) -> None:
        if self.settings.codec == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints a banner per stream otherwise
        time_base = fractions.Fraction(1, self.fps)
        try:
            with av.open(str(self.path), "w", format="mp4") as container:
                stream = container.add_stream(
                    self.settings.codec, rate=self.fps, options=self.settings.options()
                )
                stream.width, stream.height = self.width, self.height
                stream.pix_fmt = self.settings.pix_fmt
                index = 0
                while True:
                    frame = self._queue.get()
                    if frame is None or self._cancel.is_set():
                        break
                    self.stats.add(frame)
                    video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
                    video_frame.pts, video_frame.time_base = index, time_base
                    for packet in stream.encode(video_frame):
                        container.mux(packet)
                    index += 1
                # Always flush (SVT-AV1 complains on stderr otherwise); a cancelled episode's
                # packets are simply not written.
                for packet in stream.encode():
                    if not self._cancel.is_set():
                        container.mux(packet)
        except BaseException as e:  # handed to the caller's thread, never swallowed
            self._error = e
            while True:  # drain so a producer blocked in put() wakes up and sees the error
                try:
                    if self._queue.get_nowait() is None:
                        break
                except queue.Empty:
                    break


def probe(path: Path) -> dict[str, Any]:
    """LeRobot's `info` block of a video feature, plus the duration in seconds."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            duration = (
                float(stream.duration * stream.time_base)
                if stream.duration is not None
                else float(container.duration / av.time_base)
            )
            info = {
                "video.height": stream.height,
                "video.width": stream.width,
                "video.codec": stream.codec_context.codec.canonical_name,
                "video.pix_fmt": stream.pix_fmt,
                "video.is_depth_map": False,
                "video.fps": int(stream.base_rate),
                "video.channels": 3,
                "has_audio": len(container.streams.audio) > 0,
            }
    except (av.error.FFmpegError, IndexError) as e:
        raise ValueError(f"cannot read video {path}: {e}") from None
    return {"info": info, "duration": duration}


def decode_frames(
    path: Path,
    timestamps: np.ndarray,
    *,
    from_timestamp: float = 0.0,
    tolerance_s: float = 1e-4,
) -> np.ndarray:
    """Frames of `path` at `from_timestamp + timestamps`: uint8[N, H, W, 3].

    Seeks to the keyframe before the first wanted time, decodes forward to the last one and
    matches each wanted time to the nearest decoded frame; a miss beyond `tolerance_s` (LeRobot's
    default 1e-4 s) is an error naming the file and the times.
    """
    wanted = from_timestamp + np.asarray(timestamps, dtype=np.float64)
    if wanted.size == 0:
        raise ValueError("no timestamps to decode")
    first, last = float(wanted.min()), float(wanted.max())
    times: list[float] = []
    frames: list[np.ndarray] = []
    # One converter for the whole file: `frame.to_ndarray(format=...)` builds a new swscale
    # context per frame, which made decoding small frames ~15x slower than the decode itself.
    to_rgb = VideoReformatter()
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            container.seek(
                max(0, int(first / stream.time_base)), stream=stream, backward=True, any_frame=False
            )
            for frame in container.decode(stream):
                t = float(frame.pts * frame.time_base)
                if t < first - tolerance_s:
                    continue
                times.append(t)
                frames.append(to_rgb.reformat(frame, format="rgb24").to_ndarray())
                if t >= last - tolerance_s:
                    break
    except av.error.FFmpegError as e:
        raise ValueError(f"cannot decode video {path}: {e}") from None
    if not frames:
        raise ValueError(f"{path}: no frame found at or after {first:.4f} s")
    decoded = np.asarray(times)
    nearest = np.abs(wanted[:, None] - decoded[None, :]).argmin(axis=1)
    miss = np.abs(decoded[nearest] - wanted) >= tolerance_s
    if miss.any():
        bad = wanted[miss][:5].round(4).tolist()
        raise ValueError(
            f"{path}: no frame within {tolerance_s} s of timestamps {bad} "
            f"(decoded {decoded.size} frames from {decoded[0]:.4f} to {decoded[-1]:.4f} s)"
        )
    return np.stack([frames[i] for i in nearest])
