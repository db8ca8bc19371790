"""`edgevla record` end to end: the sim expert into a LeRobot v3.0 dataset and back."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgevla.cli import main
from edgevla.dataset.reader import DatasetReader
from edgevla.dataset.recording import RecordConfig, RecordingSession

SMALL = dict(
    clusters=(1, 2),
    holdout=2,
    episodes_per_cluster=1,
    recovery_per_cluster=0,
    width=64,
    height=48,
)


def test_recorded_dataset_reads_back_exactly_and_frames_within_codec_tolerance(tmp_path):
    root = tmp_path / "ds"
    session = RecordingSession(root, RecordConfig(**SMALL), progress=False)
    session.open()
    kept: list[dict] = []
    real_add = session.writer.add_frame

    def spy_add(**frame):
        kept.append({k: (dict(v) if isinstance(v, dict) else np.copy(v)) for k, v in frame.items()})
        real_add(**frame)

    session.writer.add_frame = spy_add
    summary = session.run()
    assert summary.recorded == 2 and not summary.failed and summary.retried == 0

    ds = DatasetReader.open(root)
    assert ds.num_episodes == 2 and ds.fps == 30
    ep0, ep1 = ds.episode(0), ds.episode(1)
    frames = [*kept[: len(ep0["action"])]]
    assert len(kept) == len(ep0["action"]) + len(ep1["action"])
    np.testing.assert_array_equal(ep0["action"], np.stack([f["action"] for f in frames]))
    np.testing.assert_array_equal(ep0["observation.state"], np.stack([f["state"] for f in frames]))
    np.testing.assert_allclose(ep0["timestamp"], np.arange(len(frames)) / 30.0, atol=1e-6)
    for cam in ("top", "gripper", "left"):
        original = np.stack([f["images"][f"observation.images.{cam}"] for f in frames]).astype(
            float
        )
        decoded = ep0[f"observation.images.{cam}"].astype(float)
        assert decoded.shape == original.shape
        assert np.abs(decoded - original).mean() < 6.0, f"{cam}: frames differ beyond codec loss"
    meta = ds.episode_meta(0)
    assert (
        meta["cluster"] == 1 and meta["recovery"] is False and len(meta["calibration_sha256"]) == 64
    )


def test_held_out_cluster_never_appears_in_training(tmp_path):
    root = tmp_path / "ds"
    assert main(["record", "--out", str(root), "--clusters", "1,2", "--holdout", "2",
                 "--episodes-per-cluster", "1", "--recovery-per-cluster", "1",
                 "--resolution", "32x32", "--no-progress"]) == 0  # fmt: skip
    ds = DatasetReader.open(root)
    train = ds.episodes_in_split("train")
    val = ds.episodes_in_split("validation")
    assert train and val and not set(train) & set(val)
    assert all(ds.episode_meta(i)["cluster"] != 2 for i in train)
    assert all(ds.episode_meta(i)["cluster"] == 2 for i in val)
    assert sum(ds.episode_meta(i)["recovery"] for i in train) == 1
    assert ds.edgevla_meta["split"] == {"train_clusters": [1], "holdout_cluster": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clusters", "1,2,42"], "unknown clusters [42]"),
        (["--clusters", "1,2", "--holdout", "6"], "held-out cluster 6 is not in"),
        (["--resolution", "640by480"], "WIDTHxHEIGHT"),
        (["--resolution", "640x"], "WIDTHxHEIGHT"),
        (["--clusters", "a,b"], "--clusters must look like"),
        (["--palette", "neon"], "--palette"),
    ],
)
def test_bad_arguments_fail_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["record", "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_non_empty_out_without_resume_is_refused(tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["record", "--out", str(out), "--resolution", "32x32"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_recording_killed_mid_episode_keeps_finished_episodes_and_resume_completes(tmp_path):
    root = tmp_path / "ds"
    args = ["record", "--out", str(root), "--clusters", "1,2,3", "--holdout", "3",
            "--episodes-per-cluster", "1", "--recovery-per-cluster", "0",
            "--resolution", "32x32", "--no-progress"]  # fmt: skip
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    proc = subprocess.Popen([sys.executable, "-m", "edgevla.cli", *args], env=env)
    info = root / "meta" / "info.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if info.is_file() and json.loads(info.read_text())["total_episodes"] >= 1:
            break
        time.sleep(0.05)
    time.sleep(1.0)  # well into the second episode
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ds = DatasetReader.open(root)
    kept = ds.num_episodes
    assert 1 <= kept < 3
    first = ds.episode(0)["action"].copy()

    assert main([*args, "--resume"]) == 0
    ds = DatasetReader.open(root)
    assert ds.num_episodes == 3
    np.testing.assert_array_equal(ds.episode(0)["action"], first)
    assert [ds.episode_meta(i)["plan_index"] for i in range(3)] == [0, 1, 2]
    assert Path(root / "meta" / "edgevla.json").is_file()
