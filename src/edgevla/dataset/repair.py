"""Bring an interrupted recording back to its last committed episode, for `DatasetWriter.resume`.

`meta/info.json` is the commit point: what it counts is kept. Anything written after it for the
episode that never finished is removed: the staging directory, extra episodes-table rows, an
extra task, data and video files no episode refers to, and temporary files. Dataset stats are
recomputed from the per-episode stats. Each removal is reported.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgevla.dataset import layout, stats, tables
from edgevla.dataset.layout import DatasetFormatError


@dataclass
class ResumeState:
    info: dict[str, Any]
    edgevla: dict[str, Any]
    tasks: list[str]
    rows: list[dict[str, Any]]
    stats: stats.Stats | None
    report: list[str]


def load_for_resume(root: Path) -> ResumeState:
    info = layout.read_info(root)
    edgevla = _read_edgevla(root)
    report: list[str] = []
    staging = root / layout.STAGING_DIR
    if staging.exists():
        shutil.rmtree(staging)
        report.append(f"removed the unfinished episode's files ({staging})")
    rows = _committed_rows(root, info, report)
    _remove_orphans(root, info, rows, report)
    tasks = _committed_tasks(root, info, report)
    merged = stats.aggregate([stats.from_columns(r) for r in rows]) if rows else None
    stats_path = root / layout.STATS_PATH
    if merged is not None:
        layout.atomic_write_json(stats_path, stats.to_json(merged))
    elif stats_path.exists():
        stats_path.unlink()
        report.append(f"removed {stats_path} (no episode was committed)")
    return ResumeState(info, edgevla, tasks, rows, merged, report)


def _read_edgevla(root: Path) -> dict[str, Any]:
    path = root / layout.EDGEVLA_META_PATH
    if not path.exists():
        raise DatasetFormatError(
            f"{root} was not recorded by edgevla's DatasetWriter ({path} is missing); "
            "only such datasets can be resumed"
        )
    data = layout.read_json(path)
    writer = data.get("writer") if isinstance(data, dict) else None
    if not isinstance(writer, dict) or "video" not in writer or "cameras" not in writer:
        raise DatasetFormatError(f"{path}: expected a 'writer' section with 'video' and 'cameras'")
    return data


def _committed_rows(root: Path, info: dict[str, Any], report: list[str]) -> list[dict[str, Any]]:
    n = int(info["total_episodes"])
    episodes_dir = root / layout.EPISODES_DIR
    rows = tables.read_episodes(root) if n > 0 or any(episodes_dir.glob("*/*.parquet")) else []
    if len(rows) < n:
        raise DatasetFormatError(
            f"{episodes_dir}: has {len(rows)} episodes but {root / layout.INFO_PATH} counts {n}"
        )
    kept, dropped = rows[:n], rows[n:]
    indices = [r["episode_index"] for r in kept]
    if indices != list(range(n)):
        raise DatasetFormatError(f"{episodes_dir}: episode_index must be 0..{n - 1}, got {indices}")
    frames = sum(r["length"] for r in kept)
    if frames != info["total_frames"]:
        raise DatasetFormatError(
            f"{root / layout.INFO_PATH}: total_frames is {info['total_frames']} but the episodes "
            f"add up to {frames}"
        )
    if dropped:
        _rewrite_episode_files(root, info, kept, dropped)
        report.append(f"dropped {len(dropped)} uncommitted row(s) from the episodes table")
    return kept


def _rewrite_episode_files(
    root: Path, info: dict[str, Any], kept: list[dict[str, Any]], dropped: list[dict[str, Any]]
) -> None:
    def where(row: dict[str, Any]) -> tuple[int, int]:
        return row["meta/episodes/chunk_index"], row["meta/episodes/file_index"]

    for chunk_index, file_index in sorted({where(r) for r in dropped}):
        path = root / layout.EPISODES_PATH.format(chunk_index=chunk_index, file_index=file_index)
        same = [r for r in kept if where(r) == (chunk_index, file_index)]
        if same:
            tables.write_episodes(path, same)
        else:
            path.unlink(missing_ok=True)


def _referenced_files(root: Path, info: dict[str, Any], rows: list[dict[str, Any]]) -> set[Path]:
    files: set[Path] = set()
    video_keys = [k for k, ft in info["features"].items() if ft["dtype"] == "video"]
    for row in rows:
        files.add(
            root
            / info["data_path"].format(
                chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
            )
        )
        for key in video_keys:
            files.add(
                root
                / info["video_path"].format(
                    video_key=key,
                    chunk_index=row[f"videos/{key}/chunk_index"],
                    file_index=row[f"videos/{key}/file_index"],
                )
            )
    missing = sorted(str(p) for p in files if not p.exists())
    if missing:
        raise DatasetFormatError(f"files of committed episodes are missing: {missing[:5]}")
    return files


def _remove_orphans(
    root: Path, info: dict[str, Any], rows: list[dict[str, Any]], report: list[str]
) -> None:
    referenced = _referenced_files(root, info, rows)
    candidates = list((root / layout.DATA_DIR).glob("**/*.parquet"))
    candidates += (root / layout.VIDEOS_DIR).glob("**/*.mp4")
    for sub in ("meta", layout.DATA_DIR, layout.VIDEOS_DIR):
        candidates += (root / sub).glob(f"**/*{layout.TMP_SUFFIX}")
    for path in sorted(set(candidates) - referenced):
        path.unlink()
        report.append(f"removed {path.relative_to(root)} (not part of a committed episode)")


def _committed_tasks(root: Path, info: dict[str, Any], report: list[str]) -> list[str]:
    path = root / layout.TASKS_PATH
    tasks = tables.read_tasks(path) if path.exists() else []
    n = int(info.get("total_tasks", len(tasks)))
    if len(tasks) < n:
        raise DatasetFormatError(f"{path}: has {len(tasks)} tasks but info.json counts {n}")
    if len(tasks) > n:
        tables.write_tasks(path, tasks[:n])
        report.append(f"dropped {len(tasks) - n} uncommitted task(s) from {path.name}")
    return tasks[:n]
