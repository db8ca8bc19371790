"""Read any LeRobot v3.0 dataset (ours or LeRobot's) into numpy, without LeRobot or torch.

Camera frames are decoded from the MP4 files and matched to the `timestamp` column as LeRobot
does (episode start `from_timestamp` in the file + frame timestamp, within `tolerance_s`).
"""

from __future__ import annotations

import bisect
import io
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from edgevla.dataset import layout, stats, tables
from edgevla.dataset.layout import DatasetFormatError
from edgevla.dataset.video import decode_frames
from edgevla.features import image_key


@dataclass(frozen=True)
class DatasetFiles:
    """Everything `DatasetReader.open` loads up front (metadata only, no frames)."""

    root: Path
    info: dict[str, Any]
    tasks: list[str]
    rows: list[dict[str, Any]]  # episodes table, without the stats columns
    episode_stats: list[stats.Stats]
    stats: stats.Stats | None
    edgevla: dict[str, Any] | None


class DatasetReader:
    """Open with `DatasetReader.open(root)`."""

    def __init__(self, files: DatasetFiles, *, tolerance_s: float = 1e-4) -> None:
        if not isinstance(files, DatasetFiles):
            raise TypeError("use DatasetReader.open(root) to read a dataset directory")
        self._files = files
        self.tolerance_s = tolerance_s
        self._starts = [int(r["dataset_from_index"]) for r in files.rows]
        self._tables: OrderedDict[Path, pa.Table] = OrderedDict()
        self._episode_cache: tuple[int, dict[str, Any]] | None = None

    @classmethod
    def open(cls, root: str | Path, *, tolerance_s: float = 1e-4) -> DatasetReader:
        """Load the metadata of the dataset in `root`; errors name the file at fault."""
        return cls(load_files(Path(root)), tolerance_s=tolerance_s)

    # ------------------------------------------------------------------ metadata

    @property
    def root(self) -> Path:
        return self._files.root

    @property
    def info(self) -> dict[str, Any]:
        return self._files.info

    @property
    def fps(self) -> int:
        return int(self.info["fps"])

    @property
    def robot_type(self) -> str | None:
        return self.info.get("robot_type")

    @property
    def num_episodes(self) -> int:
        return len(self._files.rows)

    @property
    def num_frames(self) -> int:
        return int(self.info["total_frames"])

    def __len__(self) -> int:
        return self.num_frames

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        return self.info["features"]

    @property
    def camera_keys(self) -> list[str]:
        """`observation.images.<cam>` keys, stored as video or as images."""
        return [k for k, ft in self.features.items() if ft["dtype"] in ("video", "image")]

    @property
    def video_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft["dtype"] == "video"]

    @property
    def stats(self) -> stats.Stats | None:
        return self._files.stats

    @property
    def tasks(self) -> list[str]:
        """Task strings; tasks[i] has task_index i."""
        return list(self._files.tasks)

    @property
    def edgevla_meta(self) -> dict[str, Any] | None:
        """What `DatasetWriter.set_edgevla_meta` stored; None for other datasets."""
        return (self._files.edgevla or {}).get("meta")

    def episode_meta(self, episode: int) -> dict[str, Any]:
        """The episode's LeRobot columns (no stats) plus our per-episode meta, flat."""
        row = dict(self._row(episode))
        ours = row.pop("edgevla_meta", None)
        if ours:
            row.update(json.loads(ours))
        return row

    def episode_stats(self, episode: int) -> stats.Stats:
        self._row(episode)
        return self._files.episode_stats[episode]

    def episodes_in_split(self, split: str) -> list[int]:
        """Episodes of `split` ("train", "validation", ...), from the first source that has it:
        an explicit `splits` {name: [episodes]} in our dataset meta; the `split` field of the
        episodes' meta; held-out clusters in our dataset meta (`holdout_cluster`, also under
        `split` or `plan`) with each episode's `cluster`; LeRobot's info.json `splits`."""
        meta = self.edgevla_meta or {}
        explicit = meta.get("splits") if isinstance(meta.get("splits"), dict) else {}
        if split in explicit:
            return sorted(int(i) for i in explicit[split])
        metas = [self.episode_meta(i) for i in range(self.num_episodes)]
        tagged = {m["split"] for m in metas if "split" in m}
        if split in tagged:
            return [i for i, m in enumerate(metas) if m.get("split") == split]
        held = _held_out_clusters(meta)
        if held is not None and split in ("train", "validation") and not tagged:
            unknown = [i for i, m in enumerate(metas) if m.get("cluster") is None]
            if unknown:
                raise DatasetFormatError(
                    f"{self.root}: held-out clusters are set but episodes {unknown[:10]} have no "
                    "'cluster' in their meta"
                )
            want_held = split == "validation"
            return [i for i, m in enumerate(metas) if (m["cluster"] in held) == want_held]
        ranges = self.info.get("splits") or {}
        if split in ranges:
            return _parse_range(ranges[split], self.num_episodes)
        derived = {"train", "validation"} if held is not None and not tagged else set()
        available = sorted(set(explicit) | tagged | derived | set(ranges))
        raise KeyError(f"{self.root}: no split {split!r}; available: {available}")

    # ------------------------------------------------------------------ frames

    def episode(self, episode: int, images: bool | Sequence[str] = True) -> dict[str, Any]:
        """All columns of one episode as arrays ([N] or [N, D]), `task` (str, the task of its
        first frame) and, if `images`, `observation.images.<cam>` uint8[N, H, W, 3].
        `images` may list the camera keys (or names) to decode."""
        row = self._row(episode)
        out = self._columns(row)
        task_index = out.get("task_index")
        out["task"] = self._files.tasks[int(task_index[0])] if task_index is not None else None
        for key in self._cameras_wanted(images):
            ft = self.features[key]
            if ft["dtype"] == "video":
                out[key] = self._decode_video(row, key, out["timestamp"])
            else:
                out[key] = _decode_images(out[key])
        return out

    def frame(self, index: int) -> dict[str, Any]:
        """One frame by global index, images decoded; the decoded episode is cached, so reading
        frames in order decodes each episode once."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame index {index} out of range [0, {self.num_frames})")
        episode = bisect.bisect_right(self._starts, index) - 1
        if self._episode_cache is None or self._episode_cache[0] != episode:
            self._episode_cache = (episode, self.episode(episode, images=True))
        data = self._episode_cache[1]
        i = index - self._starts[episode]
        return {k: (v if k == "task" else v[i]) for k, v in data.items()}

    # ------------------------------------------------------------------ internals

    def _row(self, episode: int) -> dict[str, Any]:
        if not 0 <= episode < self.num_episodes:
            raise IndexError(f"episode {episode} out of range [0, {self.num_episodes})")
        return self._files.rows[episode]

    def _cameras_wanted(self, images: bool | Sequence[str]) -> list[str]:
        if images is True:
            return self.camera_keys
        if images is False:
            return []
        wanted = [k if k in self.features else image_key(k) for k in images]
        unknown = [k for k in wanted if k not in self.camera_keys]
        if unknown:
            raise KeyError(f"unknown cameras {unknown}; this dataset has {self.camera_keys}")
        return wanted

    def _table(self, path: Path) -> pa.Table:
        if path not in self._tables:
            self._tables[path] = tables.read_parquet(path)
            while len(self._tables) > 2:
                self._tables.popitem(last=False)
        return self._tables[path]

    def _columns(self, row: dict[str, Any]) -> dict[str, Any]:
        path = self.root / self.info["data_path"].format(
            chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
        )
        table = self._table(path)
        if "episode_index" not in table.column_names:
            raise DatasetFormatError(f"{path}: no 'episode_index' column")
        part = table.filter(pc.equal(table["episode_index"], row["episode_index"]))
        if part.num_rows != row["length"]:
            raise DatasetFormatError(
                f"{path}: episode {row['episode_index']} has {part.num_rows} rows, "
                f"the episodes table says {row['length']}"
            )
        out: dict[str, Any] = {}
        for key, ft in self.features.items():
            if ft["dtype"] == "video":
                continue
            if key not in part.column_names:
                raise DatasetFormatError(f"{path}: no column {key!r} (listed in info.json)")
            out[key] = _to_numpy(part[key], ft)
        return out

    def video_path(self, episode: int, key: str) -> Path:
        """The video file holding camera `key` of `episode` (shared with other episodes in
        LeRobot v3.0: the episode starts at its `videos/<key>/from_timestamp`)."""
        return self._video_path(self._row(episode), key)

    def _video_path(self, row: dict[str, Any], key: str) -> Path:
        return self.root / self.info["video_path"].format(
            video_key=key,
            chunk_index=row[f"videos/{key}/chunk_index"],
            file_index=row[f"videos/{key}/file_index"],
        )

    def _decode_video(self, row: dict[str, Any], key: str, timestamps: np.ndarray) -> np.ndarray:
        path = self._video_path(row, key)
        if not path.exists():
            raise DatasetFormatError(f"missing dataset file: {path}")
        return decode_frames(
            path,
            timestamps,
            from_timestamp=float(row[f"videos/{key}/from_timestamp"]),
            tolerance_s=self.tolerance_s,
        )


def load_files(root: Path) -> DatasetFiles:
    if not root.is_dir():
        raise DatasetFormatError(f"not a dataset directory: {root}")
    info = layout.read_info(root)
    n = int(info["total_episodes"])
    tasks_path = root / layout.TASKS_PATH
    tasks = tables.read_tasks(tasks_path) if n > 0 or tasks_path.exists() else []
    tasks = tasks[: int(info.get("total_tasks", len(tasks)))]  # ignore an uncommitted new task
    rows = tables.read_episodes(root)[:n] if n > 0 else []
    if len(rows) != n:
        raise DatasetFormatError(
            f"{root / layout.EPISODES_DIR}: has {len(rows)} episodes, info.json counts {n}"
        )
    episode_stats = [stats.from_columns(r) for r in rows]
    rows = [{k: v for k, v in r.items() if not k.startswith("stats/")} for r in rows]
    stats_path = root / layout.STATS_PATH
    ds_stats = stats.from_json(layout.read_json(stats_path)) if stats_path.exists() else None
    edgevla_path = root / layout.EDGEVLA_META_PATH
    edgevla = layout.read_json(edgevla_path) if edgevla_path.exists() else None
    return DatasetFiles(root, info, tasks, rows, episode_stats, ds_stats, edgevla)


def _to_numpy(column: pa.ChunkedArray, feature: dict[str, Any]) -> Any:
    column = column.combine_chunks()
    dtype = feature["dtype"]
    if dtype in ("image", "string"):
        return column.to_pylist()
    shape = tuple(feature["shape"])
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type):
        values = column.flatten().to_numpy(zero_copy_only=False)
        return values.reshape(len(column), *shape).astype(dtype, copy=False)
    return column.to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def _decode_images(cells: list[Any]) -> np.ndarray:
    """Image features stored in parquet ({'bytes', 'path'} structs) -> uint8[N, H, W, 3]."""
    try:
        from PIL import Image
    except ImportError:
        raise RuntimeError("decoding 'image' features needs Pillow (pip install pillow)") from None
    frames = []
    for cell in cells:
        data = cell.get("bytes") if isinstance(cell, dict) else None
        if data is None:
            raise DatasetFormatError("image feature without embedded bytes is not supported")
        frames.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    return np.stack(frames)


def _held_out_clusters(meta: dict[str, Any]) -> set[Any] | None:
    nested = [meta.get(k) for k in ("split", "plan") if isinstance(meta.get(k), dict)]
    for source in (meta, *nested):
        for key in ("holdout_cluster", "held_out_cluster", "held_out_clusters"):
            value = source.get(key)
            if value is not None:
                return set(value) if isinstance(value, list) else {value}
    return None


def _parse_range(spec: str, num_episodes: int) -> list[int]:
    """LeRobot's split syntax: 'start:end'."""
    try:
        start, end = (int(p) for p in str(spec).split(":"))
    except ValueError:
        raise DatasetFormatError(f"split must look like 'start:end', got {spec!r}") from None
    return list(range(max(0, start), min(end, num_episodes)))
