"""A bundle is a policy source for `edgevla eval` like a checkpoint (closed loop in the sim)."""

from __future__ import annotations

import json

import pytest

from edgevla.cli import main


@pytest.mark.slow  # the sim, closed loop: a few seconds
def test_eval_runs_a_bundle_through_sources(fp32_bundle, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["eval", "--policy", str(fp32_bundle), "--clusters", "1", "--holdout", "none",
            "--sets", "test", "--episodes-per-cluster", "1", "--max-seconds", "0.3",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads((out / "eval.json").read_text())
    assert "test" in json.dumps(result)
