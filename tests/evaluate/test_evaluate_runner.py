"""The closed-loop runner on the sim with the scripted policy, run modes and env factories."""

from __future__ import annotations

import numpy as np
import pytest

from edgevla.dataset.splits import evaluation_sets
from edgevla.evaluate.episodes import chunk_policy_of, run_episodes
from edgevla.evaluate.modes import parse_mode, slug
from edgevla.evaluate.summary import summarize
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.subscribers import QueueSizeRecorder
from edgevla.sim.scripted_policy import ScriptedChunkPolicy

TRAINING = tuple(c for c in range(1, 12) if c != 6)


@pytest.fixture(scope="module")
def starts():
    return evaluation_sets(TRAINING, 6)["test"][:2]


@pytest.fixture(scope="module")
def policy():
    return ScriptedChunkPolicy(chunk_size=100)


def test_sync_and_async_runs_of_the_scripted_policy(starts, policy):
    base = RuntimeConfig(latency="0.32", actions_per_chunk=100)
    recorders = [QueueSizeRecorder(), QueueSizeRecorder()]
    seen = []
    sync = run_episodes(
        policy, starts, runtime=parse_mode("sync", base), max_seconds=20,
        subscribers=lambda i, _s: [recorders[i]], on_episode=lambda i, r: seen.append(i),
    )  # fmt: skip
    fast = run_episodes(
        lambda: ScriptedChunkPolicy(chunk_size=100), starts,
        runtime=parse_mode("latency_aware+crossfade", base), max_seconds=20,
    )  # fmt: skip
    assert seen == [0, 1] and all(
        len(r.ticks) == res.ticks for r, res in zip(recorders, sync, strict=True)
    )
    assert all(r.success for r in sync + fast)
    # sync waits ceil(0.32 · 30) = 10 ticks for every chunk; async only for the first
    assert all(r.idle_ticks == 10 * r.inferences and r.first_wait_ticks == 10 for r in sync)
    assert all(r.idle_ticks == 10 and r.starved_ticks == 0 for r in fast)
    s, f = summarize(sync), summarize(fast)
    assert s.success_rate == f.success_rate == 1.0
    assert f.completion_time_s < s.completion_time_s - 0.9 * s.hideable_wait_s
    assert f.wait_s == pytest.approx(10 / 30) and s.first_wait_s == pytest.approx(10 / 30)


def test_episodes_repeat_exactly_and_subsets_keep_their_seeds(starts, policy):
    runtime = RuntimeConfig(latency="lognormal:0.3:0.3", seed=3)
    both = run_episodes(policy, starts, runtime=runtime, max_seconds=3)
    second = run_episodes(policy, starts[1:], runtime=runtime, max_seconds=3, first_episode=1)
    assert both[1].latencies_s == second[0].latencies_s
    np.testing.assert_array_equal(both[1].commanded, second[0].commanded)
    assert both[0].latencies_s != both[1].latencies_s  # per-episode seeds differ


def test_resolve_policy_and_bad_inputs(policy, starts):
    assert chunk_policy_of(policy) is policy
    assert chunk_policy_of(lambda: policy) is policy
    with pytest.raises(TypeError, match="not a policy"):
        chunk_policy_of(lambda: 42)
    with pytest.raises(ValueError, match="max_seconds > 0"):
        run_episodes(policy, starts, runtime=RuntimeConfig(latency="0"), max_seconds=0)


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("sync", {"trigger": "sync", "aggregator": "latest_only"}),
        ("threshold:0.6+weighted_average", {"trigger": "threshold", "threshold": 0.6}),
        ("latency_aware:0.25+crossfade@time", {"margin_s": 0.25, "align": "time"}),
        ("threshold:0.6+weighted_average/80", {"actions_per_chunk": 80}),
        ("latency_aware", {"aggregator": "crossfade", "actions_per_chunk": 50}),
        ("latency_aware+crossfade/50*2", {"max_in_flight": 2, "actions_per_chunk": 50}),
        ("latency_aware+crossfade", {"max_in_flight": 1, "crossfade_min_s": 0.2}),
        ("latency_aware+crossfade:0.1@time", {"crossfade_min_s": 0.1, "align": "time"}),
    ],
)
def test_parse_mode(text, fields):
    config = parse_mode(text, RuntimeConfig(latency="0.3", actions_per_chunk=50))
    for key, value in fields.items():
        assert getattr(config, key) == value
    assert config.latency == "0.3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "unknown trigger 'fast'"),
        ("sync:0.5", "takes no :VALUE"),
        ("latency_aware+blend", "unknown aggregator 'blend'"),
        ("latency_aware@space", "unknown align 'space'"),
        ("sync*2", "max_in_flight must be 1"),
        ("threshold:2+average", r"threshold must be in \[0, 1\], got 2"),
        ("latency_aware crossfade", "cannot read run mode"),
        ("latency_aware+latest_only:0.1", "only crossfade takes a :BLEND"),
    ],
)
def test_parse_mode_errors_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        parse_mode(text, RuntimeConfig(latency="0.3"))


def test_slug():
    assert slug("threshold:0.6+weighted_average/80") == "threshold-0.6_weighted_average_80"
    assert slug("latency_aware+crossfade@time") == "latency_aware_crossfade_time"
