"""Checkpoint selection by closed-loop success, and the protocol runner behind it."""

import json
from pathlib import Path

import pytest

from edgevla.cli import main
from edgevla.evaluate.protocol import ProtocolConfig, run_protocol
from edgevla.evaluate.selection import Evaluated, best


def _e(step, g, v, loss):
    return Evaluated(
        step,
        Path(f"/runs/x/{step}"),
        {"global_accuracy": g, "validation_accuracy": v, "loss": loss},
    )


def test_best_global_success_wins_and_validation_breaks_ties_never_loss():
    evaluated = [
        _e(1000, 0.6, 0.4, loss=0.01),
        _e(2000, 0.8, 0.5, loss=0.30),
        _e(3000, 0.8, 0.7, loss=0.5),
    ]
    assert best(evaluated).step == 3000
    assert best([_e(1000, 0.5, 0.5, 0.1), _e(2000, 0.5, 0.5, 0.0)]).step == 1000  # then earlier


@pytest.mark.slow
def test_protocol_counts_test_and_validation_episodes_with_the_scripted_policy():
    from edgevla.sim.scripted_policy import ScriptedChunkPolicy

    result = run_protocol(ScriptedChunkPolicy(), ProtocolConfig((1,), 2, max_seconds=20.0))
    row = result.row()
    assert row["test_episodes"] == 2 and row["validation_episodes"] == 10
    assert row["test_accuracy"] == 1.0 and row["global_accuracy"] >= 0.9
    assert len(result.latency_s) >= 12


@pytest.mark.slow
def test_protocol_in_worker_processes_equals_one_process():
    from edgevla.sim.scripted_policy import ScriptedChunkPolicy

    config = ProtocolConfig((1, 2, 3), None, sets=("test",), max_seconds=20.0)
    one = run_protocol(ScriptedChunkPolicy(), config)
    seen = []
    two = run_protocol(
        ScriptedChunkPolicy(),
        config,
        lambda name, i, ok: seen.append((name, i)),
        workers=2,
        source="scripted",
    )
    assert len(one.successes["test"]) == 6 and any(one.successes["test"])
    assert two.successes == one.successes and two.completion_s == one.completion_s
    assert seen == [("test", i) for i in range(6)]
    assert len(two.latency_s) == len(one.latency_s)
    with pytest.raises(ValueError, match="needs `source`"):
        run_protocol(ScriptedChunkPolicy(), config, workers=2)


@pytest.mark.slow
def test_select_evaluates_every_checkpoint_and_links_the_chosen_one(tmp_path, capsys):
    data = tmp_path / "ds"
    assert main(["record", "--out", str(data), "--clusters", "1,2", "--holdout", "2",
                 "--episodes-per-cluster", "1", "--recovery-per-cluster", "0",
                 "--resolution", "32x32", "--no-progress"]) == 0  # fmt: skip
    run = tmp_path / "run"
    assert main(["train", "--policy", "act", "--dataset", str(data), "--out", str(run),
                 "--steps", "2", "--save-every", "1", "--batch-size", "2", "--cameras", "top",
                 "--set", "dim_model=32", "--set", "n_heads=2", "--set", "dim_feedforward=32",
                 "--set", "n_encoder_layers=1", "--set", "n_vae_encoder_layers=1",
                 "--set", "chunk_size=10", "--set", "n_action_steps=10",
                 "--no-progress"]) == 0  # fmt: skip
    assert main(["select", "--run", str(run), "--max-seconds", "1", "--no-progress"]) == 0
    selection = json.loads((run / "selection.json").read_text())
    assert [c["step"] for c in selection["checkpoints"]] == [1, 2]
    assert all(
        c["test_episodes"] == 2 and c["validation_episodes"] == 10 for c in selection["checkpoints"]
    )
    chosen = (run / "checkpoints" / "selected").resolve()
    assert chosen.name == Path(selection["selected"]["path"]).name
    assert (
        "loss" not in selection["rule"]
        or "never" in selection["rule"]
        or "accuracy" in selection["rule"]
    )
    ship = tmp_path / "ship"
    assert main(["select", "--run", str(run), "--steps", "2", "--sets", "test",
                 "--max-seconds", "1", "--copy-to", str(ship), "--dtype", "float16",
                 "--no-progress"]) == 0  # fmt: skip
    assert (ship / "config.json").read_text() == (
        run / "checkpoints" / "000002" / "pretrained_model" / "config.json"
    ).read_text()
    only = json.loads((run / "selection.json").read_text())
    assert [c["step"] for c in only["checkpoints"]] == [2] and only["selected"]["path"].endswith(
        "2"
    )
    assert main(["select", "--run", str(run), "--steps", "2,5", "--no-progress"]) == 2
    assert "no checkpoints for steps [5]; it has 1, 2" in capsys.readouterr().err
