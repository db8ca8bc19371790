"""Bad input and damaged datasets give errors that say what was expected and name the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgevla.dataset.layout import DatasetFormatError
from edgevla.dataset.reader import DatasetReader
from edgevla.dataset.synthetic import write_synthetic_dataset
from edgevla.dataset.writer import DatasetWriter
from edgevla.features import MOTOR_NAMES

CAMERAS = {"top": (16, 24), "left": (16, 24)}


def _create(root, **overrides):
    kwargs = dict(
        fps=30,
        robot_type="so101_follower",
        cameras=CAMERAS,
        state_names=MOTOR_NAMES,
        action_names=MOTOR_NAMES,
        codec="libx264",
    )
    kwargs.update(overrides)
    return DatasetWriter.create(root, **kwargs)


def _images(**changes):
    images = {c: np.zeros((h, w, 3), np.uint8) for c, (h, w) in CAMERAS.items()}
    images.update(changes)
    return {k: v for k, v in images.items() if v is not None}


@pytest.fixture
def writer(tmp_path):
    w = _create(tmp_path / "ds")
    yield w
    w.close()


def test_create_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty directory"):
        _create(tmp_path / "ds")
    assert (tmp_path / "ds" / "notes.txt").read_text() == "mine"
    _create(tmp_path / "empty").close()  # an empty or absent directory is fine


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (_images(top=np.zeros((16, 25, 3), np.uint8)), r"'top': expected shape \(16, 24, 3\)"),
        (_images(top=np.zeros((16, 24, 3), np.float32)), "'top': expected a uint8 array"),
        (
            _images(top=np.zeros((16, 24), np.uint8)),
            r"expected shape \(16, 24, 3\), got \(16, 24\)",
        ),
        (_images(left=None), r"missing \['left'\]"),
        (_images(wrist=np.zeros((16, 24, 3), np.uint8)), r"unexpected \['wrist'\]"),
    ],
)
def test_bad_images_are_refused(writer, images, message):
    with pytest.raises(ValueError, match=message):
        writer.add_frame(state=np.zeros(6), action=np.zeros(6), images=images)
    assert writer.episode_frames == 0  # nothing half-added


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (np.zeros(5), r"state: expected shape \(6,\), got \(5,\)"),
        (np.zeros(6, np.int64), "state: expected a float array"),
        (np.array([0, 0, 0, 0, 0, np.nan]), "state: values must be finite"),
    ],
)
def test_bad_state_is_refused(writer, state, message):
    with pytest.raises(ValueError, match=message):
        writer.add_frame(state=state, action=np.zeros(6), images=_images())


def test_feature_keys_are_accepted_for_cameras(writer):
    images = {f"observation.images.{k}": v for k, v in _images().items()}
    writer.add_frame(state=np.zeros(6), action=np.zeros(6), images=images)
    assert writer.episode_frames == 1


def test_bad_episodes_are_refused(writer):
    with pytest.raises(ValueError, match="empty episode"):
        writer.save_episode("task")
    writer.add_frame(state=np.zeros(6), action=np.zeros(6), images=_images())
    with pytest.raises(ValueError, match="task must be a non-empty string"):
        writer.save_episode("")
    with pytest.raises(ValueError, match="clash with LeRobot's episode columns"):
        writer.save_episode("task", meta={"length": 3})
    with pytest.raises(ValueError, match="JSON-serializable"):
        writer.save_episode("task", meta={"when": object()})
    assert writer.save_episode("task", meta={"ok": 1}) == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"codec": "libnope"}, "video codec must be one of"),
        ({"cameras": {"top": (15, 24)}}, "positive even integers"),
        ({"cameras": {"a/b": (16, 16)}}, "camera names must match"),
        ({"fps": 29.97}, "fps must be a positive integer"),
        ({"state_names": []}, "state_names must be a non-empty sequence"),
        ({"extra_info": {"fps": 10}}, "may not override"),
    ],
)
def test_bad_create_arguments(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _create(tmp_path / "ds", **overrides)


def test_closed_writer_refuses_work(tmp_path):
    w = _create(tmp_path / "ds")
    w.close()
    with pytest.raises(RuntimeError, match="is closed"):
        w.add_frame(state=np.zeros(6), action=np.zeros(6), images=_images())


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, lengths=(4, 5), cameras={"top": (16, 16)})
    return root


def test_corrupt_info_json_names_the_file(dataset):
    (dataset / "meta/info.json").write_text('{"codebase_version": "v3.0", ')
    with pytest.raises(DatasetFormatError, match=r"meta/info\.json: not valid JSON"):
        DatasetReader.open(dataset)


def test_wrong_codebase_version_is_refused(dataset):
    info = json.loads((dataset / "meta/info.json").read_text())
    info["codebase_version"] = "v2.1"
    (dataset / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetFormatError, match="codebase_version must be 'v3.0', got 'v2.1'"):
        DatasetReader.open(dataset)


def test_missing_and_corrupt_parquet_files_are_named(dataset):
    tasks = dataset / "meta/tasks.parquet"
    saved = tasks.read_bytes()
    tasks.unlink()
    with pytest.raises(DatasetFormatError, match=r"missing dataset file: .*meta/tasks\.parquet"):
        DatasetReader.open(dataset)
    tasks.write_bytes(saved)
    episodes = dataset / "meta/episodes/chunk-000/file-000.parquet"
    episodes.write_bytes(b"not parquet at all")
    with pytest.raises(DatasetFormatError, match=r"cannot read parquet file .*file-000\.parquet"):
        DatasetReader.open(dataset)


def test_missing_video_is_named_when_read(dataset):
    ds = DatasetReader.open(dataset)
    (dataset / "videos/observation.images.top/chunk-000/file-001.mp4").unlink()
    assert len(ds.episode(1, images=False)["action"]) == 5  # numbers still readable
    with pytest.raises(DatasetFormatError, match=r"missing dataset file: .*file-001\.mp4"):
        ds.episode(1)


def test_not_a_dataset_and_misuse(tmp_path, dataset):
    with pytest.raises(DatasetFormatError, match="not a dataset directory"):
        DatasetReader.open(tmp_path / "nowhere")
    with pytest.raises(TypeError, match=r"DatasetReader\.open"):
        DatasetReader(dataset)
    ds = DatasetReader.open(dataset)
    with pytest.raises(IndexError, match=r"episode 2 out of range \[0, 2\)"):
        ds.episode(2)
    with pytest.raises(KeyError, match="unknown cameras"):
        ds.episode(0, images=["wrist"])


def test_resume_refuses_a_dataset_it_did_not_write(dataset):
    (dataset / "meta/edgevla.json").unlink()
    with pytest.raises(DatasetFormatError, match="was not recorded by edgevla's DatasetWriter"):
        DatasetWriter.resume(dataset)
