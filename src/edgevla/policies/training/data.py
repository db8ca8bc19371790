"""Training samples from a LeRobot v3.0 dataset: the observation at frame t and the action
chunk a[t : t + chunk] of the same episode, padded past the episode's end (`action_is_pad`).

Episodes of a split are decoded once into RAM (uint8), so a step costs an index, not a video
decode; 120 episodes of three 96x96 cameras fit in about 3 GB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from edgevla.dataset.reader import DatasetReader
from edgevla.features import ACTION_KEY, ACTION_PAD_KEY, STATE_KEY, TASK_KEY


@dataclass
class SplitFrames:
    """Every frame of some episodes, concatenated; `starts[i]`..`ends[i]` is episode i."""

    states: np.ndarray  # float32[N, S]
    actions: np.ndarray  # float32[N, A]
    images: dict[str, np.ndarray]  # key -> uint8[N, H, W, 3]
    episode_end: np.ndarray  # int64[N]: exclusive end index of the frame's episode
    episodes: list[int]
    task_index: np.ndarray  # int64[N] into `tasks`
    tasks: list[str]

    def __len__(self) -> int:
        return int(self.states.shape[0])


def load_split(
    reader: DatasetReader,
    episodes: Sequence[int],
    camera_keys: Sequence[str],
    progress: bool = True,
) -> SplitFrames:
    if not episodes:
        raise ValueError(f"no episodes to load from {reader.root}")
    states, actions, ends = [], [], []
    images: dict[str, list[np.ndarray]] = {k: [] for k in camera_keys}
    tasks: list[str] = []
    task_index: list[np.ndarray] = []
    total = 0
    for ep in tqdm(episodes, desc="decoding episodes", unit="ep", disable=not progress):
        data = reader.episode(ep, images=list(camera_keys) if camera_keys else False)
        n = len(data[ACTION_KEY])
        states.append(data[STATE_KEY].astype(np.float32))
        actions.append(data[ACTION_KEY].astype(np.float32))
        for k in camera_keys:
            images[k].append(data[k])
        total += n
        ends.append(np.full(n, total, dtype=np.int64))
        if data["task"] not in tasks:
            tasks.append(data["task"])
        task_index.append(np.full(n, tasks.index(data["task"]), dtype=np.int64))
    return SplitFrames(
        np.concatenate(states),
        np.concatenate(actions),
        {k: np.concatenate(v) for k, v in images.items()},
        np.concatenate(ends),
        list(episodes),
        np.concatenate(task_index),
        tasks,
    )


def make_batch(frames: SplitFrames, index: np.ndarray, chunk_size: int) -> dict[str, torch.Tensor]:
    """Un-normalized batch: state [B, S], images [B, 3, H, W] in [0, 1], action [B, T, A],
    action_is_pad bool[B, T], task list[str] (LeRobot's names and layout)."""
    index = np.asarray(index, dtype=np.int64)
    steps = index[:, None] + np.arange(chunk_size)[None, :]  # [B, T]
    ends = frames.episode_end[index][:, None]
    pad = steps >= ends
    steps = np.minimum(steps, ends - 1)  # repeat the last action past the end, masked anyway
    batch = {
        STATE_KEY: torch.from_numpy(frames.states[index]),
        ACTION_KEY: torch.from_numpy(frames.actions[steps]),
        ACTION_PAD_KEY: torch.from_numpy(pad),
        TASK_KEY: [frames.tasks[i] for i in frames.task_index[index]],
    }
    for key, array in frames.images.items():
        batch[key] = torch.from_numpy(array[index]).permute(0, 3, 1, 2).float().div_(255.0)
    return batch


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image [B, C, H, W] moved by up to `max_shift` pixels in x and y (edge pixels
    repeated into the gap): augmentation that keeps a policy from keying on exact pixel
    positions, drawn from `generator` so a resumed run draws the same shifts."""
    if max_shift <= 0:
        return images
    b, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator)
    return torch.stack(
        [padded[i, :, y : y + h, x : x + w] for i, (y, x) in enumerate(offsets.tolist())]
    )
