"""How much worse a chunk's later rows are, and whether a committed prefix wins them back.

Under async control at latency ℓ ticks the arm never executes a chunk's first ℓ rows: it runs
rows ℓ..ℓ+n, predicted further ahead. This measures, on held-out dataset frames, the L1 error
(normalized action units, LeRobot's training loss) of rows k..k+14 against the recorded actions,
for k = 0, 5, 10, 15 — and, for a policy that reads a committed prefix (`act_prefix`), the same
rows when the true first k actions are given, plus how closely it reproduces those k.

    .venv/bin/python benchmarks/chunk_horizon_error.py --policy demo/act-teabag \
        --dataset data/dataset-64n [--episodes 6] [--samples 48]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from edgevla.contracts import ACTION_PREFIX
from edgevla.dataset.reader import DatasetReader
from edgevla.features import ACTION_KEY, ACTION_PAD_KEY, ACTION_PREFIX_KEY, TASK_KEY
from edgevla.policies.checkpoint import load_policy
from edgevla.policies.chunk_policy import TorchChunkPolicy
from edgevla.policies.training.data import load_split, make_batch

WINDOW = 15  # rows compared from k on


def _l1(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean()) if a.numel() else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--policy", required=True, help="an ACT or act_prefix checkpoint")
    p.add_argument(
        "--dataset", required=True, help="a LeRobot v3.0 dataset with a validation split"
    )
    p.add_argument("--episodes", type=int, default=6, help="validation episodes to sample from")
    p.add_argument("--samples", type=int, default=48, help="frames drawn from them (seed 0)")
    args = p.parse_args()
    torch.set_num_threads(1)
    policy = load_policy(args.policy).eval()
    reads_prefix = ACTION_PREFIX in TorchChunkPolicy(policy).spec.extra
    reader = DatasetReader.open(args.dataset)
    episodes = reader.episodes_in_split("validation")[: args.episodes]
    frames = load_split(reader, episodes, list(policy.config.image_features), progress=False)
    index = np.random.default_rng(0).choice(len(frames), args.samples, replace=False)
    batch = policy.preprocessor.normalize(make_batch(frames, index, policy.config.chunk_size))
    target = batch.pop(ACTION_KEY)
    for key in (ACTION_PAD_KEY, TASK_KEY):
        batch.pop(key, None)
    with torch.no_grad():
        plain = policy.predict_action_chunk(batch)
    print(f"{args.policy}: {args.samples} frames of {len(episodes)} validation episodes")
    print(
        "k   rows k..k+14 without prefix"
        + ("   with the true prefix   prefix rows" if reads_prefix else "")
    )
    for k in (0, 5, 10, 15):
        rows = slice(k, k + WINDOW)
        line = f"{k:<3d} {_l1(plain[:, rows], target[:, rows]):.4f}"
        if reads_prefix and k:
            with torch.no_grad():
                given = policy.predict_action_chunk({**batch, ACTION_PREFIX_KEY: target[:, :k]})
            line += f"                     {_l1(given[:, rows], target[:, rows]):.4f}"
            line += f"                 {_l1(given[:, :k], target[:, :k]):.4f}"
        print(line)


if __name__ == "__main__":
    main()
