"""LeRobot itself loads what we write (runs only where a Python with lerobot 0.4.4 is named by
EDGEVLA_LEROBOT_PYTHON; see tools/check_with_lerobot.py for how to make one)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from edgevla.dataset.synthetic import write_synthetic_dataset

LEROBOT_PYTHON = os.environ.get("EDGEVLA_LEROBOT_PYTHON")
TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_with_lerobot.py"


def _check_with_lerobot(root: Path, frames: int) -> None:
    """LeRobot's own LeRobotDataset loads `root` and its frames equal ours (the tool's check)."""
    run = subprocess.run(
        [LEROBOT_PYTHON, str(TOOL), str(root), "--frames", str(frames)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "OK: LeRobot reads the dataset without conversion" in run.stdout


@pytest.mark.slow
@pytest.mark.skipif(not LEROBOT_PYTHON, reason="EDGEVLA_LEROBOT_PYTHON is not set")
@pytest.mark.parametrize("codec", ["libsvtav1", "libx264"])
def test_lerobot_reads_our_dataset_without_conversion(tmp_path, codec):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, lengths=(15, 12), cameras={"top": (48, 64)}, codec=codec)
    _check_with_lerobot(root, frames=27)


@pytest.mark.slow
@pytest.mark.skipif(not LEROBOT_PYTHON, reason="EDGEVLA_LEROBOT_PYTHON is not set")
@pytest.mark.parametrize("policy", [[], ["--policy", "scripted"]], ids=["expert", "rollouts"])
def test_lerobot_reads_a_recording_made_through_the_control_loop(tmp_path, policy):
    from edgevla.cli import main

    root = tmp_path / "ds"
    assert main(["record", "--out", str(root), "--clusters", "1,2", "--holdout", "2",
                 "--episodes-per-cluster", "1", "--recovery-per-cluster", "1",
                 "--resolution", "64x48", "--no-progress", *policy]) == 0  # fmt: skip
    _check_with_lerobot(root, frames=60)
