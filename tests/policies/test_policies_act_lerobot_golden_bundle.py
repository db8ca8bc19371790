"""The golden ACT (act_lerobot_golden, conditioned weights: the plain ones are too ill-conditioned
for any float32 kernel but torch's own) saved alone in LeRobot's layout, exported by
`edgevla export --recipe fp32` with no dataset beside it, and run by onnxruntime through the
policy registry: its chunk is LeRobot 0.4.4's own, to FP32 tolerance. (No LeRobot needed;
tools/check_checkpoint_with_lerobot.py does the same against LeRobot itself.)"""

from __future__ import annotations

import json

import numpy as np
from act_lerobot_golden import LEROBOT_CHUNK_CONDITIONED, golden_policy

from edgevla.cli import main
from edgevla.policies.checkpoint import save_pretrained
from edgevla.runtime.bundle import BundlePolicy
from edgevla.sources import resolve_policy

RTOL = 1e-4  # FP32 ONNX vs torch, of the chunk's scale


def test_fp32_bundle_of_golden_act_predicts_lerobot_chunk(tmp_path, capsys):
    policy, obs = golden_policy(conditioned=True)
    checkpoint = save_pretrained(policy, tmp_path / "pretrained_model")
    bundle = tmp_path / "bundle"
    argv = ["export", "--policy", str(checkpoint), "--out", str(bundle), "--recipe", "fp32",
            "--fps", "15", "--parity-frames", "2", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert "note: no dataset (the checkpoint names none)" in capsys.readouterr().err
    assert json.loads((bundle / "export_config.json").read_text())["dataset"] is None

    source = resolve_policy(str(bundle))
    assert isinstance(source, BundlePolicy)
    assert source.spec.fps == 15
    chunk = source.predict_chunk(obs).actions
    want = np.array(LEROBOT_CHUNK_CONDITIONED, dtype=np.float32)
    assert chunk.shape == want.shape
    assert np.abs(chunk - want).max() <= RTOL * np.abs(want).max()
    # the manifest's own end-to-end parity (bundle vs torch, synthetic frames) is FP32-tight too
    assert (
        json.loads((bundle / "manifest.json").read_text())["parity"]["end_to_end"]["max_rel"] < RTOL
    )
