"""`edgevla doctor` wall time on a dataset the size of a real recording: 120 episodes x 3
cameras x 640x480 x 20 s at 30 fps (AV1, LeRobot's codec), default sampling and --full.

    .venv/bin/python benchmarks/doctor.py [--episodes 120] [--seconds 20] [--full-episodes 6]

The dataset is one 20 s episode (a textured static scene, a moving block, a smooth joint
trajectory) encoded once and cloned: decoding cost is what is measured, and a clean clone
must pass. `--full` is timed on `--full-episodes` episodes and scaled to the whole set.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from edgevla.dataset.doctor import DoctorConfig, run_doctor
from edgevla.dataset.writer import DatasetWriter
from edgevla.features import CAMERAS, MOTOR_NAMES


def template(root: Path, seconds: float, width: int, height: int, fps: int) -> None:
    """One episode: per camera a smooth textured background, an arm-sized bar sweeping across
    it from its rest place and back, and a small block (the object) crossing it."""
    rng = np.random.default_rng(0)
    n = int(seconds * fps)
    backgrounds = {}
    for cam in CAMERAS:
        coarse = rng.uniform(40, 200, (height // 16 + 1, width // 16 + 1, 3))
        backgrounds[cam] = np.kron(coarse, np.ones((16, 16, 1)))[:height, :width].astype(np.uint8)
    t = np.linspace(0, 2 * np.pi, n)
    state = np.stack([30 * np.sin(t + k) for k in range(5)] + [50 + 50 * np.cos(t)], 1)
    with DatasetWriter.create(
        root,
        fps=fps,
        robot_type="so101_follower",
        cameras={c: (height, width) for c in CAMERAS},
        state_names=MOTOR_NAMES,
        action_names=MOTOR_NAMES,
    ) as writer:
        for i in range(n):
            images = {}
            for cam, bg in backgrounds.items():
                frame = bg.copy()
                arm = int((width - width // 5) * (0.5 - 0.5 * np.cos(t[i])))
                frame[height // 4 :, arm : arm + width // 5] = 245  # a white 3D-printed arm
                x = int((width - 60) * (0.5 + 0.5 * np.sin(t[i])))
                frame[height // 2 : height // 2 + 60, x : x + 60] = (230, 40, 40)
                images[cam] = frame
            writer.add_frame(state=state[i], action=state[i], images=images)
        writer.save_episode("Put the tea bag in the mug", meta={"cluster": 1, "recovery": False})


def clone(src: Path, dst: Path, episodes: int) -> None:
    """`episodes` copies of src's single episode (video files hard-linked)."""
    shutil.copytree(src / "meta", dst / "meta")
    info = json.loads((src / "meta/info.json").read_text())
    row = pq.read_table(next((src / "meta/episodes").glob("*/*.parquet"))).to_pylist()[0]
    data = pq.read_table(src / "data/chunk-000/file-000.parquet")
    n = row["length"]
    rows = []
    for e in range(episodes):
        chunk, file = divmod(e, 1000)
        name = f"chunk-{chunk:03d}/file-{file:03d}"
        for key in [k for k, f in info["features"].items() if f["dtype"] == "video"]:
            target = dst / f"videos/{key}/{name}.mp4"
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(src / f"videos/{key}/chunk-000/file-000.mp4", target)
            row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"] = chunk, file
        table = data.set_column(
            data.column_names.index("episode_index"), "episode_index", [[e] * n]
        )
        table = table.set_column(
            table.column_names.index("index"), "index", [list(range(e * n, (e + 1) * n))]
        )
        (dst / f"data/{name}.parquet").parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, dst / f"data/{name}.parquet")
        meta = json.dumps(
            {
                # the NXP recording: 10 clusters x (10 positions + 2 recovery episodes)
                "cluster": 1 + e // 12 % 10,
                "recovery": e % 12 >= 10,
                "split": "train",
                "calibration_sha256": "0" * 64,
            }
        )
        rows.append(
            dict(
                row,
                episode_index=e,
                dataset_from_index=e * n,
                dataset_to_index=(e + 1) * n,
                edgevla_meta=meta,
                **{"data/chunk_index": chunk, "data/file_index": file},
            )
        )
    import pyarrow as pa

    for old in (dst / "meta/episodes").glob("*/*.parquet"):
        old.unlink()
    pq.write_table(pa.Table.from_pylist(rows), dst / "meta/episodes/chunk-000/file-000.parquet")
    info.update(
        total_episodes=episodes, total_frames=episodes * n, splits={"train": f"0:{episodes}"}
    )
    (dst / "meta/info.json").write_text(json.dumps(info, indent=4))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=120)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--resolution", default="640x480")
    p.add_argument(
        "--full-episodes", type=int, default=6, help="episodes to time --full on (0: skip)"
    )
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args()
    width, height = (int(v) for v in args.resolution.split("x"))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="doctor-bench-"))
    start = time.perf_counter()
    template(work / "template", args.seconds, width, height, 30)
    print(f"template episode encoded in {time.perf_counter() - start:.1f} s")
    clone(work / "template", work / "big", args.episodes)
    for label, episodes, full in (
        ("default", args.episodes, False),
        ("--full", args.full_episodes, True),
    ):
        if episodes == 0:
            continue
        root = work / "big" if episodes == args.episodes else work / f"part{episodes}"
        if not root.exists():
            clone(work / "template", root, episodes)
        t0 = time.perf_counter()
        report = run_doctor(root, DoctorConfig(full=full, progress=False))
        seconds = time.perf_counter() - t0
        failed = [r.name for r in report.results if r.status == "fail"]
        scaled = seconds * args.episodes / episodes
        print(
            f"{label}: {episodes} episodes x {len(report.cameras)} cameras x {args.resolution} x "
            f"{args.seconds:.0f} s in {seconds:.1f} s (for {args.episodes} episodes: {scaled:.0f} s); "
            f"failing: {failed}"
        )
    print(f"work directory: {work}")


if __name__ == "__main__":
    main()
