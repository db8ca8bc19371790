import dataclasses

import numpy as np
import pytest

from edgevla.contracts import ACTION_PREFIX, ActionChunk
from edgevla.features import ACTION_PREFIX_KEY
from edgevla.runtime.clocks import VirtualClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.latency import (
    DistributionLatency,
    FixedLatency,
    latency_model_from_string,
    profile,
)
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.plan import plan
from edgevla.runtime.toy import LinePolicy, PointEnv


def run(config, latency, *, chunk=50, goal=3.0, seed=0, aggregator="crossfade", **env_kw):
    loop = ControlLoop(
        PointEnv(goal=goal, **env_kw),
        LinePolicy(chunk_size=chunk, speed=0.5),
        dataclasses.replace(config, aggregator=aggregator),
        clock=VirtualClock(latency, seed=seed),
    )
    return loop.run_episode(max_ticks=2000)


def latency_aware(model, margin_s=0.1, **fields):
    p95 = model.quantile(0.95)
    return RuntimeConfig(
        trigger="latency_aware", latency="0", initial_latency_s=p95, margin_s=margin_s, **fields
    )


def test_zero_latency_sync_reaches_goal_without_waiting():
    r = run(RuntimeConfig(trigger="sync", latency="0"), FixedLatency(0.0), goal=1.0)
    assert r.success and r.idle_ticks == 0 and r.stale_dropped == 0
    # 1.0 units at 0.5 units/s = 2 s = 60 ticks, success on the tick it arrives
    assert r.ticks == 60 and r.completion_time_s == pytest.approx(2.0)
    assert r.commanded.shape == (60, 1)


def test_sync_idles_ceil_latency_ticks_per_inference():
    # 0.32 s at 30 fps -> every chunk lands 10 ticks after its request; the arm waits each time
    r = run(RuntimeConfig(trigger="sync", latency="0"), FixedLatency(0.32), goal=3.0, chunk=50)
    assert r.success
    assert r.inferences == 4  # 3.0 units at 0.5/s = 180 actions -> 4 chunks of 50
    assert r.idle_ticks == r.inferences * 10
    assert r.starved_ticks == 0 and r.stale_dropped == 0
    assert r.ticks == 180 + r.idle_ticks


def test_virtual_runs_repeat_exactly_for_a_seed_and_differ_across_seeds():
    model = DistributionLatency(0.4, 0.3)
    a = run(latency_aware(model), model, seed=7, goal_velocity=0.05, tolerance=0.05)
    b = run(latency_aware(model), model, seed=7, goal_velocity=0.05, tolerance=0.05)
    c = run(latency_aware(model), model, seed=8, goal_velocity=0.05, tolerance=0.05)
    assert a.latencies_s == b.latencies_s
    np.testing.assert_array_equal(a.commanded, b.commanded)
    assert a.summary() == b.summary()
    assert a.latencies_s != c.latencies_s
    assert a.commanded.shape != c.commanded.shape or not np.array_equal(a.commanded, c.commanded)


@pytest.mark.parametrize(
    ("name", "chunk"), [("imx95-act-optimized", 30), ("lognormal:0.8:0.1", 70)]
)
def test_latency_aware_never_starves_where_plan_says_feasible(name, chunk):
    model = latency_model_from_string(name)
    report = plan(model, 30.0, chunk, episodes=2, episode_s=5)
    assert report.feasible_p99
    for seed in range(5):
        r = run(latency_aware(model), model, chunk=chunk, goal=4.0, seed=seed)
        assert r.success
        assert r.starved_ticks == 0
        # only the very first chunk is waited for
        assert r.idle_ticks == int(np.ceil(r.latencies_s[0] * 30 - 1e-9))


def test_latency_aware_starves_where_plan_says_infeasible():
    model = profile("imx95-act-optimized")
    report = plan(model, 30.0, 16, episodes=2, episode_s=5)
    assert not report.feasible
    r = run(latency_aware(model), model, chunk=16, goal=2.0)
    assert r.starved_ticks > 0


def test_async_beats_sync_on_time_idle_and_jerk():
    model = profile("imx95-act-optimized")
    sync = run(RuntimeConfig(trigger="sync", latency="0"), model, chunk=50, goal=4.0)
    fast = run(latency_aware(model), model, chunk=50, goal=4.0)
    assert sync.success and fast.success
    assert fast.completion_time_s < sync.completion_time_s - 0.5
    assert fast.idle_ticks < sync.idle_ticks / 3
    assert fast.jerk < sync.jerk / 1.5


def test_crossfade_is_smoother_than_weighted_average_when_plans_disagree():
    """A drifting goal makes every new plan differ from the queued one."""
    model = FixedLatency(0.32)
    kw = dict(chunk=50, goal=4.0, goal_velocity=0.1, tolerance=0.05)
    trig = RuntimeConfig(trigger="threshold", latency="0", threshold=0.5)
    fade = run(trig, model, aggregator="crossfade", **kw)
    avg = run(
        RuntimeConfig(trigger="threshold", latency="0", threshold=0.5),
        model,
        aggregator="weighted_average",
        **kw,
    )
    assert fade.jerk < avg.jerk / 2


def test_stale_actions_are_those_executed_during_inference():
    """First chunk: the arm held while waiting, nothing is stale. Later chunks: the arm kept
    executing for ceil(L·fps) ticks, so exactly that many actions of each are dropped."""
    r = run(latency_aware(FixedLatency(0.32)), FixedLatency(0.32), chunk=50, goal=4.0)
    assert r.starved_ticks == 0
    assert r.stale_dropped == (r.chunks_received - 1) * 10
    # no jump when the first chunk starts: the first commanded step is one planned step
    moving = np.flatnonzero(np.abs(np.diff(r.commanded[:, 0])) > 0)
    assert np.abs(np.diff(r.commanded[:, 0])).max() == pytest.approx(0.5 / 30, rel=1e-4)
    assert moving[0] == 9  # held ticks 0..9, moves at tick 10


def test_actions_per_chunk_truncates_chunks():
    loop = ControlLoop(
        PointEnv(goal=1.0),
        LinePolicy(chunk_size=50, speed=0.5),
        RuntimeConfig(trigger="sync", latency="0", actions_per_chunk=10),
    )
    r = loop.run_episode(max_ticks=500)
    assert r.success and r.inferences == 6  # 60 actions / 10 per chunk
    with pytest.raises(ValueError, match=r"actions_per_chunk must be in \[1, 50\], got 80"):
        ControlLoop(PointEnv(), LinePolicy(chunk_size=50), RuntimeConfig(trigger="sync", latency="0", actions_per_chunk=80))  # fmt: skip


def test_settle_ticks_extend_a_successful_episode():
    loop = ControlLoop(
        PointEnv(goal=1.0), LinePolicy(chunk_size=50), RuntimeConfig(trigger="sync", latency="0")
    )
    r = loop.run_episode(max_ticks=500, settle_ticks=15)
    assert r.success and r.ticks == 60 + 15 and r.completion_time_s == pytest.approx(2.0)
    r = loop.run_episode(max_ticks=30, goal=5.0)  # reset options reach the env
    assert not r.success and r.completion_time_s is None and r.ticks == 30


def test_policy_must_honour_the_requested_timestep():
    class Misaligned(LinePolicy):
        def predict_chunk(self, observation, timestep=0):
            chunk = super().predict_chunk(observation, timestep)
            return ActionChunk(chunk.actions, 0)

    loop = ControlLoop(
        PointEnv(goal=5.0), Misaligned(chunk_size=5), RuntimeConfig(trigger="sync", latency="0")
    )
    with pytest.raises(ValueError, match="chunk for tick 0, requested for tick 5"):
        loop.run_episode(max_ticks=100)


def test_bad_env_or_spec_is_reported():
    class NoSuccess(PointEnv):
        def step(self, action):
            obs, info = super().step(action)
            return obs, {"distance": info["distance"]}

    loop = ControlLoop(NoSuccess(), LinePolicy(), RuntimeConfig(trigger="sync", latency="0"))
    with pytest.raises(KeyError, match="must have 'success'"):
        loop.run_episode(max_ticks=5)
    with pytest.raises(ValueError, match=r"plans at 30(\.0)? fps but env runs at 50"):
        ControlLoop(
            PointEnv(fps=50), LinePolicy(fps=30), RuntimeConfig(trigger="sync", latency="0")
        )


class _InFlight:
    """Most requests outstanding at once, from the loop's own tick records."""

    def __init__(self, latency_ticks):
        self.latency_ticks, self.requests, self.most = latency_ticks, [], 0

    def on_tick(self, record):
        if record.requested:
            self.requests.append(record.tick)
        outstanding = [t for t in self.requests if t + self.latency_ticks > record.tick]
        self.most = max(self.most, len(outstanding))


@pytest.mark.parametrize("align", ["state", "time"])
def test_two_in_flight_keep_the_queue_fed_where_one_starves(align):
    # 1.0 s and 50-action chunks: 30 actions stale on arrival, 20 left for 30 ticks of latency
    model = FixedLatency(1.0)
    results = {}
    for k in (1, 2):
        seen = _InFlight(30)
        loop = ControlLoop(
            PointEnv(goal=4.0),
            LinePolicy(chunk_size=50, speed=0.5),
            latency_aware(model, align=align, max_in_flight=k),
            clock=VirtualClock(model),
            subscribers=[seen],
        )
        results[k] = (loop.run_episode(max_ticks=2000), seen.most)
    (one, most_one), (two, most_two) = results[1], results[2]
    assert one.success and two.success
    assert one.starved_ticks > 0 and most_one == 1
    assert two.starved_ticks == 0 and most_two == 2
    assert two.idle_ticks == 30  # only the first chunk is waited for
    assert two.completion_time_s < one.completion_time_s


def test_max_in_flight_must_be_positive():
    with pytest.raises(ValueError, match="max_in_flight must be >= 1"):
        RuntimeConfig(trigger="sync", latency="0", max_in_flight=0)


def _warm(config, latency, *, warm_start=True, timeout_s=60.0, goal=3.0):
    loop = ControlLoop(
        PointEnv(goal=goal),
        LinePolicy(chunk_size=50, speed=0.5),
        dataclasses.replace(config, warm_start=warm_start, warm_start_timeout_s=timeout_s),
        clock=VirtualClock(latency),
    )
    return loop.run_episode(max_ticks=2000)


def test_warm_start_computes_the_first_chunk_before_the_episode_clock():
    cold = _warm(RuntimeConfig(trigger="sync", latency="0"), FixedLatency(0.32), warm_start=False)
    warm = _warm(RuntimeConfig(trigger="sync", latency="0"), FixedLatency(0.32))
    assert cold.first_wait_ticks == 10 and warm.first_wait_ticks == 0
    # Only the first wait goes: the three later sync waits stay in the episode.
    assert warm.idle_ticks == cold.idle_ticks - 10 == 30
    assert warm.ticks == cold.ticks - 10
    assert warm.inferences == cold.inferences == 4 and warm.stale_dropped == 0
    assert warm.latencies_s[0] == pytest.approx(0.32)
    np.testing.assert_allclose(warm.commanded[0], [1 / 60], rtol=1e-6)  # moving at tick 0


def test_warm_start_gives_up_on_a_slow_first_chunk_and_the_episode_waits_for_it():
    # 5 s latency, 1 s patience: the episode starts with the request in flight, ~4 s to go.
    r = _warm(
        RuntimeConfig(trigger="sync", latency="0"), FixedLatency(5.0), timeout_s=1.0, goal=0.5
    )
    assert r.success and r.inferences == 1
    assert r.first_wait_ticks == 120  # (5 - 1) s at 30 fps


class _PrefixReader(LinePolicy):
    """A LinePolicy that reads committed prefixes: records what each request carried."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.spec = dataclasses.replace(self.spec, extra={ACTION_PREFIX: 6})
        self.prefixes = []

    def predict_chunk(self, observation, timestep=0):
        self.prefixes.append((timestep, observation[ACTION_PREFIX_KEY]))
        return super().predict_chunk(observation, timestep)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_prefix_reading_policy_gets_the_queue_head_it_will_execute(mode):
    policy = _PrefixReader(chunk_size=20, speed=0.5)
    if mode == "sync":
        config = RuntimeConfig(trigger="sync", latency="0.1", actions_per_chunk=20)
    else:
        config = latency_aware(FixedLatency(0.1), margin_s=0.2)
    loop = ControlLoop(PointEnv(goal=3.0), policy, config, clock=VirtualClock(FixedLatency(0.1)))
    commanded = []
    loop.subscribers.append(type("Rec", (), {"on_tick": lambda _, r: commanded.append(r)})())
    loop.run_episode(max_ticks=400)
    assert len(policy.prefixes) > 3
    by_tick = {r.tick: r.action for r in commanded}
    for tick, prefix in policy.prefixes:
        assert prefix.dtype == np.float32 and prefix.shape[1] == 1 and len(prefix) <= 6
        if mode == "sync":
            assert len(prefix) == 0  # sync asks with an empty queue: plain ACT's input
        for i, action in enumerate(prefix):  # what the arm then really executed
            if tick + i in by_tick:
                np.testing.assert_allclose(by_tick[tick + i], action, atol=0.05)
    if mode == "async":
        assert max(len(p) for _, p in policy.prefixes[1:]) == 6


def test_held_motion_counts_an_arm_catching_up_during_sync_waits():
    sync = RuntimeConfig(trigger="sync", latency="0")
    tracking = run(sync, FixedLatency(0.32), goal=3.0, chunk=50)  # the point keeps up: no lag
    assert tracking.idle_ticks == 40 and tracking.held_motion_ticks == 0.0
    # Planned at 0.5 units/s, the point moves at most 0.3: it lags and keeps moving through
    # every wait after the first (before the first chunk it was at rest).
    lagging = run(sync, FixedLatency(0.32), goal=3.0, chunk=50, max_speed=0.3)
    waits_after_first = lagging.idle_ticks - lagging.first_wait_ticks
    assert waits_after_first > 0
    assert lagging.held_motion_ticks == pytest.approx(waits_after_first, rel=0.05)
    assert lagging.summary()["held_motion_ticks"] == pytest.approx(
        lagging.held_motion_ticks, abs=1e-3
    )
