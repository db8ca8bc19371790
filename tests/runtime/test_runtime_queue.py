import threading

import numpy as np
import pytest

from edgevla.contracts import ActionChunk
from edgevla.runtime.action_queue import ActionQueue
from edgevla.runtime.aggregators import get_aggregator

LATEST = get_aggregator("latest_only")


def chunk(start: int, n: int, value: float | None = None) -> ActionChunk:
    """Actions whose value encodes their own timestep (or a constant `value`)."""
    ts = np.arange(start, start + n, dtype=np.float32)
    vals = ts if value is None else np.full(n, value, np.float32)
    return ActionChunk(vals[:, None], start)


def test_pop_returns_actions_in_tick_order_then_none():
    q = ActionQueue(1)
    q.merge(chunk(0, 3), now_tick=0, aggregator=LATEST)
    assert [float(q.pop(t)[0]) for t in range(3)] == [0.0, 1.0, 2.0]
    assert q.pop(3) is None
    assert q.size == 0


def test_stale_actions_are_dropped_and_counted():
    q = ActionQueue(1)
    # requested at tick 10, arrives at tick 14: actions for ticks 10..13 already passed
    report = q.merge(chunk(10, 8), now_tick=14, aggregator=LATEST)
    assert report.stale == 4 and report.appended == 4
    assert q.timesteps() == [14, 15, 16, 17]
    assert float(q.pop(14)[0]) == 14.0
    assert q.counters.stale_dropped == 4


def test_fully_stale_chunk_leaves_queue_untouched():
    q = ActionQueue(1)
    q.merge(chunk(0, 5), now_tick=0, aggregator=LATEST)
    report = q.merge(chunk(0, 3), now_tick=4, aggregator=LATEST)
    assert report.stale == 3 and report.appended == 0
    assert q.timesteps() == [0, 1, 2, 3, 4]


def test_overlap_is_blended_and_rest_appended():
    q = ActionQueue(1)
    q.merge(chunk(0, 6, value=0.0), now_tick=0, aggregator=LATEST)
    for t in range(3):
        q.pop(t)
    # queue holds 3,4,5 (value 0); new chunk from tick 2 arrives at tick 3: tick 2 is stale,
    # 3,4,5 overlap, 6,7 are new
    report = q.merge(chunk(2, 6, value=1.0), now_tick=3, aggregator=get_aggregator("crossfade"))
    assert (report.stale, report.blended, report.appended) == (1, 3, 2)
    assert q.timesteps() == [3, 4, 5, 6, 7]
    values = [float(q.pop(t)[0]) for t in range(3, 8)]
    np.testing.assert_allclose(values, [1 / 3, 2 / 3, 1.0, 1.0, 1.0], rtol=1e-6)


def test_queued_actions_past_the_new_chunk_are_superseded():
    q = ActionQueue(1)
    q.merge(chunk(0, 10, value=0.0), now_tick=0, aggregator=LATEST)
    report = q.merge(chunk(0, 4, value=1.0), now_tick=0, aggregator=LATEST)
    assert report.superseded == 6
    assert q.timesteps() == [0, 1, 2, 3]


def test_pop_skips_passed_ticks_and_waits_for_future_ones():
    q = ActionQueue(1)
    q.merge(chunk(5, 3), now_tick=5, aggregator=LATEST)
    assert q.pop(4) is None  # action for tick 5 is not due yet
    assert q.size == 3
    assert float(q.pop(6)[0]) == 6.0  # tick 5 passed unexecuted
    assert q.counters.expired == 1


def test_wrong_action_dim_is_rejected():
    q = ActionQueue(6)
    with pytest.raises(ValueError, match=r"\[T, 6\].*\(3, 1\)"):
        q.merge(chunk(0, 3), now_tick=0, aggregator=LATEST)


def test_concurrent_pop_and_merge_lose_and_duplicate_nothing():
    """A control thread pops ticks 0..N-1 while a worker merges overlapping chunks; every tick
    is popped exactly once with its own action, and the counters balance."""
    q = ActionQueue(1)
    n_ticks, chunk_len = 3000, 40
    tick = [0]
    stop = threading.Event()
    popped: list[tuple[int, float]] = []
    seen_orders: list[bool] = []

    def control():
        while tick[0] < n_ticks:
            action = q.pop(tick[0])
            if action is not None:
                popped.append((tick[0], float(action[0])))
                tick[0] += 1
        stop.set()

    def worker():
        while not stop.is_set():
            now = tick[0]
            # computed from an observation a few ticks ago, like a real inference
            q.merge(chunk(max(now - 3, 0), chunk_len), now_tick=now, aggregator=LATEST)
            ts = q.timesteps()
            seen_orders.append(all(a < b for a, b in zip(ts, ts[1:], strict=False)))

    threads = [threading.Thread(target=control), threading.Thread(target=worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads)
    assert [t for t, _ in popped] == list(range(n_ticks))
    assert all(value == t for t, value in popped), "an action was executed at the wrong tick"
    assert seen_orders and all(seen_orders)
    c = q.counters
    assert c.popped == n_ticks
    assert c.appended == c.popped + c.expired + c.superseded + q.size
