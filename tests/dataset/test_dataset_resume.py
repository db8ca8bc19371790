"""A crash loses only the episode in progress; `resume` cleans up and continues numbering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from edgevla.dataset import writer as writer_module
from edgevla.dataset.locking import LockedError
from edgevla.dataset.reader import DatasetReader
from edgevla.dataset.synthetic import synthetic_episode, write_synthetic_dataset
from edgevla.dataset.writer import DatasetWriter

CAMERAS = {"top": (48, 64), "gripper": (48, 64)}

# Records two episodes, starts a third, then waits to be killed.
CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from edgevla.dataset.synthetic import synthetic_episode
    from edgevla.dataset.writer import DatasetWriter
    from edgevla.features import MOTOR_NAMES

    cams = {"top": (48, 64), "gripper": (48, 64)}
    w = DatasetWriter.create(sys.argv[1], fps=30, robot_type="so101_follower", cameras=cams,
                             state_names=MOTOR_NAMES, action_names=MOTOR_NAMES, codec="libx264")
    w.set_edgevla_meta({"plan": "kept across resume"})
    for e, n in enumerate((15, 12, 40)):
        ep = synthetic_episode(n, cams, seed=e)
        for i in range(n):
            w.add_frame(state=ep.states[i], action=ep.actions[i],
                        images={c: f[i] for c, f in ep.images.items()})
            if e == 2 and i == 10:
                print("KILL ME", flush=True)
                time.sleep(60)
        w.save_episode("Put the tea bag in the mug", meta={"cluster": e})
    """
)


def _add_episode(w: DatasetWriter, seed: int, n: int = 10) -> None:
    ep = synthetic_episode(n, CAMERAS, seed=seed)
    for i in range(n):
        w.add_frame(
            state=ep.states[i],
            action=ep.actions[i],
            images={c: f[i] for c, f in ep.images.items()},
        )


def test_sigkill_mid_episode_keeps_finished_episodes_and_resume_continues(tmp_path):
    root = tmp_path / "ds"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "KILL ME", f"child did not get to episode 3: {line!r}"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL

    ds = DatasetReader.open(root)  # readable as is, before any repair
    assert ds.num_episodes == 2 and ds.num_frames == 27
    for i in range(2):
        ep = ds.episode(i)
        truth = synthetic_episode(len(ep["action"]), CAMERAS, seed=i)
        np.testing.assert_array_equal(ep["action"], truth.actions)
        err = np.abs(ep["observation.images.gripper"].astype(int) - truth.images["gripper"])
        assert err.mean() < 5
    assert (root / ".edgevla-partial").exists()  # the killed episode's files

    with DatasetWriter.resume(root) as w:
        assert any("unfinished episode" in line for line in w.repair_report)
        assert w.num_episodes == 2 and w.edgevla_meta == {"plan": "kept across resume"}
        assert [m["cluster"] for m in w.episode_metas()] == [0, 1]
        _add_episode(w, seed=7)
        assert w.save_episode("Put the tea bag in the mug", meta={"cluster": 2}) == 2
    assert not (root / ".edgevla-partial").exists()
    ds = DatasetReader.open(root)
    assert ds.num_episodes == 3 and ds.num_frames == 37
    assert ds.episode_meta(2)["dataset_from_index"] == 27
    np.testing.assert_array_equal(ds.episode(2, images=False)["index"], np.arange(27, 37))
    assert ds.stats["action"]["count"].tolist() == [37]
    assert ds.edgevla_meta == {"plan": "kept across resume"}


def test_crash_between_metadata_files_is_repaired(tmp_path, monkeypatch):
    """Die after the episodes table, tasks and files are written but before info.json."""
    root = tmp_path / "ds"
    write_synthetic_dataset(root, lengths=(8, 9), cameras=CAMERAS)
    real_write = writer_module.layout.atomic_write_json

    def dies_on_info(path, data, indent=4):
        if path.name == "info.json":
            raise KeyboardInterrupt("simulated crash before the commit")
        return real_write(path, data, indent)

    w = DatasetWriter.resume(root)
    _add_episode(w, seed=3)
    monkeypatch.setattr(writer_module.layout, "atomic_write_json", dies_on_info)
    with pytest.raises(KeyboardInterrupt):
        w.save_episode("a brand new task")
    monkeypatch.undo()
    w.close()
    # leftovers of the uncommitted episode are on disk, yet readers see the committed state
    assert (root / "data/chunk-000/file-002.parquet").exists()
    ds = DatasetReader.open(root)
    assert ds.num_episodes == 2 and ds.tasks == ["Put the tea bag in the mug"]

    w = DatasetWriter.resume(root)
    report = "\n".join(w.repair_report)
    assert "dropped 1 uncommitted row" in report
    assert "dropped 1 uncommitted task" in report
    assert "data/chunk-000/file-002.parquet" in report
    assert "videos/observation.images.top/chunk-000/file-002.mp4" in report
    _add_episode(w, seed=4, n=5)
    assert w.save_episode("another task") == 2
    w.close()
    ds = DatasetReader.open(root)
    assert ds.tasks == ["Put the tea bag in the mug", "another task"]
    assert ds.episode(2)["task"] == "another task"
    assert ds.num_frames == 22 and len(ds.episode(2)["observation.images.top"]) == 5


def test_discard_and_close_drop_only_the_unfinished_episode(tmp_path):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, lengths=(6,), cameras=CAMERAS)
    w = DatasetWriter.resume(root)
    _add_episode(w, seed=1, n=4)
    assert w.discard_episode() == 4
    _add_episode(w, seed=2, n=3)
    assert w.save_episode("t") == 1
    _add_episode(w, seed=3, n=5)
    assert w.close() == 5
    ds = DatasetReader.open(root)
    assert ds.num_episodes == 2 and ds.num_frames == 9
    assert sorted(p.name for p in (root / "data/chunk-000").iterdir()) == [
        "file-000.parquet",
        "file-001.parquet",
    ]


def test_a_second_writer_is_refused_while_the_first_is_open(tmp_path):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, lengths=(3,), cameras=CAMERAS)
    with DatasetWriter.resume(root), pytest.raises(LockedError, match="in use"):
        DatasetWriter.resume(root)
    DatasetWriter.resume(root).close()  # free again once the first is closed
