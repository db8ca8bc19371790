"""How many ticks the arm lags its commanded target, from a recorded dataset.

For each offset d, the mean |state[t+d] − action[t]| over the arm joints (not the gripper)
of every episode; the smallest is the tracking lag. A position-controlled arm that lags keeps
moving while a sync loop holds its last target, which is why part of sync's "wait" is motion
(`edgevla.runtime.metrics.motion_while_held`).

    .venv/bin/python benchmarks/tracking_lag.py --dataset data/dataset-64n [--episodes 30]
"""

from __future__ import annotations

import argparse

import numpy as np

from edgevla.dataset.reader import DatasetReader
from edgevla.features import ACTION_KEY, STATE_KEY


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", required=True)
    p.add_argument("--episodes", type=int, default=30, help="the first N episodes")
    p.add_argument("--max-offset", type=int, default=10)
    args = p.parse_args()
    reader = DatasetReader.open(args.dataset)
    episodes = list(range(reader.num_episodes))[: args.episodes]
    errors = np.zeros(args.max_offset + 1)
    for ep in episodes:
        data = reader.episode(ep, images=False)
        state, action = data[STATE_KEY][:, :-1], data[ACTION_KEY][:, :-1]  # the gripper is last
        for d in range(args.max_offset + 1):
            errors[d] += np.abs(state[d:] - action[: len(action) - d]).mean() / len(episodes)
    for d, e in enumerate(errors):
        print(f"offset {d:2d} ticks: mean |state[t+d] - action[t]| = {e:.3f}")
    print(f"tracking lag: {int(errors.argmin())} ticks over {len(episodes)} episodes")


if __name__ == "__main__":
    main()
