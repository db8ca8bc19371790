"""SmolVLA `predict_chunk` latency in PyTorch eager on this machine's CPU: full-size SmolVLA
(SmolVLM2-500M, 16 text layers, 0.75x expert) with random weights, 3 cameras at 512x512,
chunk 50, 10 flow steps - the baseline the exported blocks must beat.

    .venv/bin/python benchmarks/smolvla_latency.py [--runs 3] [--threads N] [--steps 10]

Prints the median end-to-end `predict_chunk` time and a per-stage breakdown (vision: 3 cameras
through SigLIP + connector; prefill: task/state embedding + 16 VLM layers -> KV cache; denoise:
the action expert, num_steps times), each the median over `--runs` runs after one warm-up.
Needs ~2 GB of RAM (fp32). The tokenizer is a word-level stand-in of the real vocabulary size:
the weights are random anyway, and nothing is downloaded.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from edgevla.features import CAMERAS, DEFAULT_TASK
from edgevla.policies.chunk_policy import TorchChunkPolicy
from edgevla.policies.smolvla import (
    SmolVLAConfig,
    SmolVLAPolicy,
    build_word_tokenizer,
)
from edgevla.policies.types import FeatureType, PolicyFeature

SIZE = 512


def full_size_policy(num_steps: int) -> SmolVLAPolicy:
    inputs = {
        f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, SIZE, SIZE))
        for c in CAMERAS
    }
    inputs["observation.state"] = PolicyFeature(FeatureType.STATE, (6,))
    config = SmolVLAConfig(
        input_features=inputs,
        output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))},
        num_steps=num_steps,
    )
    stats = {key: {"mean": [0.0] * 6, "std": [1.0] * 6} for key in ("observation.state", "action")}
    tokenizer = build_word_tokenizer(49280)
    return SmolVLAPolicy(config, stats, tokenizer=tokenizer).eval()


def observation(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    obs = {
        f"observation.images.{c}": rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        for c in CAMERAS
    }
    obs["observation.state"] = rng.normal(size=6).astype(np.float32)
    obs["task"] = DEFAULT_TASK
    return obs


def timed(fn):  # -> (seconds, result)
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


@torch.inference_mode()
def stage_times(policy: SmolVLAPolicy, chunk_policy: TorchChunkPolicy, obs: dict) -> dict:
    """One chunk split into the three stages, making the same calls as sample_actions."""
    model = policy.model
    batch = policy.preprocessor.normalize(chunk_policy.to_batch(obs))
    clock = time.perf_counter()
    images, img_masks = policy.prepare_images(batch)
    image_tokens = [model.embed_image(image) for image in images]
    vision = time.perf_counter() - clock

    clock = time.perf_counter()
    tokens, lang_masks = policy.prepare_language(batch)
    prefix, pad, att = model.embed_prefix_tokens(
        image_tokens, img_masks, tokens, lang_masks, policy.prepare_state(batch)
    )
    cache = model.prefill(prefix, pad, att)
    prefill = time.perf_counter() - clock

    shape = (1, policy.config.chunk_size, policy.config.max_action_dim)
    noise = model.sample_noise(shape, torch.device("cpu"))
    clock = time.perf_counter()
    model.integrate(noise, pad, cache)
    denoise = time.perf_counter() - clock
    return {
        "vision": vision,
        "prefill": prefill,
        "denoise": denoise,
        "prefix_tokens": prefix.shape[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=10, help="flow-matching steps (LeRobot: 10)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    t_build, policy = timed(lambda: full_size_policy(args.steps))
    params = sum(p.numel() for p in policy.parameters()) / 1e6
    print(
        f"SmolVLA full size, random weights: {params:.0f} M parameters (built in {t_build:.1f} s), "
        f"3 cameras {SIZE}x{SIZE}, chunk {policy.config.chunk_size}, {args.steps} steps, "
        f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}"
    )
    chunk_policy = TorchChunkPolicy(policy, seed=0)
    obs = observation()
    chunk_policy.predict_chunk(obs)  # warm-up
    totals, stages = [], []
    for _ in range(args.runs):  # interleaved, so both see the same machine load
        totals.append(timed(lambda: chunk_policy.predict_chunk(obs))[0])
        stages.append(stage_times(policy, chunk_policy, obs))
    print(f"predict_chunk  median {statistics.median(totals):7.2f} s   (runs: "
          + ", ".join(f"{t:.2f}" for t in totals) + ")")  # fmt: skip
    for name in ("vision", "prefill", "denoise"):
        values = [s[name] for s in stages]
        print(f"  {name:<12} median {statistics.median(values):7.2f} s")
    per_step = statistics.median(s["denoise"] for s in stages) / args.steps
    print(
        f"  (prefix of {stages[0]['prefix_tokens']} tokens; one denoise step {per_step * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
