"""The larger seeded evaluation set and `edgevla bench async` on it: reproducible starts, Wilson
intervals in every report, worker processes equal to one process, this machine's latency."""

from __future__ import annotations

import json

import pytest

from edgevla.cli import main
from edgevla.dataset.splits import evaluation_sets
from edgevla.evaluate.protocol import default_split, evaluation_starts
from edgevla.sim.clusters import cluster_by_id

TRAINING = (1, 2, 3, 4, 5, 7, 8, 9, 10, 11)


def test_the_larger_set_is_seeded_and_starts_with_the_nxp_sets():
    nxp = evaluation_sets(TRAINING, 6, seed=0)
    big = evaluation_starts(TRAINING, 6, seed=0, episodes_per_cluster=10)
    assert len(big["test"]) == 100 and len(big["validation"]) == 10
    assert big == evaluation_starts(TRAINING, 6, seed=0, episodes_per_cluster=10)
    assert big["test"] != evaluation_starts(TRAINING, 6, seed=1, episodes_per_cluster=10)["test"]
    for i, cluster in enumerate(TRAINING):  # the first two per cluster are the NXP test starts
        assert big["test"][10 * i : 10 * i + 2] == nxp["test"][2 * i : 2 * i + 2]
        assert {s.cluster for s in big["test"][10 * i : 10 * i + 10]} == {cluster}
    assert big["validation"] == nxp["validation"]
    assert evaluation_starts(TRAINING, 6) == nxp  # no K: the NXP sets


def test_more_held_out_episodes_than_numbered_positions_are_random_starts_in_its_cluster():
    sets = evaluation_starts((1,), 6, seed=2, episodes_per_cluster=14)
    validation = sets["validation"]
    assert len(sets["test"]) == 14 and len(validation) == 14
    assert validation[:10] == cluster_by_id(6).positions(2)
    assert all(s.cluster == 6 and cluster_by_id(6).contains(s.x, s.y) for s in validation)
    assert len({(s.x, s.y) for s in validation}) == 14
    assert evaluation_starts((1,), None, episodes_per_cluster=14)["validation"] == []
    with pytest.raises(ValueError, match="episodes per cluster must be >= 1, got 0"):
        evaluation_starts((1,), 6, episodes_per_cluster=0)


def test_the_default_split_is_the_recording_default():
    from edgevla.dataset.recording import RecordConfig

    training, holdout = default_split()
    assert holdout == RecordConfig().holdout and holdout not in training
    assert sorted((*training, holdout)) == sorted(RecordConfig().clusters)


def _bench(tmp_path, name: str, *extra: str) -> dict:
    out = tmp_path / name
    argv = ["bench", "async", "--clusters", "1-2", "--holdout", "none", "--sets", "test",
            "--episodes-per-cluster", "2", "--modes", "sync", "latency_aware+crossfade",
            "--out", str(out), "--no-progress", *extra]  # fmt: skip
    assert main(argv) == 0
    return json.loads((out / "results.json").read_text())


def _outcomes(data: dict) -> list:
    keep = ("success", "ticks", "idle_ticks", "starved_ticks", "inferences", "jerk")
    return [[{k: e[k] for k in keep} for e in m["episodes"]] for m in data["modes"]]


@pytest.mark.slow  # two spawned workers import the sim
def test_bench_in_two_worker_processes_equals_one_process(tmp_path):
    fast = ["--latency", "0.3", "--actions-per-chunk", "50", "--max-seconds", "3"]
    one = _bench(tmp_path, "one", *fast)
    two = _bench(tmp_path, "two", *fast, "--workers", "2")
    assert [len(m["episodes"]) for m in one["modes"]] == [4, 4]
    assert _outcomes(two) == _outcomes(one)
    assert (
        one["modes"][0]["summary"]["all"]["success_ci95"]
        == (two["modes"][0]["summary"]["all"]["success_ci95"])
    )


@pytest.mark.slow  # a tiny ACT in the closed loop: ~15 s
def test_bench_of_a_tiny_act_on_the_larger_set_at_this_machines_latency(tmp_path, capsys):
    from edgevla.policies.testing import tiny_act_checkpoint

    checkpoint = tiny_act_checkpoint(tmp_path / "act", image=(32, 32), chunk_size=10)
    data = _bench(tmp_path, "bench", "--policy", str(checkpoint), "--latency", "measured",
                  "--actions-per-chunk", "10", "--max-seconds", "0.5")  # fmt: skip
    printed = capsys.readouterr().out
    assert "test success | global success |" in printed
    assert "| `sync` | 0/4 = 0.00 [0.00, 0.49] | 0/4 = 0.00 [0.00, 0.49] |" in printed
    measured = json.loads((tmp_path / "bench" / "measured_latency.json").read_text())
    assert len(measured["latencies_s"]) == 40 and 0 < measured["p50_s"] <= measured["p95_s"]
    config = json.loads((tmp_path / "bench" / "config.json").read_text())
    assert config["latency"].endswith("measured_latency.json")
    assert config["episodes_per_cluster"] == 2 and config["holdout"] is None
    assert "40 measured samples" in data["latency"]
    sync = data["modes"][0]["summary"]
    assert sync["test"]["episodes"] == 4 and sync["test"]["success_ci95"] == [
        0.0,
        pytest.approx(0.49, abs=0.01),
    ]
    assert "the larger seeded set (2 random starts per training cluster" in (
        (tmp_path / "bench" / "results.md").read_text()
    )
