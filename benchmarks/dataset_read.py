"""Dataset read throughput: frames/s of `DatasetReader.episode` (video decode of every camera
plus parquet), the work `edgevla train` does before its first step, and the same decode with
PyAV's per-frame conversion (`frame.to_ndarray(format="rgb24")`) side by side.

    .venv/bin/python benchmarks/dataset_read.py DATASET [--episodes 5]

Prints the median of the per-episode rates; a "frame" is one tick with all cameras.
"""

from __future__ import annotations

import argparse
import statistics
import time

import av
import numpy as np

from edgevla.dataset.reader import DatasetReader


def per_frame_conversion(reader: DatasetReader, episode: int) -> int:
    """Decode every camera of `episode` converting each frame with its own swscale context."""
    frames = 0
    for key in reader.camera_keys:
        with av.open(str(reader.video_path(episode, key))) as container:
            for frame in container.decode(container.streams.video[0]):
                frame.to_ndarray(format="rgb24")
                frames += 1
    return frames // max(1, len(reader.camera_keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--episodes", type=int, default=5)
    args = parser.parse_args()
    reader = DatasetReader.open(args.dataset)
    ours, baseline = [], []
    for episode in range(min(args.episodes, reader.num_episodes)):
        start = time.perf_counter()
        n = len(reader.episode(episode)["action"])
        ours.append(n / (time.perf_counter() - start))
        start = time.perf_counter()
        n = per_frame_conversion(reader, episode)
        baseline.append(n / (time.perf_counter() - start))
    cams = len(reader.camera_keys)
    ratio = statistics.median(np.array(ours) / np.array(baseline))
    print(
        f"{reader.root.name}: {cams} cameras, {len(ours)} episodes — reader "
        f"{statistics.median(ours):.0f} frames/s, per-frame conversion "
        f"{statistics.median(baseline):.0f} frames/s, ratio {ratio:.1f}x"
    )


if __name__ == "__main__":
    main()
