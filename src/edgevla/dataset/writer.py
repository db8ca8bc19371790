"""Record episodes into a LeRobot v3.0 dataset that is complete and valid after every episode.

Each episode gets its own data parquet file and its own MP4 per camera (v3.0 allows any number
of files; the episodes table says where each episode is). Frames stream into background
encoders while the episode is recorded, into a staging directory that LeRobot never looks at.
`save_episode` then moves the finished files into place and rewrites the metadata, each file
atomically, `meta/info.json` last: that rename is the commit. A crash at any point loses only
the episode in progress; `DatasetWriter.resume` removes its leftovers and carries on.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from edgevla.dataset import layout, stats, tables
from edgevla.dataset.layout import CODEBASE_VERSION, DatasetFormatError
from edgevla.dataset.locking import WriterLock
from edgevla.dataset.video import VideoEncoder, VideoSettings, check_encodable, probe
from edgevla.features import ACTION_KEY, IMAGE_KEY_PREFIX, STATE_KEY, image_key

EPISODES_PER_META_FILE = 1000
EDGEVLA_FORMAT = 1
# Episode columns LeRobot defines; our per-episode meta may not reuse these names.
_RESERVED_EPISODE_KEYS = {
    "episode_index",
    "tasks",
    "length",
    "dataset_from_index",
    "dataset_to_index",
}
_CAMERA_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


class DatasetWriter:
    """Appends episodes to a dataset. Make one with `create` or `resume`, never directly."""

    def __init__(self, root: Path, info: dict[str, Any], edgevla: dict[str, Any]) -> None:
        self.root = Path(root)
        self.info = info
        self._edgevla = edgevla
        self.video = VideoSettings(**edgevla["writer"]["video"])
        self.cameras: dict[str, tuple[int, int]] = {
            name: tuple(hw) for name, hw in edgevla["writer"]["cameras"].items()
        }
        self.fps = int(info["fps"])
        self.state_dim = int(info["features"][STATE_KEY]["shape"][0])
        self.action_dim = int(info["features"][ACTION_KEY]["shape"][0])
        self.repair_report: list[str] = []  # what `resume` had to clean up
        self._schema = tables.data_schema(info["features"])
        self._tasks: list[str] = []
        self._rows: list[dict[str, Any]] = []
        self._stats: stats.Stats | None = None
        self._lock: WriterLock | None = None
        self._states: list[np.ndarray] = []
        self._actions: list[np.ndarray] = []
        self._encoders: dict[str, VideoEncoder] = {}
        self._staging = self.root / layout.STAGING_DIR / "episode"

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(
        cls,
        root: str | Path,
        *,
        fps: int,
        robot_type: str | None,
        cameras: Mapping[str, tuple[int, int]],
        state_names: Sequence[str],
        action_names: Sequence[str],
        codec: str | VideoSettings = "libsvtav1",
        extra_info: Mapping[str, Any] | None = None,
    ) -> DatasetWriter:
        """Start a new dataset in `root` (absent or empty). cameras: name -> (H, W)."""
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise FileExistsError(
                f"refusing to create a dataset in {root}: it exists and is not an empty "
                "directory (use DatasetWriter.resume to continue a recording)"
            )
        video = codec if isinstance(codec, VideoSettings) else VideoSettings(codec=codec)
        check_encodable(video)
        features = _features(fps, cameras, state_names, action_names)
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": robot_type,
            "total_episodes": 0,
            "total_frames": 0,
            "total_tasks": 0,
            "chunks_size": layout.CHUNKS_SIZE,
            "data_files_size_in_mb": layout.DATA_FILES_SIZE_IN_MB,
            "video_files_size_in_mb": layout.VIDEO_FILES_SIZE_IN_MB,
            "fps": fps,
            "splits": {},
            "data_path": layout.DATA_PATH,
            "video_path": layout.VIDEO_PATH if cameras else None,
            "features": features,
        }
        clash = sorted(set(extra_info or {}) & set(info))
        if clash:
            raise ValueError(f"extra_info may not override LeRobot's info.json keys {clash}")
        info.update(_json_checked(dict(extra_info or {}), "extra_info"))
        edgevla = {
            "edgevla_format": EDGEVLA_FORMAT,
            "writer": {"video": asdict(video), "cameras": {k: list(v) for k, v in cameras.items()}},
            "meta": None,
        }
        root.mkdir(parents=True, exist_ok=True)
        writer = cls(root, info, edgevla)
        writer._lock = WriterLock.acquire(root / layout.LOCK_FILE)
        layout.atomic_write_json(root / layout.EDGEVLA_META_PATH, edgevla)
        layout.atomic_write_json(root / layout.INFO_PATH, info)
        return writer

    @classmethod
    def resume(cls, root: str | Path) -> DatasetWriter:
        """Reopen a dataset this writer made; drop any unfinished episode and continue."""
        from edgevla.dataset.repair import load_for_resume

        root = Path(root)
        if not (root / layout.INFO_PATH).is_file():
            raise DatasetFormatError(
                f"not a dataset to resume: {root / layout.INFO_PATH} is missing"
            )
        lock = WriterLock.acquire(root / layout.LOCK_FILE)
        try:
            state = load_for_resume(root)
            writer = cls(root, state.info, state.edgevla)
            check_encodable(writer.video)
        except BaseException:
            lock.release()
            raise
        writer._lock = lock
        writer._tasks, writer._rows = state.tasks, state.rows
        writer._stats, writer.repair_report = state.stats, state.report
        return writer

    # ------------------------------------------------------------------ recording

    @property
    def num_episodes(self) -> int:
        return int(self.info["total_episodes"])

    @property
    def num_frames(self) -> int:
        return int(self.info["total_frames"])

    @property
    def episode_frames(self) -> int:
        """Frames added to the episode in progress."""
        return len(self._states)

    def add_frame(
        self, *, state: np.ndarray, action: np.ndarray, images: Mapping[str, np.ndarray]
    ) -> None:
        """state: float[S], action: float[A], images: camera (or `observation.images.<cam>`) ->
        uint8[H, W, 3]. Everything is checked before anything is kept."""
        self._check_open()
        state32 = _vector(state, self.state_dim, "state")
        action32 = _vector(action, self.action_dim, "action")
        frames = self._check_images(images)
        if not self._encoders:
            self._start_encoders()
        for name, frame in frames.items():
            self._encoders[name].put(frame)
        self._states.append(state32)
        self._actions.append(action32)

    def save_episode(self, task: str, meta: Mapping[str, Any] | None = None) -> int:
        """Write the episode in progress; returns its episode_index. `meta` (JSON values) is
        kept per episode in the `edgevla_meta` column of the episodes table."""
        self._check_open()
        if not isinstance(task, str) or not task.strip():
            raise ValueError(f"task must be a non-empty string, got {task!r}")
        meta = _episode_meta(meta)
        n = len(self._states)
        if n == 0:
            raise ValueError("cannot save an empty episode: add_frame was never called")
        index = self.num_episodes
        try:
            self._save(index, n, task, meta)
        except BaseException:
            self.discard_episode()  # never leave a half-saved episode to be saved again
            raise
        self._reset_episode()
        return index

    def _save(self, index: int, n: int, task: str, meta: dict[str, Any]) -> None:
        image_stats = {image_key(c): enc.finish() for c, enc in self._encoders.items()}
        new_task = task not in self._tasks
        tasks = self._tasks + [task] if new_task else self._tasks
        columns = self._frame_columns(index, tasks.index(task))
        ep_stats = {key: stats.vector_stats(columns[key]) for key in self._schema.names}
        ep_stats.update(image_stats)

        self._staging.mkdir(parents=True, exist_ok=True)
        staged_data = self._staging / "data.parquet"
        tables.write_data(staged_data, columns, self._schema)
        row: dict[str, Any] = {"episode_index": index, "tasks": [task], "length": n}
        chunk_index, file_index = self._chunk(self._next_file_number("data"))
        row["data/chunk_index"], row["data/file_index"] = chunk_index, file_index
        row["dataset_from_index"] = self.num_frames
        row["dataset_to_index"] = self.num_frames + n
        for camera in self._encoders:
            row.update(self._place_video(camera))
        data_path = self.info["data_path"].format(chunk_index=chunk_index, file_index=file_index)
        layout.durable_move(staged_data, self.root / data_path)
        row.update(stats.to_columns(ep_stats))
        meta_number = self._meta_file_number()
        row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = self._chunk(meta_number)
        row["edgevla_meta"] = json.dumps(meta, sort_keys=True)
        self._commit(row, tasks, new_task, ep_stats, meta_number)

    def discard_episode(self) -> int:
        """Drop the episode in progress; returns how many frames were dropped."""
        dropped = len(self._states)
        for enc in self._encoders.values():
            enc.cancel()
        self._reset_episode()
        return dropped

    def set_edgevla_meta(self, meta: Mapping[str, Any]) -> None:
        """Dataset-level metadata of ours (cluster plan, splits, recording config...), kept in
        meta/edgevla.json and across `resume`."""
        self._check_open()
        self._edgevla["meta"] = _json_checked(dict(meta), "edgevla meta")
        layout.atomic_write_json(self.root / layout.EDGEVLA_META_PATH, self._edgevla)

    @property
    def edgevla_meta(self) -> dict[str, Any] | None:
        return self._edgevla.get("meta")

    def episode_metas(self) -> list[dict[str, Any]]:
        """The `meta` of every saved episode, in order (e.g. to continue a plan after resume)."""
        return [json.loads(r.get("edgevla_meta") or "{}") for r in self._rows]

    def close(self) -> int:
        """Discard an unfinished episode and release the dataset; returns frames dropped."""
        if self._lock is None:
            return 0
        dropped = self.discard_episode()
        shutil.rmtree(self.root / layout.STAGING_DIR, ignore_errors=True)
        self._lock.release()
        self._lock = None
        return dropped

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._lock is None:
            raise RuntimeError(f"DatasetWriter for {self.root} is closed")

    def _reset_episode(self) -> None:
        self._states, self._actions, self._encoders = [], [], {}
        shutil.rmtree(self._staging, ignore_errors=True)

    def _start_encoders(self) -> None:
        self._staging.mkdir(parents=True, exist_ok=True)
        for name, (h, w) in self.cameras.items():
            path = self._staging / f"{name}.mp4"
            self._encoders[name] = VideoEncoder(path, h, w, self.fps, self.video)

    def _check_images(self, images: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not isinstance(images, Mapping):
            raise TypeError(
                f"images must be a mapping camera -> uint8[H, W, 3], got {type(images)}"
            )
        by_camera: dict[str, np.ndarray] = {}
        for key, frame in images.items():
            name = key.removeprefix(IMAGE_KEY_PREFIX)
            if name in by_camera:
                raise ValueError(f"camera {name!r} given twice (as {name!r} and its feature key)")
            by_camera[name] = frame
        missing = [c for c in self.cameras if c not in by_camera]
        extra = sorted(set(by_camera) - set(self.cameras))
        if missing or extra:
            raise ValueError(
                f"images must have exactly the cameras {list(self.cameras)}; "
                f"missing {missing}, unexpected {extra}"
            )
        for name, frame in by_camera.items():
            h, w = self.cameras[name]
            if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
                got = frame.dtype if isinstance(frame, np.ndarray) else type(frame).__name__
                raise ValueError(f"camera {name!r}: expected a uint8 array, got {got}")
            if frame.shape != (h, w, 3):
                raise ValueError(f"camera {name!r}: expected shape {(h, w, 3)}, got {frame.shape}")
        return by_camera

    def _frame_columns(self, episode_index: int, task_index: int) -> dict[str, np.ndarray]:
        n = len(self._states)
        frame_index = np.arange(n, dtype=np.int64)
        return {
            ACTION_KEY: np.stack(self._actions),
            STATE_KEY: np.stack(self._states),
            "timestamp": (frame_index / self.fps).astype(np.float32),
            "frame_index": frame_index,
            "episode_index": np.full(n, episode_index, dtype=np.int64),
            "index": self.num_frames + frame_index,
            "task_index": np.full(n, task_index, dtype=np.int64),
        }

    def _chunk(self, number: int) -> tuple[int, int]:
        return layout.chunk_file(number, int(self.info["chunks_size"]))

    def _next_file_number(self, prefix: str) -> int:
        """One file per episode and stream: the one after the last episode's."""
        if not self._rows:
            return 0
        last = self._rows[-1]
        cs = int(self.info["chunks_size"])
        return (
            layout.file_number(last[f"{prefix}/chunk_index"], last[f"{prefix}/file_index"], cs) + 1
        )

    def _meta_file_number(self) -> int:
        """Episodes rows go to one file until it holds EPISODES_PER_META_FILE of them."""
        if not self._rows:
            return 0
        current = self._row_meta_number(self._rows[-1])
        in_current = sum(1 for r in self._rows if self._row_meta_number(r) == current)
        return current if in_current < EPISODES_PER_META_FILE else current + 1

    def _row_meta_number(self, row: Mapping[str, Any]) -> int:
        cs = int(self.info["chunks_size"])
        return layout.file_number(
            row["meta/episodes/chunk_index"], row["meta/episodes/file_index"], cs
        )

    def _place_video(self, camera: str) -> dict[str, Any]:
        key = image_key(camera)
        number = self._next_file_number(f"videos/{key}")
        chunk_index, file_index = self._chunk(number)
        staged = self._staging / f"{camera}.mp4"
        probed = probe(staged)
        if not self.info["features"][key].get("info"):
            self.info["features"][key]["info"] = probed["info"]
        target = self.root / self.info["video_path"].format(
            video_key=key, chunk_index=chunk_index, file_index=file_index
        )
        layout.durable_move(staged, target)
        return {
            f"videos/{key}/chunk_index": chunk_index,
            f"videos/{key}/file_index": file_index,
            f"videos/{key}/from_timestamp": 0.0,
            f"videos/{key}/to_timestamp": probed["duration"],
        }

    def _commit(
        self,
        row: dict[str, Any],
        tasks: list[str],
        new_task: bool,
        ep_stats: stats.Stats,
        meta_number: int,
    ) -> None:
        """Metadata files, each atomic; info.json last (the commit point)."""
        if new_task:
            tables.write_tasks(self.root / layout.TASKS_PATH, tasks)
        rows = self._rows + [row]
        same_file = [r for r in rows if self._row_meta_number(r) == meta_number]
        meta_path = self.root / layout.EPISODES_PATH.format(
            chunk_index=row["meta/episodes/chunk_index"], file_index=row["meta/episodes/file_index"]
        )
        tables.write_episodes(meta_path, same_file)
        merged = ep_stats if self._stats is None else stats.aggregate([self._stats, ep_stats])
        layout.atomic_write_json(self.root / layout.STATS_PATH, stats.to_json(merged))
        info = dict(self.info)
        info["total_episodes"] = self.num_episodes + 1
        info["total_frames"] = self.num_frames + row["length"]
        info["total_tasks"] = len(tasks)
        info["splits"] = _splits([json.loads(r["edgevla_meta"]) for r in rows])
        layout.atomic_write_json(self.root / layout.INFO_PATH, info)
        self.info, self._tasks, self._rows, self._stats = info, tasks, rows, merged


def _splits(metas: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """info.json `splits`: LeRobot's `{"train": "0:N"}`, or one "start:end" range per value of
    the episodes' `split` meta when each split's episodes are contiguous (the recording plan
    puts the held-out cluster last for this)."""
    names = [str(m.get("split", "train")) for m in metas]
    ranges: dict[str, str] = {}
    for i, name in enumerate(names):
        if name not in ranges:
            ranges[name] = f"{i}:{i}"
        start, end = (int(v) for v in ranges[name].split(":"))
        if end != i:  # not contiguous: a range cannot describe it, our per-episode meta does
            return {"train": f"0:{len(names)}"}
        ranges[name] = f"{start}:{i + 1}"
    return ranges


def _features(
    fps: int,
    cameras: Mapping[str, tuple[int, int]],
    state_names: Sequence[str],
    action_names: Sequence[str],
) -> dict[str, Any]:
    if not isinstance(fps, int) or isinstance(fps, bool) or fps < 1:
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    for label, names in (("state_names", state_names), ("action_names", action_names)):
        if isinstance(names, str) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{label} must be a non-empty sequence of strings, got {names!r}")
    features: dict[str, Any] = {
        ACTION_KEY: {"dtype": "float32", "shape": [len(action_names)], "names": list(action_names)},
        STATE_KEY: {"dtype": "float32", "shape": [len(state_names)], "names": list(state_names)},
    }
    for name, hw in cameras.items():
        if not isinstance(name, str) or not _CAMERA_NAME.match(name):
            raise ValueError(f"camera names must match {_CAMERA_NAME.pattern}, got {name!r}")
        if (
            not isinstance(hw, (tuple, list))
            or len(hw) != 2
            or not all(isinstance(v, int) and v > 0 and v % 2 == 0 for v in hw)
        ):
            raise ValueError(
                f"camera {name!r}: expected (height, width) as positive even integers "
                f"(yuv420p video), got {hw!r}"
            )
        features[image_key(name)] = {
            "dtype": "video",
            "shape": [hw[0], hw[1], 3],
            "names": ["height", "width", "channels"],
        }
    features.update({k: dict(v) for k, v in layout.DEFAULT_FEATURES.items()})
    return features


def _vector(value: Any, dim: int, label: str) -> np.ndarray:
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"{label}: expected a float array of shape ({dim},), got dtype {array.dtype}"
        )
    if array.shape != (dim,):
        raise ValueError(f"{label}: expected shape ({dim},), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{label}: values must be finite, got {array.tolist()}")
    return array.astype(np.float32)


def _json_checked(value: dict[str, Any], label: str) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{label} must be JSON-serializable (no NaN): {e}") from None


def _episode_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    meta = _json_checked(dict(meta or {}), "episode meta")
    bad = sorted(k for k in meta if k in _RESERVED_EPISODE_KEYS or "/" in k)
    if bad:
        raise ValueError(
            f"episode meta keys {bad} clash with LeRobot's episode columns "
            f"({sorted(_RESERVED_EPISODE_KEYS)} and names with '/')"
        )
    return meta
