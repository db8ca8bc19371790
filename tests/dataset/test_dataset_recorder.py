"""The dataset recorder as a control-loop subscriber, on the toy world (no sim, no cameras)."""

import numpy as np

from edgevla.dataset.reader import DatasetReader
from edgevla.dataset.recorder import DatasetRecorder
from edgevla.dataset.writer import DatasetWriter
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.toy import LinePolicy, PointEnv

NAMES = ("x0", "x1")


def _writer(root) -> DatasetWriter:
    return DatasetWriter.create(
        root, fps=30, robot_type=None, cameras={}, state_names=NAMES, action_names=NAMES
    )


def _loop(recorder: DatasetRecorder) -> ControlLoop:
    env = PointEnv(dim=2, max_speed=1.0, tolerance=0.02)
    policy = LinePolicy(chunk_size=10, dim=2, speed=0.8)
    return ControlLoop(
        env,
        policy,
        RuntimeConfig(trigger="sync", latency="0", aggregator="latest_only"),
        subscribers=[recorder],
    )


def test_rollouts_keep_every_episode_with_its_success_and_the_frames_the_loop_ran(tmp_path):
    writer = _writer(tmp_path / "ds")
    recorder = DatasetRecorder(writer, "reach", keep_failed=True)
    loop = _loop(recorder)
    results = []
    for goal, ticks in ((0.5, 60), (5.0, 20)):  # reached; too far for 20 ticks
        recorder.next_episode({"goal": goal})
        results.append(loop.run_episode(max_ticks=ticks, goal=goal))
        assert recorder.last is not None and recorder.last.index == len(results) - 1
    writer.close()
    assert [r.success for r in results] == [True, False]
    ds = DatasetReader.open(tmp_path / "ds")
    assert ds.num_episodes == 2
    assert [ds.episode_meta(i)["success"] for i in range(2)] == [True, False]
    assert ds.episode_meta(1)["goal"] == 5.0
    for i, result in enumerate(results):
        episode = ds.episode(i)
        np.testing.assert_array_equal(episode["action"], result.commanded)
        assert len(episode["observation.state"]) == result.ticks
    np.testing.assert_array_equal(ds.episode(0)["observation.state"][0], [0.0, 0.0])


def test_demonstrations_drop_failures_and_store_no_success_column(tmp_path):
    writer = _writer(tmp_path / "ds")
    recorder = DatasetRecorder(writer, "reach", keep_failed=False)
    loop = _loop(recorder)
    recorder.next_episode({"try": 1})
    loop.run_episode(max_ticks=20, goal=5.0)
    assert recorder.last is not None and recorder.last.index is None and not recorder.last.success
    assert writer.num_episodes == 0 and writer.episode_frames == 0
    recorder.next_episode({"try": 2})
    loop.run_episode(max_ticks=60, goal=0.5)
    assert recorder.last.index == 0 and recorder.reached
    writer.close()
    assert DatasetReader.open(tmp_path / "ds").episode_meta(0)["try"] == 2
    assert "success" not in DatasetReader.open(tmp_path / "ds").episode_meta(0)


def test_a_judge_overrides_the_loops_success_and_stop_when_ends_before_the_step(tmp_path):
    writer = _writer(tmp_path / "ds")
    recorder = DatasetRecorder(
        writer, "reach", keep_failed=False, judge=lambda result, reached: True
    )
    loop = _loop(recorder)
    ticks = iter(range(1000))
    recorder.next_episode({})
    result = loop.run_episode(max_ticks=100, goal=5.0, stop_when=lambda: next(ticks) >= 7)
    assert result.ticks == 7 and not result.success
    assert recorder.last.index == 0 and recorder.last.frames == 7
    empty = loop.run_episode(max_ticks=100, goal=5.0, stop_when=lambda: True)
    assert empty.ticks == 0 and empty.commanded.shape == (0, 2)
    assert recorder.last.index is None and writer.num_episodes == 1  # nothing to save
    writer.close()
