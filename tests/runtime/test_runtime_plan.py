import json

import pytest

from edgevla.cli import main
from edgevla.runtime.latency import FixedLatency, profile
from edgevla.runtime.plan import (
    fits,
    max_latency_for,
    min_actions_per_chunk,
    min_in_flight,
    plan,
)


def test_fits_accounts_for_stale_actions():
    # 1.0 s latency at 30 fps: 30 actions go stale, so a 60-action chunk covers 1.0 s
    assert fits(1.0, 30, 60, 0.0)
    assert not fits(1.0, 30, 60, 0.05)  # naive T/fps = 2.0 s > 1.05 s would say yes
    assert not fits(1.0, 30, 59, 0.0)
    assert min_actions_per_chunk(1.0, 30, 0.0) == 60
    assert min_actions_per_chunk(0.32, 30, 0.1) == 10 + 13
    assert max_latency_for(60, 30, 0.0) == pytest.approx(1.0, abs=1e-6)


def test_plan_fast_board_recommends_latency_aware():
    r = plan(profile("imx95-act-optimized"), 30, 100, episodes=3, episode_s=30)
    assert r.feasible and r.feasible_p99
    assert r.recommended_trigger == "latency_aware" and r.recommended_actions_per_chunk == 100
    p95 = profile("imx95-act-optimized").quantile(0.95)
    assert r.request_at_actions == int(-(-(p95 + 0.1) * 30 // 1))
    assert r.chunk_size_threshold == pytest.approx(r.request_at_actions / 100)
    est = {e.trigger: e for e in r.estimates}
    assert est["latency_aware"].starved_ticks_per_episode == 0
    assert est["sync"].idle_ticks_per_episode > 5 * est["latency_aware"].idle_ticks_per_episode


def test_plan_grows_the_chunk_when_the_policy_allows_it():
    r = plan(FixedLatency(0.5), 30, 20, max_chunk_size=100, episodes=2, episode_s=10)
    assert not r.feasible
    assert r.recommended_actions_per_chunk == r.min_actions_per_chunk == 15 + 18
    assert r.recommended_trigger == "latency_aware"
    assert {e.trigger: e for e in r.estimates}["latency_aware"].starved_ticks_per_episode > 0
    grown = plan(FixedLatency(0.5), 30, r.recommended_actions_per_chunk, episodes=2, episode_s=10)
    assert grown.feasible_p99
    assert {e.trigger: e for e in grown.estimates}["latency_aware"].starved_ticks_per_episode == 0


def test_plan_slow_board_falls_back_to_sync():
    r = plan(profile("imx95-act-fp32"), 30, 100, episodes=2, episode_s=20)
    assert not r.feasible and r.recommended_trigger == "sync"
    assert any("cannot keep up" in n for n in r.notes)


def test_plan_simulates_a_lerobot_threshold():
    r = plan(profile("imx95-act-optimized"), 30, 80, threshold=0.6, episodes=2, episode_s=10)
    est = {e.trigger: e for e in r.estimates}
    # 0.6 re-plans with 48 actions still queued: about twice the inferences of latency_aware
    assert (
        est["threshold"].inferences_per_episode > 1.5 * est["latency_aware"].inferences_per_episode
    )


def test_plan_rejects_bad_input():
    with pytest.raises(ValueError, match="actions_per_chunk >= 1"):
        plan(FixedLatency(0.1), 30, 0)
    with pytest.raises(ValueError, match="max_chunk_size 50 is below actions_per_chunk 80"):
        plan(FixedLatency(0.1), 30, 80, max_chunk_size=50)


def test_cli_text_and_json(capsys):
    argv = ["plan", "--latency", "imx95-act-optimized", "--actions-per-chunk", "80"]
    assert main([*argv, "--episodes", "2", "--episode-seconds", "5"]) == 0
    out = capsys.readouterr().out
    assert "feasible     yes" in out and "latency_aware" in out and "chunk_size_threshold" in out
    assert main([*argv, "--episodes", "2", "--episode-seconds", "5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["feasible"] is True and data["actions_per_chunk"] == 80
    assert {e["trigger"] for e in data["estimates"]} == {"latency_aware", "sync"}
    slow = ["plan", "--latency", "1.0", "--actions-per-chunk", "50", "--episodes", "1"]
    assert main([*slow, "--episode-seconds", "5"]) == 0
    assert "feasible     NO" in (out := capsys.readouterr().out) and "max_in_flight = 2" in out
    assert main([*slow, "--episode-seconds", "5", "--max-in-flight", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["feasible_p99"] is True and data["recommended_max_in_flight"] == 2


def test_cli_bad_latency_is_a_clean_error(capsys):
    assert main(["plan", "--latency", "imx9-fast"]) == 2
    assert "cannot read latency 'imx9-fast'" in capsys.readouterr().err


def test_pipelining_divides_the_stale_actions_among_the_requests_in_flight():
    # 1.0 s at 30 fps: 30 stale, request point ceil(1.1 * 30) = 33, so a 50-action chunk leaves
    # 17 ticks between requests: one in flight cannot cover 30 ticks of latency, two can.
    assert not fits(1.0, 30, 50, 0.1) and fits(1.0, 30, 50, 0.1, in_flight=2)
    assert min_in_flight(1.0, 30, 50, 0.1) == 2
    assert min_in_flight(1.0, 30, 33, 0.1) is None  # the chunk ends at the request point
    assert min_actions_per_chunk(1.0, 30, 0.1, in_flight=2) == 33 + 15
    assert max_latency_for(50, 30, 0.1, in_flight=2) > 1.0 > max_latency_for(50, 30, 0.1)


def test_plan_with_two_in_flight_feeds_the_queue_where_one_starves():
    one = plan(FixedLatency(1.0), 30, 50, episodes=2, episode_s=10)
    assert not one.feasible and one.min_in_flight_p99 == 2
    assert any("max_in_flight = 2" in n for n in one.notes)
    two = plan(FixedLatency(1.0), 30, 50, episodes=2, episode_s=10, max_in_flight=2)
    assert two.feasible_p99 and two.recommended_max_in_flight == 2
    est = {e.trigger: e for e in two.estimates}
    assert {e.trigger: e for e in one.estimates}["latency_aware"].starved_ticks_per_episode > 0
    assert est["latency_aware"].starved_ticks_per_episode == 0
    # a fast board does not need the extra request even when the device allows it
    fast = plan(profile("imx95-act-optimized"), 30, 100, episodes=1, max_in_flight=4)
    assert fast.recommended_max_in_flight == 1
