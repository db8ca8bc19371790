"""Every command's `--policy` takes a learned checkpoint: a tiny ACT trained by `edgevla train`
on a synthetic dataset with the sim's cameras, and a tiny random SmolVLA, through eval,
select, run and bench async (serve and `run --server`: tests/serve/test_serve_cli.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgevla.cli import main
from edgevla.features import CAMERAS

pytestmark = pytest.mark.timeout(300)

EPISODE = ["--max-seconds", "0.5"]  # 15 ticks: the plumbing, not the task
ONE_CLUSTER = ["--clusters", "1", "--holdout", "none", "--sets", "test", "--no-progress"]


@pytest.fixture(scope="module")
def act_run(tmp_path_factory) -> Path:
    from edgevla.dataset.synthetic import write_synthetic_dataset

    root = tmp_path_factory.mktemp("act")
    dataset = root / "ds"
    write_synthetic_dataset(dataset, lengths=(12, 9), cameras={c: (32, 32) for c in CAMERAS})
    run = root / "run"
    tiny = ["dim_model=32", "n_heads=2", "dim_feedforward=64", "n_encoder_layers=1",
            "n_vae_encoder_layers=1", "latent_dim=4", "chunk_size=10", "n_action_steps=10"]  # fmt: skip
    argv = ["train", "--policy", "act", "--dataset", str(dataset), "--out", str(run),
            "--steps", "2", "--batch-size", "2", "--save-every", "2", "--num-threads", "1",
            "--no-progress"]  # fmt: skip
    for item in tiny:
        argv += ["--set", item]
    assert main(argv) == 0
    return run


@pytest.fixture(scope="module")
def smolvla_dir(tmp_path_factory) -> Path:
    from edgevla.policies.testing import tiny_smolvla_checkpoint

    return tiny_smolvla_checkpoint(tmp_path_factory.mktemp("smolvla") / "pretrained_model")


@pytest.fixture(params=["act", "smolvla"])
def checkpoint(request, act_run, smolvla_dir) -> Path:
    if request.param == "act":
        return act_run / "checkpoints" / "last" / "pretrained_model"
    return smolvla_dir


def test_eval_runs_a_checkpoint(checkpoint, tmp_path, capsys):
    out = tmp_path / "eval"
    assert (
        main(["eval", "--policy", str(checkpoint), *ONE_CLUSTER, *EPISODE, "--out", str(out)]) == 0
    )
    report = json.loads((out / "eval.json").read_text())
    assert len(report["successes"]["test"]) == 2


def test_select_evaluates_a_runs_checkpoints(act_run, capsys):
    assert main(["select", "--run", str(act_run), *ONE_CLUSTER, *EPISODE]) == 0
    assert "selected: step 2" in capsys.readouterr().out


def test_run_in_process_runs_a_checkpoint(checkpoint, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--policy", str(checkpoint), "--latency", "0.1", *EPISODE, "--out", str(out)]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert len(results["episodes"]) == 1 and results["episodes"][0]["ticks"] == 15


def test_bench_async_runs_a_checkpoint(checkpoint, tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["bench", "async", "--policy", str(checkpoint), "--latency", "0.1",
            "--actions-per-chunk", "5", "--modes", "sync", "latency_aware+crossfade",
            "--sets", "test", "--episodes", "1", *EPISODE, "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert len(results["modes"]) == 2
