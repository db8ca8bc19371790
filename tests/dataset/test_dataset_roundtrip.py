"""What goes into DatasetWriter comes back out of DatasetReader: exactly for numbers, within
codec tolerance for camera frames."""

from __future__ import annotations

import numpy as np
import pytest

from edgevla.dataset.reader import DatasetReader
from edgevla.dataset.synthetic import write_synthetic_dataset
from edgevla.dataset.writer import DatasetWriter
from edgevla.features import MOTOR_NAMES

CAMERAS = {"top": (48, 64), "gripper": (48, 64)}
# Mean absolute pixel error allowed per frame after the video round trip of the synthetic
# images. yuv420p chroma subsampling alone costs ~2 levels on their sharp square at 64x48;
# the codec (crf 30 / 23) adds ~1.
MAX_MAE = 5.0


@pytest.fixture(scope="module", params=["libsvtav1", "libx264"])
def recorded(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param) / "ds"
    truth = write_synthetic_dataset(
        root, lengths=(20, 23, 18), cameras=CAMERAS, codec=request.param
    )
    return root, truth


def test_numbers_come_back_exactly(recorded):
    root, truth = recorded
    ds = DatasetReader.open(root)
    assert ds.num_episodes == 3
    assert ds.num_frames == sum(len(ep.states) for ep in truth) == len(ds)
    start = 0
    for i, ep in enumerate(truth):
        got = ds.episode(i, images=False)
        n = len(ep.states)
        assert got["observation.state"].dtype == np.float32
        np.testing.assert_array_equal(got["observation.state"], ep.states)
        np.testing.assert_array_equal(got["action"], ep.actions)
        np.testing.assert_array_equal(got["timestamp"], (np.arange(n) / 30).astype(np.float32))
        np.testing.assert_array_equal(got["frame_index"], np.arange(n))
        np.testing.assert_array_equal(got["index"], start + np.arange(n))
        np.testing.assert_array_equal(got["episode_index"], np.full(n, i))
        assert got["task"] == ep.task
        assert "observation.images.top" not in got
        start += n


def test_frames_come_back_within_codec_tolerance(recorded):
    root, truth = recorded
    ds = DatasetReader.open(root)
    for i, ep in enumerate(truth):
        got = ds.episode(i)
        for cam, frames in ep.images.items():
            decoded = got[f"observation.images.{cam}"]
            assert decoded.shape == frames.shape and decoded.dtype == np.uint8
            mae = np.abs(decoded.astype(int) - frames.astype(int)).mean(axis=(1, 2, 3))
            assert mae.max() < MAX_MAE, f"episode {i} {cam}: per-frame MAE up to {mae.max()}"
            assert mae.mean() < 4.0
            # matched by timestamp: each decoded frame is closest to its own original
            other = np.abs(decoded[1:].astype(int) - frames[:-1].astype(int)).mean()
            assert other > mae.mean()


def test_frame_access_by_global_index(recorded):
    root, truth = recorded
    ds = DatasetReader.open(root)
    first_of_second = len(truth[0].states)
    item = ds.frame(first_of_second + 3)
    assert item["episode_index"] == 1 and item["frame_index"] == 3
    np.testing.assert_array_equal(item["action"], truth[1].actions[3])
    err = np.abs(item["observation.images.top"].astype(int) - truth[1].images["top"][3]).mean()
    assert err < MAX_MAE
    with pytest.raises(IndexError, match="out of range"):
        ds.frame(ds.num_frames)


def test_episode_meta_and_splits(recorded):
    root, truth = recorded
    ds = DatasetReader.open(root)
    meta = ds.episode_meta(1)
    assert meta["cluster"] == 1 and meta["recovery"] is True
    assert meta["length"] == len(truth[1].states)
    assert meta["dataset_from_index"] == len(truth[0].states)
    assert not any(k.startswith("stats/") for k in meta)
    assert ds.edgevla_meta is None
    assert ds.episodes_in_split("train") == [0, 1, 2]  # from info.json
    with pytest.raises(KeyError, match="no split 'validation'"):
        ds.episodes_in_split("validation")


def test_stats_match_the_data(recorded):
    root, truth = recorded
    ds = DatasetReader.open(root)
    actions = np.concatenate([ep.actions for ep in truth])
    s = ds.stats["action"]
    np.testing.assert_allclose(s["mean"], actions.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s["std"], actions.std(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(s["min"], actions.min(axis=0))
    np.testing.assert_allclose(s["max"], actions.max(axis=0))
    assert s["count"].tolist() == [len(actions)]
    assert set(s) == {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}
    image = ds.stats["observation.images.top"]
    assert image["mean"].shape == (3, 1, 1) and image["q50"].shape == (3, 1, 1)
    pixels = np.concatenate([ep.images["top"] for ep in truth]).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(image["mean"].ravel(), pixels.mean(axis=0), atol=1e-6)
    assert image["min"].min() >= 0.0 and image["max"].max() <= 1.0
    per_episode = ds.episode_stats(0)["observation.state"]
    np.testing.assert_allclose(per_episode["mean"], truth[0].states.mean(axis=0), rtol=1e-5)


def test_edgevla_meta_and_per_episode_split(tmp_path):
    cams = {"top": (16, 16)}
    w = DatasetWriter.create(
        tmp_path / "ds",
        fps=10,
        robot_type="so101_follower",
        cameras=cams,
        state_names=MOTOR_NAMES,
        action_names=MOTOR_NAMES,
        codec="libx264",
    )
    frame = {"top": np.zeros((16, 16, 3), np.uint8)}
    for split in ("train", "train", "validation"):
        for _ in range(3):
            w.add_frame(state=np.zeros(6), action=np.ones(6, np.float32), images=frame)
        w.save_episode("task", meta={"cluster": 1, "split": split})
    w.set_edgevla_meta({"plan": {"holdout_cluster": 9}, "note": "x"})
    w.close()
    ds = DatasetReader.open(tmp_path / "ds")
    assert ds.info["splits"] == {"train": "0:2", "validation": "2:3"}
    assert ds.episodes_in_split("validation") == [2]
    assert ds.episodes_in_split("train") == [0, 1]
    assert ds.edgevla_meta == {"plan": {"holdout_cluster": 9}, "note": "x"}


def test_held_out_cluster_split_without_split_tags(tmp_path):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, lengths=(3, 3, 3), cameras={"top": (16, 16)})
    with DatasetWriter.resume(root) as w:
        w.set_edgevla_meta({"holdout_cluster": 1})
    ds = DatasetReader.open(root)
    assert ds.episodes_in_split("validation") == [1]
    assert ds.episodes_in_split("train") == [0, 2]
