"""Export of a checkpoint with no dataset at hand (one LeRobot saved, downloaded alone): parity
on synthetic frames inside the checkpoint's statistics, and recipes that calibrate refused with
a message saying what to pass. (The FP32 export itself: test_policies_act_lerobot_golden_bundle.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgevla.cli import main
from edgevla.contracts import PolicySpec
from edgevla.export import ExportConfig, export_bundle
from edgevla.export.frames import synthetic_observations


def test_synthetic_frames_have_the_policy_shapes_and_stay_in_the_state_range():
    spec = PolicySpec(chunk_size=4, cameras=("top", "wrist"), image_shape=(24, 40), state_dim=3)
    low, high = np.array([-1.0, 0.0, 5.0]), np.array([1.0, 0.5, 6.0])
    frames = synthetic_observations(spec, (low, high), count=3)
    assert len(frames) == 3
    for frame in frames:
        for key in ("observation.images.top", "observation.images.wrist"):
            assert frame[key].shape == (24, 40, 3) and frame[key].dtype == np.uint8
            assert frame[key].std() > 20  # texture, not a flat image
        state = frame["observation.state"]
        assert state.dtype == np.float32 and np.all((state >= low) & (state <= high))
    assert not np.array_equal(frames[0]["observation.state"], frames[1]["observation.state"])
    again = synthetic_observations(spec, (low, high), count=3)
    assert np.array_equal(
        again[2]["observation.images.wrist"], frames[2]["observation.images.wrist"]
    )


def test_a_calibrating_recipe_without_dataset_is_refused_before_any_work(tmp_path):
    out = tmp_path / "bundle"
    with pytest.raises(ValueError, match=r"recipe 'optimized' calibrates \* \(int8-static\) on "
                       r"dataset frames; pass --dataset DIR"):  # fmt: skip
        export_bundle(ExportConfig(tmp_path / "no-checkpoint", out, None, recipe="optimized"))
    assert not out.exists()


def test_cli_names_the_missing_dataset_and_what_to_pass(tiny_export_inputs, tmp_path, capsys):
    checkpoint, _ = tiny_export_inputs
    alone = tmp_path / "act"
    alone.mkdir()
    for item in checkpoint.iterdir():
        (alone / item.name).write_bytes(item.read_bytes())
    gone = tmp_path / "gone"
    (alone / "train_config.json").write_text(json.dumps({"dataset": str(gone)}))
    code = main(["export", "--policy", str(alone), "--out", str(tmp_path / "b"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"note: no dataset (the checkpoint's dataset {gone} is not here)" in err
    assert "recipe 'optimized' calibrates" in err and "pass --dataset DIR" in err
