"""Real frames for the parity gate and for calibration: observations read from a dataset.

A few episodes, spread over the dataset, each decoded once; frames evenly spaced inside each.
The dataset must hold every observation key the policy reads, at the trained image size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgevla.contracts import Observation, PolicySpec
from edgevla.features import STATE_KEY, TASK_KEY, image_key


def dataset_observations(
    root: str | Path, spec: PolicySpec, count: int, episodes: int = 4, offset: int = 0
) -> list[Observation]:
    """`count` observations from up to `episodes` episodes (`offset` shifts the frames picked,
    so calibration and parity frames differ)."""
    from edgevla.dataset.reader import DatasetReader

    reader = DatasetReader.open(root)
    keys = [image_key(c) for c in spec.cameras]
    missing = [k for k in [*keys, STATE_KEY] if k not in reader.features]
    if missing:
        raise ValueError(
            f"dataset {root}: lacks {missing} that the policy reads; has {sorted(reader.features)}"
        )
    n_episodes = min(episodes, reader.num_episodes, count)
    picked = np.linspace(0, reader.num_episodes - 1, n_episodes).round().astype(int)
    per_episode = -(-count // n_episodes)
    observations: list[Observation] = []
    for episode in dict.fromkeys(picked.tolist()):
        data = reader.episode(episode, images=keys)
        length = len(data[STATE_KEY])
        steps = (np.linspace(0, length - 1, per_episode + 1)[:-1] + offset) % length
        for i in steps.astype(int):
            observation: Observation = {k: np.asarray(data[k][i]) for k in keys}
            observation[STATE_KEY] = np.asarray(data[STATE_KEY][i], dtype=np.float32)
            observation[TASK_KEY] = data.get("task")
            observations.append(observation)
    if spec.image_shape is not None:
        got = observations[0][keys[0]].shape[:2]
        if tuple(got) != tuple(spec.image_shape):
            raise ValueError(
                f"dataset {root}: images are {got[0]}x{got[1]}, the policy was trained at "
                f"{spec.image_shape[0]}x{spec.image_shape[1]}; pass --dataset with frames of "
                "that size"
            )
    return observations[:count]
