"""The files on disk are LeRobot v3.0's, field for field (checked without LeRobot; the
tools/check_with_lerobot.py script checks with it)."""

from __future__ import annotations

import json

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from edgevla.dataset.synthetic import write_synthetic_dataset
from edgevla.features import MOTOR_NAMES

CAMERAS = {"top": (48, 64), "left": (32, 32)}
LENGTHS = (12, 9)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout") / "ds"
    write_synthetic_dataset(root, lengths=LENGTHS, cameras=CAMERAS, codec="libsvtav1")
    return root


def test_file_tree(root):
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        "data/chunk-000/file-000.parquet",
        "data/chunk-000/file-001.parquet",
        "meta/edgevla.json",
        "meta/episodes/chunk-000/file-000.parquet",
        "meta/info.json",
        "meta/stats.json",
        "meta/tasks.parquet",
        "videos/observation.images.left/chunk-000/file-000.mp4",
        "videos/observation.images.left/chunk-000/file-001.mp4",
        "videos/observation.images.top/chunk-000/file-000.mp4",
        "videos/observation.images.top/chunk-000/file-001.mp4",
    ]


def test_info_json(root):
    info = json.loads((root / "meta/info.json").read_text())
    assert list(info)[:12] == [
        "codebase_version",
        "robot_type",
        "total_episodes",
        "total_frames",
        "total_tasks",
        "chunks_size",
        "data_files_size_in_mb",
        "video_files_size_in_mb",
        "fps",
        "splits",
        "data_path",
        "video_path",
    ]
    assert info["codebase_version"] == "v3.0"
    assert info["robot_type"] == "so101_follower"
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (2, 21, 1)
    assert info["fps"] == 30 and info["splits"] == {"train": "0:2"}
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert (
        info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    )
    features = info["features"]
    assert list(features) == [
        "action",
        "observation.state",
        "observation.images.top",
        "observation.images.left",
        "timestamp",
        "frame_index",
        "episode_index",
        "index",
        "task_index",
    ]
    assert features["action"] == {"dtype": "float32", "shape": [6], "names": list(MOTOR_NAMES)}
    top = features["observation.images.top"]
    assert top["dtype"] == "video" and top["shape"] == [48, 64, 3]
    assert top["names"] == ["height", "width", "channels"]
    assert top["info"] == {
        "video.height": 48,
        "video.width": 64,
        "video.codec": "av1",
        "video.pix_fmt": "yuv420p",
        "video.is_depth_map": False,
        "video.fps": 30,
        "video.channels": 3,
        "has_audio": False,
    }
    assert features["timestamp"] == {"dtype": "float32", "shape": [1], "names": None}


def test_data_parquet_types(root):
    table = pq.read_table(root / "data/chunk-000/file-001.parquet")
    assert table.schema.field("action").type == pa.list_(pa.float32(), 6)
    assert table.schema.field("observation.state").type == pa.list_(pa.float32(), 6)
    assert table.schema.field("timestamp").type == pa.float32()
    for col in ("frame_index", "episode_index", "index", "task_index"):
        assert table.schema.field(col).type == pa.int64()
    hf = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    assert hf["action"]["length"] == 6 and hf["timestamp"] == {"dtype": "float32", "_type": "Value"}
    assert table.column("index").to_pylist() == list(range(12, 21))
    assert set(table.column("episode_index").to_pylist()) == {1}


def test_tasks_parquet_has_the_pandas_index(root):
    table = pq.read_table(root / "meta/tasks.parquet")
    pandas_meta = json.loads(table.schema.metadata[b"pandas"])
    index_col = pandas_meta["index_columns"][0]
    assert table.column(index_col).to_pylist() == ["Put the tea bag in the mug"]
    assert table.column("task_index").to_pylist() == [0]


def test_episodes_parquet_columns(root):
    table = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet")
    rows = table.to_pylist()
    assert [r["episode_index"] for r in rows] == [0, 1]
    first = rows[1]
    assert first["tasks"] == ["Put the tea bag in the mug"] and first["length"] == 9
    assert (first["dataset_from_index"], first["dataset_to_index"]) == (12, 21)
    assert (first["data/chunk_index"], first["data/file_index"]) == (0, 1)
    assert (first["meta/episodes/chunk_index"], first["meta/episodes/file_index"]) == (0, 0)
    key = "videos/observation.images.top"
    assert (first[f"{key}/chunk_index"], first[f"{key}/file_index"]) == (0, 1)
    assert first[f"{key}/from_timestamp"] == 0.0
    assert first[f"{key}/to_timestamp"] == pytest.approx(9 / 30)
    assert json.loads(first["edgevla_meta"]) == {"cluster": 1, "recovery": True}
    assert table.schema.field("tasks").type == pa.list_(pa.string())
    assert np.asarray(first["stats/observation.images.top/mean"]).shape == (3, 1, 1)
    assert first["stats/observation.state/count"] == [9]
    assert np.asarray(first["stats/action/q99"]).shape == (6,)
    assert np.asarray(first["stats/timestamp/max"]).tolist() == [pytest.approx(8 / 30)]


def test_stats_json(root):
    stats = json.loads((root / "meta/stats.json").read_text())
    assert set(stats) == {
        "action",
        "observation.state",
        "observation.images.top",
        "observation.images.left",
        "timestamp",
        "frame_index",
        "episode_index",
        "index",
        "task_index",
    }
    assert stats["index"]["min"] == [0] and stats["index"]["max"] == [20]
    assert stats["action"]["count"] == [21]
    assert np.asarray(stats["observation.images.left"]["std"]).shape == (3, 1, 1)


def test_video_keyframes_and_timestamps(root):
    path = root / "videos/observation.images.top/chunk-000/file-000.mp4"
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keyframes = [p.is_keyframe for p in container.demux(stream) if p.size]
    assert len(keyframes) == 12
    assert all(keyframes[::2]), "a keyframe every 2 frames, so any timestamp seeks cheaply"
    with av.open(str(path)) as container:
        times = [f.time for f in container.decode(video=0)]
    np.testing.assert_allclose(times, np.arange(12) / 30, atol=1e-9)
