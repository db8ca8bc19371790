"""Where every file of a LeRobot v3.0 dataset lives, and crash-safe ways to write them.

A v3.0 dataset is `meta/info.json` (schema, totals, path templates), `meta/stats.json`,
`meta/tasks.parquet`, `meta/episodes/chunk-XXX/file-XXX.parquet` (one row per episode),
`data/chunk-XXX/file-XXX.parquet` (one row per frame) and
`videos/<camera key>/chunk-XXX/file-XXX.mp4`. We add `meta/edgevla.json` (our own dataset-level
metadata), which LeRobot never opens.

Every write goes to a temporary name that no LeRobot glob matches, is fsync'ed, then renamed
over the target, so a crash (even SIGKILL or power loss) leaves either the old or the new file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

CODEBASE_VERSION = "v3.0"

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
EDGEVLA_META_PATH = "meta/edgevla.json"
DATA_DIR = "data"
VIDEOS_DIR = "videos"

CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE + ".parquet"
DATA_PATH = DATA_DIR + "/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = VIDEOS_DIR + "/{video_key}/" + CHUNK_FILE + ".mp4"

# LeRobot's defaults; we never reach the size limits (one data/video file per episode), but the
# fields must be there.
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200

# Files of the episode being recorded live here until save_episode moves them into place.
STAGING_DIR = ".edgevla-partial"
LOCK_FILE = ".edgevla-writer.lock"
TMP_SUFFIX = ".edgevla-tmp"

# The frame-level columns every LeRobot dataset has, in LeRobot's order.
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


class DatasetFormatError(ValueError):
    """A dataset file is missing, unreadable or not what LeRobot v3.0 expects; names the file."""


def chunk_file(n: int, chunks_size: int) -> tuple[int, int]:
    """The (chunk_index, file_index) of the n-th file of a stream, LeRobot's numbering."""
    return n // chunks_size, n % chunks_size


def file_number(chunk_index: int, file_index: int, chunks_size: int) -> int:
    """Inverse of `chunk_file`."""
    return chunk_index * chunks_size + file_index


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not supported here (e.g. some network filesystems); the rename still happened
    try:
        os.fsync(fd)
    except OSError:
        pass  # directory fsync is best effort: durability, not correctness, depends on it
    finally:
        os.close(fd)


def tmp_path_for(path: Path) -> Path:
    """A sibling temporary name that LeRobot's `*.parquet` / `*.mp4` globs never match."""
    return path.with_name(path.name + TMP_SUFFIX)


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` then fsync and rename tmp over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_for(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: Path, data: Any, indent: int = 4) -> Path:
    """JSON as LeRobot writes it (indent 4, UTF-8 kept), NaN refused."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def durable_move(src: Path, dst: Path) -> Path:
    """fsync `src`, rename it to `dst` (same filesystem) and fsync the directory."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(src, dst)
    _fsync_dir(dst.parent)
    return dst


def read_json(path: Path) -> Any:
    """Read a JSON meta file; the error names the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetFormatError(f"missing dataset file: {path}") from None
    except OSError as e:
        raise DatasetFormatError(f"cannot read dataset file {path}: {e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetFormatError(f"{path}: not valid JSON ({e})") from None


def read_info(root: Path) -> dict[str, Any]:
    """meta/info.json of a v3.0 dataset; errors name the file."""
    path = Path(root) / INFO_PATH
    info = read_json(path)
    if not isinstance(info, dict):
        raise DatasetFormatError(f"{path}: expected a JSON object")
    version = info.get("codebase_version")
    if version != CODEBASE_VERSION:
        raise DatasetFormatError(
            f"{path}: codebase_version must be {CODEBASE_VERSION!r}, got {version!r} "
            "(convert older datasets with LeRobot's v2.1 -> v3.0 script)"
        )
    missing = [
        k
        for k in ("fps", "features", "data_path", "total_episodes", "total_frames")
        if k not in info
    ]
    if missing:
        raise DatasetFormatError(f"{path}: missing keys {missing}")
    from edgevla.dataset.info_schema import validate_info  # it imports this module

    validate_info(info, path)
    return info
