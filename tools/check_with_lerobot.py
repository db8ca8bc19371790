"""Check that LeRobot's own `LeRobotDataset` (lerobot 0.4.4, codebase v3.0) loads a dataset
without conversion and sees exactly what edgevla's `DatasetReader` sees.

Not part of edgevla and never imported by it. Run it with a Python that has lerobot, e.g. a
scratch virtualenv outside the repository that reuses the project's packages:

    python3.11 -m venv /tmp/lerobot-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" \
        > /tmp/lerobot-venv/lib/python3.11/site-packages/zz_edgevla.pth
    /tmp/lerobot-venv/bin/pip install --no-deps lerobot==0.4.4
    /tmp/lerobot-venv/bin/pip install "datasets>=4,<5" "huggingface-hub<0.36" draccus==0.10.0 \
        "einops<0.9" jsonlines "deepdiff<9" termcolor "accelerate<2" "torch==2.13.0"
    /tmp/lerobot-venv/bin/python tools/check_with_lerobot.py DATASET_DIR

What is compared, frame by frame: every column of the data files (exactly), the task string,
and every camera image decoded by LeRobot against the same frame decoded by our reader. It
also asks LeRobot for action chunks and two-frame image histories through `delta_timestamps`,
which exercises the episode boundaries (`dataset_from_index`/`dataset_to_index`) and video
seeking by timestamp, and compares them with what our reader gives.

About torchvision: lerobot 0.4.4's dataset modules import torchvision, and decode video either
with torchcodec or with torchvision's PyAV-backed `VideoReader`. Neither has a CPU build that
works with the project's CPU torch, so this tool installs `tools/lerobot_standin.py` (the
checkpoint check's stand-in too) before importing lerobot: its `io.VideoReader` re-implements
what torchvision's "pyav" backend does, and `transforms` is there only to satisfy imports. All
above that - which file, which timestamps, the tolerance check, scaling to [0, 1] - is
LeRobot's own code.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _install_torchvision_standin() -> None:
    """tools/lerobot_standin.py's torchvision, after `datasets` records that none exists."""
    sys.path.insert(0, str(REPO / "tools"))
    import datasets  # noqa: F401  (imported first, so it records that torchvision is absent)
    import lerobot_standin

    # lerobot 0.6 imports transformers: it too must record that torchvision is absent
    with contextlib.suppress(ImportError):
        import transformers.image_utils  # noqa: F401

    lerobot_standin.install()


def _np(value: object) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _lerobot_image(value: object) -> np.ndarray:
    """LeRobot's float32 [C, H, W] (or [T, C, H, W]) in [0, 1] -> uint8 [..., H, W, C]."""
    array = _np(value)
    return np.round(np.moveaxis(array, -3, -1) * 255.0).astype(np.uint8)


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)
            if len(self.failures) <= 20:
                print(f"  MISMATCH: {what}")


def _check_metadata(lr, ours, report: Report) -> None:
    report.check(len(lr) == ours.num_frames, f"frames: lerobot {len(lr)}, ours {ours.num_frames}")
    report.check(lr.num_episodes == ours.num_episodes, "number of episodes differs")
    report.check(lr.fps == ours.fps, f"fps: lerobot {lr.fps}, ours {ours.fps}")
    report.check(lr.meta.camera_keys == ours.camera_keys, "camera keys differ")
    lr_tasks = [str(t) for t in lr.meta.tasks.index]
    report.check(lr_tasks == ours.tasks, f"tasks: lerobot {lr_tasks}, ours {ours.tasks}")
    ours_stats = ours.stats or {}
    for key, feature_stats in (lr.meta.stats or {}).items():
        for name, value in feature_stats.items():
            mine = ours_stats.get(key, {}).get(name)
            report.check(
                mine is not None and np.allclose(np.asarray(value), mine),
                f"stats {key}/{name} differ",
            )
    if "edgevla_meta" in lr.meta.episodes.column_names:
        print("  LeRobot loaded the episodes table with our 'edgevla_meta' column")


def _check_frames(lr, ours, indices: list[int], max_mae: float, report: Report) -> float:
    worst = 0.0
    for i in indices:
        item, mine = lr[i], ours.frame(i)
        for key, ft in ours.features.items():
            if ft["dtype"] == "video":
                theirs = _lerobot_image(item[key])
                mae = float(np.abs(theirs.astype(int) - mine[key].astype(int)).mean())
                worst = max(worst, mae)
                report.check(mae <= max_mae, f"frame {i} {key}: mean abs diff {mae:.3f}")
            else:
                same = np.array_equal(_np(item[key]).reshape(-1), np.asarray(mine[key]).reshape(-1))
                report.check(same, f"frame {i} {key}: {_np(item[key])} vs {mine[key]}")
        report.check(item["task"] == mine["task"], f"frame {i} task differs")
    return worst


def _check_deltas(root: Path, ours, indices: list[int], max_mae: float, report: Report) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    fps, horizon = ours.fps, 5
    deltas = {"action": [k / fps for k in range(horizon)]}
    for key in ours.video_keys:
        deltas[key] = [-1 / fps, 0.0]
    lr = LeRobotDataset(
        "local/edgevla-check", root=root, delta_timestamps=deltas, video_backend="pyav"
    )
    for i in indices:
        item = lr[i]
        ep = int(_np(item["episode_index"]))
        data = ours.episode(ep, images=True)
        start = ours.episode_meta(ep)["dataset_from_index"]
        n = len(data["action"])
        j = i - start
        want_idx = [min(max(j + k, 0), n - 1) for k in range(horizon)]
        report.check(
            np.array_equal(_np(item["action"]), data["action"][want_idx]),
            f"frame {i}: action chunk differs",
        )
        pad = [j + k >= n for k in range(horizon)]
        report.check(list(_np(item["action_is_pad"])) == pad, f"frame {i}: action padding differs")
        for key in ours.video_keys:
            hist = [min(max(j - 1, 0), n - 1), j]
            theirs = _lerobot_image(item[key])
            mae = float(np.abs(theirs.astype(int) - data[key][hist].astype(int)).mean())
            report.check(mae <= max_mae, f"frame {i} {key} history: mean abs diff {mae:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="a LeRobot v3.0 dataset directory")
    parser.add_argument("--frames", type=int, default=200, help="frames to compare (spread out)")
    parser.add_argument(
        "--max-mae", type=float, default=1.0, help="largest mean abs pixel difference accepted"
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "src"))
    _install_torchvision_standin()
    import lerobot
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from edgevla.dataset.reader import DatasetReader

    root = args.dataset.resolve()
    print(f"lerobot {getattr(lerobot, '__version__', '?')} loading {root}")
    lr = LeRobotDataset("local/edgevla-check", root=root, video_backend="pyav")
    ours = DatasetReader.open(root)
    print(f"  {lr.num_episodes} episodes, {len(lr)} frames, cameras {lr.meta.camera_keys}")
    report = Report()
    _check_metadata(lr, ours, report)
    count = min(args.frames, ours.num_frames)
    indices = sorted({int(i) for i in np.linspace(0, ours.num_frames - 1, count).round()})
    worst = _check_frames(lr, ours, indices, args.max_mae, report)
    _check_deltas(root, ours, indices[:: max(1, len(indices) // 20)], args.max_mae, report)
    print(f"  compared {len(indices)} frames; worst image mean abs diff {worst:.3f}")
    if report.failures:
        print(f"FAIL: {len(report.failures)} mismatches")
        return 1
    print("OK: LeRobot reads the dataset without conversion and agrees with DatasetReader")
    return 0


if __name__ == "__main__":
    sys.exit(main())
