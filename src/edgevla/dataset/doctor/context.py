"""What the checks read: the dataset's metadata, every episode's columns, and the sampled
camera streams (decoded once, on first use, with a progress bar)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevla.dataset.doctor.sampling import StreamSample, sample_stream, window_starts
from edgevla.dataset.reader import DatasetReader
from edgevla.dataset.video import probe


@dataclass(frozen=True)
class DoctorConfig:
    """One doctor run; saved in the JSON report."""

    checks: tuple[str, ...] = ()  # names or groups; empty: all
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: int = 4  # windows per episode and camera (start ... end)
    window_frames: int = 8  # consecutive frames per window
    full: bool = False  # decode every frame instead
    moving_cameras: tuple[str, ...] = ("gripper", "wrist")  # name parts of cameras that move
    analysis_size: int = 128  # longest side of the small images statistics are taken on
    workers: int = 2  # streams decoded at once
    progress: bool = True


class DoctorContext:
    """Construct with an open reader; the expensive parts are computed on first access."""

    def __init__(self, reader: DatasetReader, config: DoctorConfig) -> None:
        self.reader = reader
        self.config = config
        self._columns: dict[int, dict[str, Any]] = {}
        self._samples: dict[tuple[int, str], StreamSample] | None = None
        self._probes: dict[Path, dict[str, Any] | str] = {}

    @property
    def episodes(self) -> range:
        return range(self.reader.num_episodes)

    @property
    def video_keys(self) -> list[str]:
        return self.reader.video_keys

    def is_moving_camera(self, key: str) -> bool:
        name = key.rsplit(".", 1)[-1].lower()
        return any(part in name for part in self.config.moving_cameras)

    @property
    def fixed_video_keys(self) -> list[str]:
        return [k for k in self.video_keys if not self.is_moving_camera(k)]

    @property
    def has_edgevla_meta(self) -> bool:
        """Our per-episode metadata (cluster, recovery, calibration) is there."""
        return self.reader.num_episodes > 0 and "cluster" in self.reader.episode_meta(0)

    def meta(self, episode: int) -> dict[str, Any]:
        return self.reader.episode_meta(episode)

    def columns(self, episode: int) -> dict[str, Any]:
        """The episode's non-image columns (cached: a few KB per episode)."""
        if episode not in self._columns:
            self._columns[episode] = self.reader.episode(episode, images=False)
        return self._columns[episode]

    def probe(self, path: Path) -> dict[str, Any] | str:
        """The video file's stream info, or the error text when it cannot be opened."""
        if path not in self._probes:
            try:
                self._probes[path] = probe(path)
            except ValueError as e:
                self._probes[path] = str(e)[:200]
        return self._probes[path]

    def sample(self, episode: int, key: str) -> StreamSample:
        if self._samples is None:
            self._samples = self._sample_all()
        return self._samples[(episode, key)]

    def _sample_all(self) -> dict[tuple[int, str], StreamSample]:
        """Every (episode, camera) stream, `workers` at a time: PyAV and numpy release the
        GIL while decoding and reducing, so threads use the cores."""
        from concurrent.futures import ThreadPoolExecutor

        from tqdm import tqdm

        jobs = [(e, k) for e in self.episodes for k in self.video_keys]
        out: dict[tuple[int, str], StreamSample] = {}
        bar = tqdm(
            total=len(jobs), unit="stream", desc="reading video", disable=not self.config.progress
        )
        with ThreadPoolExecutor(max_workers=max(1, self.config.workers)) as pool:
            for job, sample in zip(
                jobs, pool.map(lambda j: self._sample_one(*j), jobs), strict=True
            ):
                out[job] = sample
                bar.update(1)
        bar.close()
        return out

    def _sample_one(self, episode: int, key: str) -> StreamSample:
        cfg = self.config
        row = self.meta(episode)
        path = self.reader.video_path(episode, key)
        length = int(row["length"])
        if not path.exists():
            return _empty(f"missing video file {path}")
        return sample_stream(
            path,
            float(row[f"videos/{key}/from_timestamp"]),
            length,
            float(self.reader.fps),
            window_starts(length, cfg.window_frames, cfg.windows, cfg.full),
            cfg.window_frames,
            cfg.analysis_size,
        )


def _empty(error: str) -> StreamSample:
    z = np.zeros(0, np.float32)
    return StreamSample(
        frames=np.zeros(0, np.int64),
        window=np.zeros(0, np.int64),
        mean_rgb=np.zeros((0, 3), np.float32),
        contrast=z,
        diff_prev=z,
        gain=z,
        backgrounds=np.zeros((0, 1, 1, 3), np.uint8),
        window_starts=np.zeros(0, np.int64),
        sharpness=z,
        size=(0, 0),
        errors=[error],
    )
