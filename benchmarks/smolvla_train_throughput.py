"""SmolVLA training throughput (samples/s) on this machine's CPU, for a reduced SmolVLA: the real
SmolVLM2-500M vision tower and widths, 4 text layers (and a 4-layer expert), 3 cameras at
256x256, chunk 50, batch 4, LeRobot's fine-tuning defaults (VLM frozen, expert + projections
trained with AdamW, gradient clipping at 10).

    .venv/bin/python benchmarks/smolvla_train_throughput.py [--steps 3] [--batch-size 4] [--size 256]

256 px rather than 224: SmolVLM's 16 px patches and x4 pixel shuffle need a multiple of 64.
Batches are random tensors of the dataset's shapes, so this measures the model, not data loading.
One warm-up step is not timed. Random weights; a word-level stand-in tokenizer (no download).
"""

from __future__ import annotations

import argparse
import time

import torch

from edgevla.features import CAMERAS, DEFAULT_TASK
from edgevla.policies.smolvla import (
    SmolVLAConfig,
    SmolVLAPolicy,
    build_word_tokenizer,
)
from edgevla.policies.types import FeatureType, PolicyFeature


def reduced_policy(size: int, layers: int) -> SmolVLAPolicy:
    inputs = {
        f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, size, size))
        for c in CAMERAS
    }
    inputs["observation.state"] = PolicyFeature(FeatureType.STATE, (6,))
    config = SmolVLAConfig(
        input_features=inputs,
        output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))},
        num_vlm_layers=layers,
        resize_imgs_with_padding=(size, size),
    )
    stats = {key: {"mean": [0.0] * 6, "std": [1.0] * 6} for key in ("observation.state", "action")}
    return SmolVLAPolicy(config, stats, tokenizer=build_word_tokenizer(49280))


def random_batch(policy: SmolVLAPolicy, batch_size: int, size: int, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    batch = {
        f"observation.images.{c}": torch.rand(batch_size, 3, size, size, generator=gen)
        for c in CAMERAS
    }
    batch["observation.state"] = torch.randn(batch_size, 6, generator=gen)
    batch["action"] = torch.randn(batch_size, policy.config.chunk_size, 6, generator=gen)
    batch["task"] = [DEFAULT_TASK] * batch_size
    return policy.preprocessor.normalize(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="image side, a multiple of 64")
    parser.add_argument("--layers", type=int, default=4, help="VLM text layers kept")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    policy = reduced_policy(args.size, args.layers)
    config = policy.config
    trainable = sum(p.numel() for g in policy.optim_param_groups() for p in g["params"])
    total = sum(p.numel() for p in policy.parameters())
    optimizer = torch.optim.AdamW(
        policy.optim_param_groups(),
        lr=config.optimizer_lr,
        betas=config.optimizer_betas,
        eps=config.optimizer_eps,
        weight_decay=config.optimizer_weight_decay,
    )
    print(
        f"reduced SmolVLA: {args.layers} VLM layers, {total / 1e6:.0f} M parameters "
        f"({trainable / 1e6:.0f} M trained), 3 cameras {args.size}x{args.size}, chunk "
        f"{config.chunk_size}, batch {args.batch_size}, {torch.get_num_threads()} CPU threads"
    )
    policy.train()
    times = []
    for step in range(args.steps + 1):
        batch = random_batch(policy, args.batch_size, args.size, seed=step)
        start = time.perf_counter()
        loss, _ = policy(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            optimizer.param_groups[0]["params"], config.optimizer_grad_clip_norm
        )
        optimizer.step()
        if step:  # the first step warms up
            times.append(time.perf_counter() - start)
        print(f"  step {step}: loss {loss.item():.4f}, {time.perf_counter() - start:.2f} s")
    seconds = sum(times)
    print(
        f"training throughput: {args.batch_size * len(times) / seconds:.2f} samples/s "
        f"({seconds / len(times):.2f} s per step of {args.batch_size})"
    )


if __name__ == "__main__":
    main()
