"""`edgevla bench async` and `edgevla run` end to end on tiny runs."""

from __future__ import annotations

import json

import pytest

from edgevla.cli import main


@pytest.mark.slow  # ~4 s alone, more on a busy machine
def test_bench_async_on_a_two_episode_subset_writes_md_json_and_plots(tmp_path, capsys):
    out = tmp_path / "bench"
    modes = ["sync", "latency_aware+crossfade", "latency_aware+weighted_average"]
    code = main(
        ["bench", "async", "--latency", "0.32", "--actions-per-chunk", "100", "--episodes", "1",
         "--sets", "test,validation", "--modes", *modes, "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "| `latency_aware+crossfade` |" in printed and "## Acceptance" in printed
    data = json.loads((out / "results.json").read_text())
    assert [m["mode"] for m in data["modes"]] == modes
    sync, fade, _ = data["modes"]
    assert sync["summary"]["all"]["episodes"] == 2
    assert [e["set"] for e in sync["episodes"]] == ["test", "validation"]
    assert sync["summary"]["test"]["success_rate"] == 1.0
    # The scripted expert: one grasp, no drop, time in every phase (sync waits in reach).
    first = sync["episodes"][0]
    assert first["grasp_attempts"] == 1 and first["drops"] == 0
    assert first["transport_s"] > 0 and sync["phases"]["reach_wait_s"] > 0
    assert fade["runtime"]["trigger"] == "latency_aware" and fade["runtime"]["align"] == "state"
    assert data["feasibility"]["100"]["feasible"] is True
    check = next(c for c in data["acceptance"] if c["mode"] == "latency_aware+crossfade")
    assert check["success"] and check["no_starvation"] and check["jerk"]
    config = json.loads((out / "config.json").read_text())
    assert config["latency"] == "0.32" and config["episodes_per_set"] == 1
    md = (out / "results.md").read_text()
    assert "![queue_sync.png](queue_sync.png)" in md and "feasible     yes" in md
    assert "## Where the time goes (phase split)" in md and "transport s (wait)" in md
    for name in ("queue_sync.png", "queue_latency_aware_crossfade.png", "trajectories.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_async_rejects_bad_modes_and_sets_in_one_line(tmp_path, capsys):
    assert (
        main(["bench", "async", "--latency", "0.3", "--modes", "warp", "--out", str(tmp_path)]) == 2
    )
    assert "run mode 'warp': unknown trigger 'warp'" in capsys.readouterr().err
    assert main(["bench", "async", "--latency", "0.3", "--modes", "latency aware"]) == 2
    assert "cannot read run mode 'latency aware'" in capsys.readouterr().err
    assert main(["bench", "async", "--latency", "0.3", "--sets", "train"]) == 2
    assert "sets must be some of ['test', 'validation']" in capsys.readouterr().err
    assert main(["bench", "async", "--latency", "fast"]) == 2
    assert "cannot read latency 'fast'" in capsys.readouterr().err


def test_run_in_process_in_virtual_time_writes_results_and_queue_plot(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        ["run", "--latency", "imx95-act-optimized", "--actions-per-chunk", "80",
         "--chunk-size-threshold", "0.2", "--aggregate", "weighted_average", "--episodes", "2",
         "--plot-queue", str(tmp_path / "queue.png"), "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "2/2 succeeded; mode threshold + weighted_average (virtual clock)" in printed
    assert (tmp_path / "queue_ep0.png").is_file() and (tmp_path / "queue_ep1.png").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["runtime"]["threshold"] == 0.2 and config["runtime"]["actions_per_chunk"] == 80
    results = json.loads((out / "results.json").read_text())
    assert results["summary"]["successes"] == 2 and len(results["episodes"]) == 2


def test_run_with_warm_start_has_no_first_wait(tmp_path):
    out = tmp_path / "run"
    argv = ["run", "--latency", "1.0", "--trigger", "sync", "--episodes", "1", "--out", str(out)]
    assert main([*argv, "--warm-start"]) == 0
    warm = json.loads((out / "results.json").read_text())["episodes"][0]
    assert main(argv) == 0
    cold = json.loads((out / "results.json").read_text())["episodes"][0]
    assert json.loads((out / "config.json").read_text())["runtime"]["warm_start"] is False
    assert warm["success"] and cold["success"]
    assert warm["first_wait_ticks"] == 0 and cold["first_wait_ticks"] == 30
    assert warm["idle_ticks"] == cold["idle_ticks"] - 30


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--server", "127.0.0.1:1", "--latency", "0.3"], "a server's latency is real"),
        (["--wall-clock"], "--wall-clock needs --latency"),
        (["--trigger", "sync", "--chunk-size-threshold", "0.6"], "drop --trigger"),
        (["--policy", "nope"], "--policy 'nope': not a known kind"),
        (["--episodes", "0"], "--episodes must be >= 1"),
        (
            ["--set", "validation", "--clusters", "1", "--holdout", "none"],
            "validation set is empty",
        ),
        (["--env", "lerobot:so101_follower"], "LeRobot robot adapter is not implemented yet"),
        (["--holdout", "3"], "--holdout goes with --clusters"),
    ],
)
def test_run_rejects_bad_flags_in_one_line(argv, message, capsys):
    assert main(["run", *argv]) == 2
    assert message in capsys.readouterr().err


def test_eval_of_a_checkpoint_whose_dataset_is_elsewhere_asks_for_the_clusters(tmp_path, capsys):
    import shutil
    from pathlib import Path

    demo = Path(__file__).resolve().parents[2] / "demo" / "act-teabag"
    moved = tmp_path / "ckpt"
    shutil.copytree(demo, moved)
    config = json.loads((moved / "train_config.json").read_text())
    config["dataset"] = str(tmp_path / "gone")
    (moved / "train_config.json").write_text(json.dumps(config))
    assert main(["eval", "--policy", str(moved), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"trained on {tmp_path / 'gone'}, which is not on this machine" in err
    assert "--clusters and --holdout" in err
