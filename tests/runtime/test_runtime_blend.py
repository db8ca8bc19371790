"""The minimum blend of a chunk that lands on a short or dry queue (crossfade_min_s)."""

import numpy as np
import pytest

from edgevla.contracts import ActionChunk
from edgevla.runtime.action_queue import ActionQueue
from edgevla.runtime.aggregators import crossfade, weighted_average
from edgevla.runtime.clocks import VirtualClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.latency import FixedLatency
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.toy import LinePolicy, PointEnv

CHUNK = ActionChunk(np.array([[10], [11], [12], [13], [14]], np.float32), timestep=0)


def drain(queue: ActionQueue, ticks) -> list[float]:
    return [float(queue.pop(t)[0]) for t in ticks]


def test_dry_queue_blends_from_the_held_target_with_the_new_motion():
    # stale: ticks 0, 1; the chunk's target for tick 1 (11) stands where the arm holds (0)
    # padded old rows: 0 + (12 - 11), 0 + (13 - 11), 0 + (14 - 11) = 1, 2, 3
    queue = ActionQueue(1)
    report = queue.merge(CHUNK, 2, crossfade, min_blend=3, hold=np.array([0.0]))
    assert report.blended == 3 and report.appended == 3 and report.stale == 2
    assert drain(queue, [2, 3, 4]) == pytest.approx([1 + 11 / 3, 2 + 22 / 3, 14])


def test_short_overlap_is_extended_by_the_queued_plan_continued():
    queue = ActionQueue(1)
    queue.merge(ActionChunk(np.array([[5.0]], np.float32), 2), 2, crossfade)
    queue.merge(CHUNK, 2, crossfade, min_blend=3, hold=np.array([0.0]))
    # old: 5 (queued), then 5 + (13 - 12), 5 + (14 - 12) = 6, 7
    assert drain(queue, [2, 3, 4]) == pytest.approx([5 + 7 / 3, 6 + 14 / 3, 14])


def test_no_blend_without_a_jump_to_hide_or_when_not_asked():
    fresh = ActionChunk(CHUNK.actions, timestep=2)  # nothing stale: starts where planned from
    queue = ActionQueue(1)
    assert queue.merge(fresh, 2, crossfade, min_blend=3, hold=np.array([0.0])).blended == 0
    assert drain(queue, [2, 3, 4]) == [10, 11, 12]
    queue = ActionQueue(1)
    assert queue.merge(CHUNK, 2, weighted_average, hold=np.array([0.0])).blended == 0
    assert drain(queue, [2, 3, 4]) == [12, 13, 14]


class LaggingLine(LinePolicy):
    """Plans from the observed state but waits 4 ticks before moving: every chunk it sends
    after the arm moved on starts behind the arm, a jump back when it takes over."""

    def predict_chunk(self, observation, timestep=0):
        start = np.asarray(observation["observation.state"], np.float32)
        goal = np.asarray(observation["observation.environment_state"], np.float32)
        steps = np.maximum(np.arange(1, self.spec.chunk_size + 1) - 4, 0)[:, None]
        travel = np.minimum(steps * self.speed / self.spec.fps, np.abs(goal - start))
        return ActionChunk((start + np.sign(goal - start) * travel).astype(np.float32), timestep)


def _late_chunks(crossfade_min_s: float):
    """20-action chunks at 0.32 s, time-aligned: ~3 actions still queued when a chunk lands
    (a 3-tick crossfade), and every chunk a few ticks behind the arm."""
    loop = ControlLoop(
        PointEnv(goal=3.0),
        LaggingLine(chunk_size=20, speed=0.5),
        RuntimeConfig(
            trigger="latency_aware",
            latency="0",
            initial_latency_s=0.32,
            margin_s=0.1,
            align="time",
            crossfade_min_s=crossfade_min_s,
        ),
        clock=VirtualClock(FixedLatency(0.32)),
    )
    return loop.run_episode(max_ticks=3000)


def test_minimum_crossfade_hides_the_jump_back_of_a_late_chunk():
    plain, smooth = _late_chunks(0.0), _late_chunks(0.2)
    assert plain.success and smooth.success
    back = lambda r: float(np.clip(-np.diff(r.commanded[:, 0]), 0, None).max())  # noqa: E731
    assert back(plain) > 0.05 and back(smooth) < back(plain) / 3  # the jumps back
    assert smooth.jerk < plain.jerk / 2
    with pytest.raises(ValueError, match="crossfade_min_s must be >= 0"):
        RuntimeConfig(trigger="sync", latency="0", crossfade_min_s=-1)
