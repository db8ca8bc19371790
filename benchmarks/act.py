"""ACT on this CPU, PyTorch eager: training throughput (samples/s) and predict_chunk latency,
for the demo ACT (three 64x64 cameras, demo/act_demo_overrides.json) — the baselines the
ONNX export must beat.

    .venv/bin/python benchmarks/act.py [--image 64] [--batch-size 8] [--threads 2]

Random weights and synthetic frames: the numbers depend on shapes, not on training.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from edgevla.features import CAMERAS, image_key
from edgevla.policies.act.config import ACTConfig
from edgevla.policies.act.policy import ACTPolicy
from edgevla.policies.chunk_policy import TorchChunkPolicy
from edgevla.policies.types import FeatureType, PolicyFeature

OVERRIDES = Path(__file__).resolve().parent.parent / "demo" / "act_demo_overrides.json"


def demo_policy(image: int) -> ACTPolicy:
    inputs = {"observation.state": PolicyFeature(FeatureType.STATE, (6,))}
    for cam in CAMERAS:
        inputs[image_key(cam)] = PolicyFeature(FeatureType.VISUAL, (3, image, image))
    outputs = {"action": PolicyFeature(FeatureType.ACTION, (6,))}
    overrides = json.loads(OVERRIDES.read_text())
    config = ACTConfig(
        input_features=inputs,
        output_features=outputs,
        pretrained_backbone_weights=None,
        **overrides,
    )
    stats = {
        k: {
            "mean": np.zeros(f.shape[:1] + (1, 1) if f.type is FeatureType.VISUAL else f.shape),
            "std": np.ones(f.shape[:1] + (1, 1) if f.type is FeatureType.VISUAL else f.shape),
        }
        for k, f in {**inputs, **outputs}.items()
    }
    return ACTPolicy(config, stats=stats)


def train_throughput(
    policy: ACTPolicy, image: int, batch: int, steps: int, fused: bool, bf16: bool
) -> float:
    chunk = policy.config.chunk_size
    data = {
        "observation.state": torch.randn(batch, 6),
        "action": torch.randn(batch, chunk, 6),
        "action_is_pad": torch.zeros(batch, chunk, dtype=torch.bool),
        **{image_key(c): torch.rand(batch, 3, image, image) for c in CAMERAS},
    }
    opt = torch.optim.AdamW(policy.optim_param_groups(), lr=1e-4, fused=fused)
    policy.train()
    times = []
    for i in range(steps + 2):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _ = policy(data)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return batch / float(np.median(times))


def optimizer_step_ms(policy: ACTPolicy, fused: bool, steps: int) -> float:
    """One AdamW step over the demo ACT's parameters, gradients random."""
    for p in policy.parameters():
        p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW(policy.optim_param_groups(), lr=1e-9, fused=fused)
    times = []
    for i in range(steps + 2):
        start = time.perf_counter()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - start)
    policy.zero_grad(set_to_none=True)
    return float(np.median(times)) * 1000


def latency(policy: ACTPolicy, image: int, runs: int) -> list[float]:
    chunk_policy = TorchChunkPolicy(policy)
    rng = np.random.default_rng(0)
    obs = {"observation.state": np.zeros(6, np.float32)}
    for cam in CAMERAS:
        obs[image_key(cam)] = rng.integers(0, 255, (image, image, 3), dtype=np.uint8)
    out = []
    for i in range(runs + 2):
        start = time.perf_counter()
        chunk_policy.predict_chunk(obs)
        if i >= 2:
            out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    policy = demo_policy(args.image)
    params = sum(p.numel() for p in policy.parameters()) / 1e6
    print(
        f"demo ACT: {params:.1f} M parameters, 3 cameras {args.image}x{args.image}, {args.threads} threads"
    )
    loop_ms = optimizer_step_ms(policy, fused=False, steps=args.steps)
    fused_ms = optimizer_step_ms(policy, fused=True, steps=args.steps)
    print(
        f"AdamW step: per-parameter loop {loop_ms:.1f} ms, fused {fused_ms:.1f} ms "
        f"(ratio {loop_ms / fused_ms:.1f}x; the trainer uses fused)"
    )
    for bf16 in (False, True):
        sps = train_throughput(policy, args.image, args.batch_size, args.steps, True, bf16)
        print(
            f"training ({'bf16 autocast' if bf16 else 'fp32'}, fused AdamW): {sps:.1f} samples/s "
            f"(batch {args.batch_size}, median of {args.steps} steps)"
        )
    lat = np.asarray(latency(policy, args.image, args.runs)) * 1000
    print(
        f"predict_chunk (eager): p50 {np.median(lat):.1f} ms, p90 {np.percentile(lat, 90):.1f} ms over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
