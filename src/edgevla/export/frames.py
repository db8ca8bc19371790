"""Frames for the parity gate and for calibration.

Real ones, read from a dataset: a few episodes, spread over the dataset, each decoded once;
frames evenly spaced inside each. The dataset must hold every observation key the policy reads,
at the trained image size. Without a dataset (a checkpoint downloaded alone), synthetic ones:
seeded images of the trained size and states inside the checkpoint's own statistics - enough to
check that an FP32 graph computes what PyTorch computes, not to calibrate int8.
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


def synthetic_observations(
    spec: PolicySpec, state_range: tuple[np.ndarray, np.ndarray] | None, count: int, seed: int = 0
) -> list[Observation]:
    """`count` seeded observations: per camera a coarse colour mosaic with fine noise over it
    (so every backbone channel sees edges and flat areas), the state uniform in `state_range`
    (low, high), or standard normal where the checkpoint has no state statistics."""
    if spec.image_shape is None and spec.cameras:
        raise ValueError("the policy records no image size; pass --dataset with its frames")
    rng = np.random.default_rng(seed)
    observations: list[Observation] = []
    for _ in range(count):
        observation: Observation = {}
        for camera in spec.cameras:
            observation[image_key(camera)] = _mosaic(rng, spec.image_shape)  # type: ignore[arg-type]
        if spec.state_dim:
            if state_range is None:
                state = rng.standard_normal(spec.state_dim)
            else:
                state = rng.uniform(*state_range)
            observation[STATE_KEY] = state.astype(np.float32)
        observation[TASK_KEY] = None
        observations.append(observation)
    return observations


def _mosaic(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    tile = 8
    coarse = rng.uniform(30, 225, (-(-height // tile), -(-width // tile), 3))
    image = np.repeat(np.repeat(coarse, tile, 0), tile, 1)[:height, :width]
    image = image + rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)
