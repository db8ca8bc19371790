"""The phase split: known flag sequences give known phases, and a real sim episode of the
scripted expert splits into four non-empty phases with one grasp and no drop."""

from __future__ import annotations

import numpy as np
import pytest

from edgevla.evaluate.phases import PHASES, PhaseRecorder, split_phases, summarize_phases
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.loop import ControlLoop
from edgevla.sim.config import WorkcellConfig
from edgevla.sim.scripted_policy import ScriptedChunkPolicy
from edgevla.sim.workcell import TeaBagWorkcell


def _flags(text: str) -> list[bool]:
    return [c == "1" for c in text]


def test_a_clean_grasp_splits_into_four_phases():
    #        reach  grasp transport release
    closed = _flags("000" + "11" + "1111" + "000")
    held = _flags("000" + "00" + "1111" + "000")
    idle = _flags("100" + "01" + "0000" + "000")
    split = split_phases(held, closed, idle, fps=10.0, success=True)
    assert split.seconds == pytest.approx((0.3, 0.2, 0.4, 0.3))
    assert split.waiting_s == pytest.approx((0.1, 0.1, 0.0, 0.0))
    assert (split.grasp_attempts, split.drops) == (1, 0)


def test_a_missed_grasp_and_a_drop_are_counted_and_settle_ticks_are_not():
    closed = _flags("0011000111111100" + "0000")
    held = _flags("0000000011011100" + "0000")
    split = split_phases(held, closed, [False] * 20, fps=10.0, success=True, end_tick=16)
    assert split.grasp_attempts == 2 and split.drops == 1
    assert split.seconds == pytest.approx((0.2, 0.6, 0.6, 0.2))
    assert sum(split.seconds) == pytest.approx(1.6)


def test_a_failed_episode_without_a_grasp_is_all_reach():
    rests_closed = _flags("11000")  # the gripper resting closed at the start is no grasp
    split = split_phases([False] * 5, rests_closed, [False] * 5, fps=5.0, success=False)
    assert split.seconds == pytest.approx((1.0, 0.0, 0.0, 0.0)) and split.grasp_attempts == 0
    summary = summarize_phases([split])
    assert np.isnan(summary["reach_s"]) and summary["grasp_attempts"] == 0.0


def test_the_scripted_expert_reaches_grasps_carries_and_releases_once():
    env = TeaBagWorkcell(WorkcellConfig(render=False))
    recorder = PhaseRecorder()
    loop = ControlLoop(
        env,
        ScriptedChunkPolicy(chunk_size=100),
        RuntimeConfig(trigger="sync", latency="0"),
        subscribers=[recorder],
    )
    result = loop.run_episode(max_ticks=900, settle_ticks=5)
    assert result.success
    (split,) = recorder.episodes
    assert all(s > 0 for s in split.seconds), dict(zip(PHASES, split.seconds, strict=True))
    assert sum(split.seconds) == pytest.approx(result.completion_time_s, abs=0.05)
    assert (split.grasp_attempts, split.drops) == (1, 0)
