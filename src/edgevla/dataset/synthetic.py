"""Tiny synthetic datasets with known contents, for tests that need a dataset but not the sim.

Images are smooth gradients with a moving square (video codecs reproduce them closely);
states and actions are seeded random walks. The returned ground truth is what a reader must
give back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevla.features import CAMERAS, DEFAULT_TASK, MOTOR_NAMES


@dataclass
class SyntheticEpisode:
    states: np.ndarray  # float32[N, 6]
    actions: np.ndarray  # float32[N, 6]
    images: dict[str, np.ndarray]  # camera -> uint8[N, H, W, 3]
    task: str
    meta: dict[str, Any] = field(default_factory=dict)


def synthetic_image(frame: int, camera: int, height: int, width: int) -> np.ndarray:
    """uint8[H, W, 3]: a gradient that shifts with `frame`, a square that moves across."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 128 + 100 * np.sin((xx + 2 * frame) / width * np.pi + camera)
    g = 128 + 100 * np.cos(yy / height * np.pi + 0.1 * frame)
    b = np.full_like(xx, 60.0 + 40 * camera)
    image = np.stack([r, g, b], axis=-1)
    side = max(2, height // 4)
    x0 = (3 * frame) % max(1, width - side)
    image[height // 3 : height // 3 + side, x0 : x0 + side] = (230, 30, 30)
    return np.clip(image, 0, 255).astype(np.uint8)


def synthetic_episode(
    length: int,
    cameras: dict[str, tuple[int, int]],
    seed: int,
    task: str = DEFAULT_TASK,
    meta: dict[str, Any] | None = None,
) -> SyntheticEpisode:
    rng = np.random.default_rng(seed)
    states = np.cumsum(rng.normal(0, 0.05, (length, 6)), axis=0).astype(np.float32)
    actions = (states + rng.normal(0, 0.01, (length, 6))).astype(np.float32)
    images = {
        name: np.stack([synthetic_image(i + seed, k, h, w) for i in range(length)])
        for k, (name, (h, w)) in enumerate(cameras.items())
    }
    return SyntheticEpisode(states, actions, images, task, dict(meta or {}))


def write_synthetic_dataset(
    root: str | Path,
    lengths: tuple[int, ...] = (20, 23, 18),
    cameras: dict[str, tuple[int, int]] | None = None,
    fps: int = 30,
    codec: str = "libx264",
    seed: int = 0,
) -> list[SyntheticEpisode]:
    """Record episodes of the given lengths into a new dataset; returns the ground truth.
    Episode i gets meta {"cluster": i, "recovery": i % 2 == 1}."""
    from edgevla.dataset.writer import DatasetWriter

    cameras = cameras if cameras is not None else {c: (48, 64) for c in CAMERAS}
    episodes = [
        synthetic_episode(n, cameras, seed + i, meta={"cluster": i, "recovery": i % 2 == 1})
        for i, n in enumerate(lengths)
    ]
    with DatasetWriter.create(
        root,
        fps=fps,
        robot_type="so101_follower",
        cameras=cameras,
        state_names=MOTOR_NAMES,
        action_names=MOTOR_NAMES,
        codec=codec,
    ) as writer:
        for ep in episodes:
            for i in range(len(ep.states)):
                writer.add_frame(
                    state=ep.states[i],
                    action=ep.actions[i],
                    images={name: frames[i] for name, frames in ep.images.items()},
                )
            writer.save_episode(ep.task, meta=ep.meta)
    return episodes
