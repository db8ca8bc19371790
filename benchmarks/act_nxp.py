"""An NXP-sized ACT on this CPU: LeRobot's default ACT architecture (ResNet-18, d_model 512,
FF 3200, 4 encoder / 1 decoder layers, chunk 100), three 640x480 cameras, random weights —
the model the NXP report ran on the i.MX95 (2.86 s ONNX FP32 there, 0.32 s optimized).

    .venv/bin/python benchmarks/act_nxp.py --out /tmp/nxp            # checkpoint + frames
    edgevla export --policy /tmp/nxp/checkpoint --dataset /tmp/nxp/frames --recipe fp32 \
        --out /tmp/nxp/fp32
    edgevla export --policy /tmp/nxp/checkpoint --dataset /tmp/nxp/frames --out /tmp/nxp/opt
    edgevla bench latency --policy /tmp/nxp/fp32 --compare /tmp/nxp/checkpoint \
        --dataset /tmp/nxp/frames --runs 10
    edgevla bench latency --policy /tmp/nxp/opt --compare /tmp/nxp/checkpoint \
        --dataset /tmp/nxp/frames --runs 10

It writes the checkpoint in LeRobot's layout (normalization statistics from the frames, so
int8 calibration sees real value ranges) and records `frames`: a short 640x480 sim recording
that the export's parity gate, int8-static's calibration and the latency runs read. Latency
depends on shapes, not on training, so random weights are honest here; success is not measured.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from edgevla.dataset.reader import DatasetReader
from edgevla.features import ACTION_KEY, CAMERAS, STATE_KEY, image_key
from edgevla.policies.act.config import ACTConfig
from edgevla.policies.act.policy import ACTPolicy
from edgevla.policies.checkpoint import save_pretrained
from edgevla.policies.types import FeatureType, PolicyFeature

WIDTH, HEIGHT = 640, 480


def record_frames(root: Path) -> None:
    """Two short sim episodes at 640x480: real images for calibration and parity."""
    cmd = [
        sys.executable, "-m", "edgevla.cli", "record", "--out", str(root), "--clusters", "1", "--holdout", "none",
        "--episodes-per-cluster", "2", "--recovery-per-cluster", "0",
        "--resolution", f"{WIDTH}x{HEIGHT}", "--max-seconds", "4", "--no-progress",
    ]  # fmt: skip
    subprocess.run(cmd, check=True)


def nxp_policy(frames: Path, seed: int) -> ACTPolicy:
    """LeRobot's ACT defaults; statistics from the recorded frames' own stats."""
    stats_file = DatasetReader.open(frames).stats
    inputs = {STATE_KEY: PolicyFeature(FeatureType.STATE, (6,))}
    for cam in CAMERAS:
        inputs[image_key(cam)] = PolicyFeature(FeatureType.VISUAL, (3, HEIGHT, WIDTH))
    outputs = {ACTION_KEY: PolicyFeature(FeatureType.ACTION, (6,))}
    config = ACTConfig(
        input_features=inputs, output_features=outputs, pretrained_backbone_weights=None
    )
    stats = {
        k: {s: np.asarray(v, dtype=np.float32) for s, v in stats_file[k].items()}
        for k in (*inputs, *outputs)
    }
    torch.manual_seed(seed)
    return ACTPolicy(config, stats=stats).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frames = args.out / "frames"
    if not (frames / "meta" / "info.json").exists():
        record_frames(frames)
    policy = nxp_policy(frames, args.seed)
    params = sum(p.numel() for p in policy.parameters()) / 1e6
    path = save_pretrained(policy, args.out / "checkpoint")
    print(
        f"NXP-sized ACT: {params:.1f} M parameters, 3 cameras {WIDTH}x{HEIGHT}, chunk 100 -> {path}"
    )


if __name__ == "__main__":
    main()
