"""State alignment of arriving chunks, and the loop's order: merge first, then decide."""

import numpy as np
import pytest

from edgevla.contracts import ActionChunk
from edgevla.runtime.alignment import align_by_state
from edgevla.runtime.clocks import VirtualClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.latency import FixedLatency
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.plan import plan
from edgevla.runtime.toy import LinePolicy, PointEnv


def ramp(n: int, step: float = 1.0, start: float = 0.0) -> np.ndarray:
    return (start + step * np.arange(n, dtype=np.float32))[:, None]


def test_a_chunk_behind_the_arm_is_entered_where_the_arm_is():
    # time alignment would command actions[9] at tick 9 (start 0, now 10); the arm's last
    # target is 14, which is actions[14]: continue with actions[15] at tick 10
    assert align_by_state(ramp(40), 0, 10, np.array([14.0])) == 10 - 1 - 14


def test_ties_and_constant_offsets_keep_the_clock():
    flat = np.zeros((40, 1), np.float32)
    assert align_by_state(flat, 0, 10, np.array([0.0])) == 0  # all equally close: the clock
    # the whole chunk sits 50 units away from the arm, a little closer later on: no evidence
    offset = ramp(40, step=0.01, start=50.0)
    assert align_by_state(offset, 0, 10, np.array([0.0])) == 0


def test_search_reaches_no_further_than_the_staleness():
    # 3 actions stale (expected index 2): the search covers indices 0..5; the arm's target 5
    # is actions[5], its target 7 lies beyond the window, so index 5 is the closest allowed
    assert align_by_state(ramp(40), 0, 3, np.array([5.0])) == 3 - 1 - 5
    assert align_by_state(ramp(40), 0, 3, np.array([7.0])) == 3 - 1 - 5


def test_max_ahead_bounds_the_forward_move_only():
    assert align_by_state(ramp(40), 0, 10, np.array([12.0]), max_ahead=2) == 10 - 1 - 11
    assert align_by_state(ramp(40), 0, 10, np.array([4.0]), max_ahead=0) == 10 - 1 - 4


def test_nothing_stale_means_nothing_to_align():
    assert align_by_state(ramp(10), 12, 10, np.array([99.0])) == 12
    with pytest.raises(ValueError, match=r"last_target \[A\]"):
        align_by_state(ramp(10), 0, 5, np.zeros(3))


class RestartingPolicy(LinePolicy):
    """Every plan first waits `delay` ticks at the observed state, then moves: like a planner
    that re-times each move from rest. Its chunks fall behind an arm that kept moving."""

    delay = 8

    def predict_chunk(self, observation, timestep=0):
        start = np.asarray(observation["observation.state"], np.float32)
        goal = np.asarray(observation["observation.environment_state"], np.float32)
        steps = np.maximum(np.arange(1, self.spec.chunk_size + 1) - self.delay, 0)
        travel = np.minimum(steps[:, None] * self.speed / self.spec.fps, np.abs(goal - start))
        return ActionChunk((start + np.sign(goal - start) * travel).astype(np.float32), timestep)


def _run(align: str):
    loop = ControlLoop(
        PointEnv(goal=4.0),
        RestartingPolicy(chunk_size=40, speed=0.5),
        RuntimeConfig(
            trigger="latency_aware",
            latency="0",
            initial_latency_s=0.5,
            margin_s=0.1,
            aggregator="latest_only",
            align=align,
        ),
        clock=VirtualClock(FixedLatency(0.5)),
    )
    return loop.run_episode(max_ticks=2000)


def test_state_alignment_avoids_pulling_the_arm_back():
    by_time, by_state = _run("time"), _run("state")
    assert by_time.success and by_state.success
    backwards = lambda r: float(np.clip(-np.diff(r.commanded[:, 0]), 0, None).sum())  # noqa: E731
    assert backwards(by_time) > 0.1 and backwards(by_state) < backwards(by_time) / 5
    assert by_state.completion_time_s < by_time.completion_time_s
    with pytest.raises(ValueError, match="unknown align 'space'"):
        RuntimeConfig(trigger="sync", latency="0", align="space")


@pytest.mark.parametrize("chunk", [33, 36, 40])
def test_state_alignment_never_starves_a_feasible_schedule(chunk):
    """0.5 s latency, 0.1 s margin: feasible from 33 actions per chunk (15 stale + 18 reserve).
    The restarting policy's chunks lie ~7 ticks behind the arm; moving the entry that far
    forward would eat the reserve, so the loop lets it move only within the slack."""
    assert plan(FixedLatency(0.5), 30.0, chunk, episodes=1, episode_s=2).feasible_p99
    loop = ControlLoop(
        PointEnv(goal=4.0),
        RestartingPolicy(chunk_size=chunk, speed=0.5),
        RuntimeConfig(trigger="latency_aware", latency="0", initial_latency_s=0.5, margin_s=0.1),
        clock=VirtualClock(FixedLatency(0.5)),
    )
    result = loop.run_episode(max_ticks=3000)
    assert result.success and result.starved_ticks == 0


def test_a_chunk_is_merged_before_the_trigger_looks_at_the_queue():
    # 1.0 s at 30 fps = 30 ticks per chunk of 50; the trigger requests at <= 33 queued
    loop = ControlLoop(
        PointEnv(goal=1e6, tolerance=None),
        LinePolicy(chunk_size=50),
        RuntimeConfig(trigger="latency_aware", latency="0", initial_latency_s=1.0, margin_s=0.1),
        clock=VirtualClock(FixedLatency(1.0)),
    )
    requests, arrivals = [], []

    class Watch:
        def on_tick(self, r):
            (requests if r.requested else []).append(r.tick)
            (arrivals if r.arrived else []).append(r.tick)

    loop.subscribers.append(Watch())
    loop.run_episode(max_ticks=200)
    # the first chunk lands at 30 and fills the queue; later requests go out on the very tick
    # the previous chunk lands (the queue after the merge is already below the request point)
    assert requests[:4] == [0, 47, 77, 107] and arrivals[:3] == [30, 77, 107]
