"""Summary metrics, paired comparisons, acceptance checks and report tables, hand-computed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgevla.evaluate.async_bench import ModeRun, acceptance
from edgevla.evaluate.modes import parse_mode
from edgevla.evaluate.phases import PhaseSplit
from edgevla.evaluate.report import markdown_table, summary_headers, summary_rows
from edgevla.evaluate.summary import paired_completion, summarize, wilson_interval
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.records import EpisodeResult


def result(success=True, ticks=300, done=None, idle=0, first=0, starved=0, stale=0, jerk=1.0,
           latencies=(0.3,), fps=30.0, inferences=1) -> EpisodeResult:  # fmt: skip
    return EpisodeResult(
        success=success, ticks=ticks, fps=fps,
        completion_time_s=(done if done is not None else ticks / fps) if success else None,
        idle_ticks=idle, starved_ticks=starved, stale_dropped=stale, inferences=inferences,
        chunks_received=len(latencies), latencies_s=tuple(latencies), jerk=jerk,
        trigger="sync", aggregator="latest_only", virtual_time=True, first_wait_ticks=first,
    )  # fmt: skip


def test_summary_means_and_totals():
    s = summarize(
        [
            result(done=6.0, idle=30, first=10, starved=0, stale=0, jerk=2.0, latencies=(0.2, 0.4)),
            result(done=8.0, idle=60, first=10, starved=3, stale=12, jerk=4.0, latencies=(0.6,)),
            result(success=False, ticks=900, idle=90, first=10, starved=5, stale=6, jerk=6.0),
        ]
    )
    assert s.episodes == 3 and s.successes == 2 and s.success_rate == pytest.approx(2 / 3)
    assert s.completion_time_s == pytest.approx(7.0)  # successful episodes only
    assert s.wait_s == pytest.approx(2.0)  # mean 60 idle ticks at 30 fps
    assert s.first_wait_s == pytest.approx(10 / 30)
    assert s.hideable_wait_s == pytest.approx(2.0 - 10 / 30)
    assert s.idle_fraction == pytest.approx(180 / 1500)
    assert s.starved_ticks == 8 and s.stale_dropped == pytest.approx(6.0)
    assert s.jerk == pytest.approx(4.0)
    assert s.latency_p50_s == pytest.approx(0.35)
    assert s.to_dict()["hideable_wait_s"] == pytest.approx(s.hideable_wait_s)


def test_summary_of_nothing_or_mixed_fps_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        summarize([])
    with pytest.raises(ValueError, match="different fps"):
        summarize([result(fps=30.0), result(fps=15.0)])
    assert summarize([result(success=False)]).completion_time_s is None


def test_paired_completion_uses_only_episodes_both_completed():
    ours = [result(done=5.0), result(success=False), result(done=7.0)]
    ref = [result(done=6.0), result(done=9.0), result(success=False)]
    paired = paired_completion(ours, ref)
    assert (paired.completion_s, paired.reference_completion_s, paired.episodes) == (5.0, 6.0, 1)
    assert paired_completion([result(success=False)], [result()]) is None
    with pytest.raises(ValueError, match="same episodes"):
        paired_completion(ours, ref[:2])


def _run(mode: str, results: list[EpisodeResult]) -> ModeRun:
    run = ModeRun(mode, parse_mode(mode, RuntimeConfig(latency="0.3")))
    run.results["test"] = results
    return run


def test_acceptance_against_sync():
    # sync: 8 s and 9 s, waiting 1 s per episode (30 ticks), of which 10 ticks the first chunk
    sync = _run("sync", [result(done=8.0, idle=30, first=10), result(done=9.0, idle=30, first=10)])
    good = _run(
        "latency_aware+crossfade", [result(done=7.05, jerk=1.0), result(done=8.05, jerk=1.0)]
    )
    slow = _run(
        "latency_aware+weighted_average", [result(done=7.5, jerk=3.0), result(done=8.5, jerk=3.0)]
    )
    dry = _run("latency_aware+latest_only", [result(done=7.0, starved=4), result(success=False)])
    feasible = {run.mode: True for run in (good, slow, dry)}
    checks = {c["mode"]: c for c in acceptance([sync, good, slow, dry], feasible)}
    assert set(checks) == {good.mode, slow.mode, dry.mode}
    g = checks[good.mode]
    assert g["success"] and g["time"] and g["jerk"] and g["no_starvation"]
    assert g["hidden"] == pytest.approx(0.95) and g["hidden_of_hideable"] == pytest.approx(1.425)
    assert g["jerk_vs"] == "latency_aware+weighted_average"
    s = checks[slow.mode]
    assert s["success"] and not s["time"] and s["hidden"] == pytest.approx(0.5)
    assert "jerk" not in s  # it is the reference
    d = checks[dry.mode]
    # 1/2 against 2/2: the rate is below, the intervals overlap (the reading)
    assert d["success"] and not d["success_point"]
    assert not d["no_starvation"] and d["paired_episodes"] == 1
    assert "no_starvation" not in acceptance([sync, good], {good.mode: False})[0]


def test_acceptance_time_is_against_syncs_wait_on_the_paired_episodes():
    # sync's failed episode waited 600 ticks; only the two both completed count: 1 s of wait
    sync = _run(
        "sync",
        [result(done=8.0, idle=30, first=10), result(done=9.0, idle=30, first=10),
         result(success=False, ticks=900, idle=600)],
    )  # fmt: skip
    ours = _run(
        "latency_aware+latest_only",
        [result(done=7.1, jerk=5.0), result(done=8.1, jerk=5.0), result(done=6.0, jerk=5.0)],
    )
    lerobot = _run("threshold:0.6+weighted_average", [result(done=7.0, jerk=9.0) for _ in range(3)])
    check = {c["mode"]: c for c in acceptance([sync, ours, lerobot], {})}[ours.mode]
    assert check["paired_episodes"] == 2 and check["sync_wait_s"] == pytest.approx(1.0)
    assert check["time"] and check["hidden"] == pytest.approx(0.9)
    assert check["jerk_lerobot"]
    assert "hidden_clean" not in check  # no phase split recorded

    def grasps(*attempts):
        return [PhaseSplit((0.0,) * 4, (0.0,) * 4, a, 0, True) for a in attempts]

    sync.phases["test"], ours.phases["test"] = grasps(1, 2, 1), grasps(1, 1, 1)
    check = acceptance([sync, ours], {})[0]
    assert check["clean_paired_episodes"] == 1  # the second sync episode re-grasped
    assert check["hidden_clean"] == pytest.approx(0.9)  # 8.0 -> 7.1 of its 1 s wait
    sync.results["test"][0] = dataclasses.replace(sync.results["test"][0], held_motion_ticks=15)
    check = acceptance([sync, ours], {})[0]
    assert check["hidden_of_standstill"] == pytest.approx(0.9 / 0.75)  # 45 of 60 ticks still


def test_acceptance_success_needs_overlapping_intervals_on_every_set():
    sync = _run("sync", [result(done=8.0, idle=30, first=10)] * 20)
    worse = _run("latency_aware+crossfade", [result(success=False)] * 15 + [result()] * 5)
    assert not acceptance([sync, worse], {})[0]["success"]  # 5/20 vs 20/20: apart
    close = _run("latency_aware+crossfade", [result(success=False)] * 2 + [result()] * 18)
    sync.results["validation"] = [result()] * 10
    close.results["validation"] = [result(success=False)] * 8 + [result()] * 2
    check = acceptance([sync, close], {})[0]
    assert not check["success"]  # test 18/20 vs 20/20 overlap; held-out 2/10 vs 10/10 do not


def test_markdown_table_formats_cells_and_checks_widths():
    table = markdown_table(
        ["a", "b", "c", "d"], [["x", 1.23456, None, True], ["y", 12345.6, 3, False]]
    )
    assert table.splitlines() == [
        "| a | b | c | d |",
        "|---|---|---|---|",
        "| x | 1.23 | — | yes |",
        "| y | 12346 | 3 | **no** |",
    ]
    with pytest.raises(ValueError, match="2 cells, the table 4 columns"):
        markdown_table(["a", "b", "c", "d"], [[1, 2]])


def test_episode_result_trajectory_is_not_in_the_summary():
    r = result()
    assert "commanded" not in r.summary() and isinstance(r.commanded, np.ndarray)


@pytest.mark.parametrize(
    ("successes", "episodes", "interval"),
    [  # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (Wilson score)
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
        (10, 10, (0.7225, 1.0)),
    ],
)
def test_wilson_interval_matches_published_values(successes, episodes, interval):
    assert wilson_interval(successes, episodes) == pytest.approx(interval, abs=5e-5)


def test_wilson_interval_rejects_impossible_counts_and_shows_in_summaries():
    with pytest.raises(ValueError, match="0 <= successes <= episodes >= 1, got 3/2"):
        wilson_interval(3, 2)
    with pytest.raises(ValueError, match="got 0/0"):
        wilson_interval(0, 0)
    lo, hi = wilson_interval(17, 20)
    assert lo < 0.85 < hi and hi - lo > 0.3  # twenty episodes: ±15 points, as DESIGN §6 says


def test_summary_rows_give_each_set_and_global_success_with_its_interval():
    test = summarize([result(), result(success=False, ticks=900)])
    validation = summarize([result()])
    everything = summarize([result(), result(success=False, ticks=900), result()])
    headers = summary_headers(["test", "validation"])
    rows = summary_rows({"sync": {"test": test, "validation": validation, "all": everything}})
    assert headers[:4] == [
        "mode",
        "test success",
        "validation (held-out) success",
        "global success",
    ]
    assert rows[0][1:4] == ["1/2 = 0.50 [0.09, 0.91]", "1/1 = 1.00 [0.21, 1.00]",
                            "2/3 = 0.67 [0.21, 0.94]"]  # fmt: skip
    assert "| `sync` | 1/2 = 0.50 [0.09, 0.91] |" in markdown_table(headers, rows)
    assert everything.to_dict()["success_ci95"] == list(wilson_interval(2, 3))
