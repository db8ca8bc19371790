"""Inject the recording defects the doctor looks for into a copy of a dataset: the doctor's
tests and benchmark make their defective datasets this way (post-processing a clean sim
recording), so each check is shown to fire where the defect is, and only there.

The `edit_*`, `convert_units`, `truncate_file` functions edit the dataset in `root` in place;
`as_lerobot_layout` writes the many-episodes-per-file layout of LeRobot's own recorder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from edgevla.dataset.reader import DatasetReader
from edgevla.dataset.video import VideoEncoder, VideoSettings, decode_frames
from edgevla.features import image_key

Frames = np.ndarray  # uint8[N, H, W, 3]


def edit_frames(root: Path, episode: int, camera: str, edit: Callable[[Frames], Frames]) -> None:
    """Decode the file holding `episode`'s `camera` stream, replace that episode's frames with
    `edit(frames)` (same count and shape) and re-encode the file with libx264."""
    reader = DatasetReader.open(root)
    key = camera if camera in reader.features else image_key(camera)
    path = reader.video_path(episode, key)
    owners = [e for e in range(reader.num_episodes) if reader.video_path(e, key) == path]
    spans = []
    for e in owners:
        row = reader.episode_meta(e)
        ts = reader.episode(e, images=False)["timestamp"]
        got = decode_frames(path, ts, from_timestamp=float(row[f"videos/{key}/from_timestamp"]))
        if e == episode:
            new = edit(got.copy())
            if new.shape != got.shape or new.dtype != np.uint8:
                raise ValueError(
                    f"edit must keep uint8{list(got.shape)}, gave {new.dtype}{list(new.shape)}"
                )
            got = new
        spans.append(got)
    frames = np.concatenate(spans)
    h, w = frames.shape[1:3]
    encoder = VideoEncoder(path, h, w, reader.fps, VideoSettings(codec="libx264"))
    for frame in frames:
        encoder.put(frame)
    encoder.finish()


def shift(frames: Frames, dy: int, dx: int) -> Frames:
    """The view moved by (dy, dx) pixels (edges repeated): a nudged camera."""
    out = np.roll(frames, (dy, dx), axis=(1, 2))
    if dy > 0:
        out[:, :dy] = out[:, dy : dy + 1]
    elif dy < 0:
        out[:, dy:] = out[:, dy - 1 : dy]
    if dx > 0:
        out[:, :, :dx] = out[:, :, dx : dx + 1]
    elif dx < 0:
        out[:, :, dx:] = out[:, :, dx - 1 : dx]
    return out


def roll(frames: Frames, degrees: float) -> Frames:
    """The view rolled by `degrees` about the image centre: a camera knocked askew."""
    from edgevla.dataset.doctor.imaging import rotate

    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        for c in range(3):
            out[i, :, :, c] = np.clip(
                rotate(frame[:, :, c].astype(np.float32), degrees) + 0.5, 0, 255
            )
    return out


def gain(frames: Frames, factor: float | np.ndarray) -> Frames:
    """Brightness scaled by `factor` (a number or float[N] per frame): a lamp changed."""
    f = np.asarray(factor, dtype=np.float32).reshape(-1, 1, 1, 1)
    return np.clip(frames.astype(np.float32) * f, 0, 255).astype(np.uint8)


def blur(frames: Frames, passes: int = 2) -> Frames:
    """3x3 box blur applied `passes` times: a camera out of focus."""
    out = frames.astype(np.float32)
    for _ in range(passes):
        p = np.pad(out, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        out = (
            sum(
                p[:, i : i + out.shape[1], j : j + out.shape[2]] for i in range(3) for j in range(3)
            )
            / 9
        )
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def freeze(frames: Frames, start: int) -> Frames:
    """Every frame from `start` on repeats frame `start`: a stalled camera."""
    out = frames.copy()
    out[start:] = frames[start]
    return out


def truncate_file(path: Path, keep: float = 0.6) -> None:
    """Cut a file to `keep` of its bytes: an interrupted copy or a full disk."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])


def edit_columns(root: Path, episode: int, edit: Callable[[dict[str, np.ndarray]], None]) -> None:
    """`edit(columns)` changes float columns (e.g. 'action', 'timestamp') of one episode in
    place (same shapes); the data file is rewritten with its schema."""
    reader = DatasetReader.open(root)
    row = reader.episode_meta(episode)
    path = root / reader.info["data_path"].format(
        chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
    )
    table = pq.read_table(path)
    mine = np.asarray(table["episode_index"]) == episode
    columns = {}
    for name in table.column_names:
        col = table[name].combine_chunks()
        if pa.types.is_fixed_size_list(col.type):
            columns[name] = col.flatten().to_numpy().reshape(len(col), -1).copy()
        else:
            columns[name] = col.to_numpy().copy()
    part = {k: v[mine].copy() for k, v in columns.items()}
    edit(part)
    arrays = []
    for field in table.schema:
        values = columns[field.name]
        values[mine] = part[field.name]
        if pa.types.is_fixed_size_list(field.type):
            flat = pa.array(values.reshape(-1), type=field.type.value_type)
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, field.type.list_size))
        else:
            arrays.append(pa.array(values, type=field.type))
    pq.write_table(pa.Table.from_arrays(arrays, schema=table.schema), path)


def convert_units(
    root: Path, episode: int, to: str, calibration: dict[str, dict[str, int]] | None = None
) -> None:
    """Rewrite `episode`'s state and action in unit `to` (degrees or range_m100_100) from
    the other, through `calibration` (LeRobot's form; default the sim's): one episode read
    with the other `use_degrees` setting."""
    from edgevla.dataset.doctor.units import convert, degrees_per_unit
    from edgevla.features import ACTION_KEY, STATE_KEY

    if calibration is None:
        from edgevla.sim.calibration import sim_calibration

        calibration = sim_calibration()
    ratios = degrees_per_unit(calibration)
    features = DatasetReader.open(root).features

    def edit(columns: dict[str, np.ndarray]) -> None:
        for key in (STATE_KEY, ACTION_KEY):
            names = features[key]["names"]
            columns[key][:] = convert(columns[key], names, ratios, to).astype(columns[key].dtype)

    edit_columns(root, episode, edit)


def edit_episode_meta(root: Path, edit: Callable[[int, dict[str, Any]], None]) -> None:
    """`edit(episode, meta)` changes our per-episode meta (cluster, split, recovery,
    calibration_sha256 ...) in place, for every episode."""
    for path in sorted((Path(root) / "meta" / "episodes").glob("*/*.parquet")):
        table = pq.read_table(path)
        metas = []
        for e, text in zip(
            table["episode_index"].to_pylist(), table["edgevla_meta"].to_pylist(), strict=True
        ):
            meta = json.loads(text or "{}")
            edit(int(e), meta)
            metas.append(json.dumps(meta, sort_keys=True))
        i = table.column_names.index("edgevla_meta")
        table = table.set_column(i, "edgevla_meta", pa.array(metas, pa.string()))
        pq.write_table(table, path)


def as_lerobot_layout(src: Path, out: Path) -> Path:
    """Rewrite dataset `src` into `out` as LeRobot's own recorder lays it out: one data file
    and one video file per camera holding every episode (each at its from/to timestamps),
    and none of our metadata (no meta/edgevla.json, no `edgevla_meta` column)."""
    reader = DatasetReader.open(src)
    out = Path(out)
    (out / "meta").mkdir(parents=True)
    for name in ("meta/tasks.parquet", "meta/stats.json"):
        (out / name).write_bytes((Path(src) / name).read_bytes())
    info = dict(reader.info, splits={"train": f"0:{reader.num_episodes}"})
    (out / "meta/info.json").write_text(json.dumps(info, indent=4))
    data_files = sorted({_data_path(reader, e) for e in range(reader.num_episodes)})
    data = pa.concat_tables([pq.read_table(p) for p in data_files])
    target = out / info["data_path"].format(chunk_index=0, file_index=0)
    target.parent.mkdir(parents=True)
    pq.write_table(data, target)
    rows = [
        r
        for p in sorted((Path(src) / "meta/episodes").glob("*/*.parquet"))
        for r in pq.read_table(p).to_pylist()
    ]
    rows.sort(key=lambda r: r["episode_index"])
    for key in reader.video_keys:
        _merge_videos(reader, key, out, rows)
    for r in rows:
        r.pop("edgevla_meta", None)
        r["data/chunk_index"], r["data/file_index"] = 0, 0
    episodes = out / "meta/episodes/chunk-000/file-000.parquet"
    episodes.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), episodes)
    return out


def _data_path(reader: DatasetReader, episode: int) -> Path:
    row = reader.episode_meta(episode)
    return reader.root / reader.info["data_path"].format(
        chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
    )


def _merge_videos(reader: DatasetReader, key: str, out: Path, rows: list[dict]) -> None:
    path = out / reader.info["video_path"].format(video_key=key, chunk_index=0, file_index=0)
    path.parent.mkdir(parents=True)
    h, w = reader.features[key]["shape"][:2]
    encoder = VideoEncoder(path, h, w, reader.fps, VideoSettings(codec="libx264"))
    start = 0.0
    for e, row in enumerate(rows):
        frames = reader.episode(e, images=[key])[key]
        for frame in frames:
            encoder.put(frame)
        row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"] = 0, 0
        row[f"videos/{key}/from_timestamp"] = start
        start += len(frames) / reader.fps
        row[f"videos/{key}/to_timestamp"] = start
    encoder.finish()
