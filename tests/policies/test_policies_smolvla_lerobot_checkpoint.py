"""Checkpoints LeRobot 0.6.1 itself saves (ACT, SmolVLA) predict LeRobot's own chunk through the
registry, and SmolVLA's loss and trainable parameters match LeRobot's. Runs only where a Python
with lerobot 0.6.1 is named by EDGEVLA_LEROBOT_PYTHON; see tools/check_checkpoint_with_lerobot.py
for how to make one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LEROBOT_PYTHON = os.environ.get("EDGEVLA_LEROBOT_PYTHON")
TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_checkpoint_with_lerobot.py"


@pytest.mark.slow
@pytest.mark.skipif(not LEROBOT_PYTHON, reason="EDGEVLA_LEROBOT_PYTHON is not set")
def test_lerobot_saved_checkpoints_predict_lerobot_s_chunks(tmp_path):
    run = subprocess.run(
        [sys.executable, str(TOOL), "--out", str(tmp_path), "--lerobot-python", LEROBOT_PYTHON],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "OK: edgevla predicts LeRobot's chunks" in run.stdout
    for name in ("act", "smolvla", "smolvla_vlm_trains"):
        assert f"ok    {name}: chunk max abs diff" in run.stdout
