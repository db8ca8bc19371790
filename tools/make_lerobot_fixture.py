"""Regenerate the doctor's LeRobot-recorded test fixture with LeRobot's own writer.

The fixture (tests/dataset/doctor/data/lerobot_v30/) is a LeRobot v3.0 dataset written by
`LeRobotDataset.create` + `add_frame` + `save_episode` + `finalize`, exactly as `lerobot-record`
writes one: every episode's frames in one data file, each camera's episodes concatenated into
one video file (AV1, LeRobot's default codec), and none of edgevla's metadata. Two episodes are
deliberately defective, in the frames handed to LeRobot (so the defect goes through LeRobot's
encoder and concatenation): a front camera that stalls mid-episode and a wrist camera that goes
dark. Beside it, lerobot_v30.json records what was injected where and what LeRobot's own loader
reports (episode lengths, from/to timestamps, mean colours of decoded frames); the test compares
`edgevla doctor` and edgevla's reader with both, and needs neither LeRobot nor this script.

Not part of edgevla and never imported by it. It needs a Python with lerobot 0.4.4, e.g. a
scratch virtualenv outside the repository (no torchvision: tools/lerobot_standin.py stands in):

    python3.11 -m venv /work/scratch/lerobot-venv
    /work/scratch/lerobot-venv/bin/pip install --no-deps lerobot==0.4.4
    /work/scratch/lerobot-venv/bin/pip install -c constraints.txt torch "datasets>=4,<5" \
        "av>=15,<16" "huggingface-hub<0.36" draccus==0.10.0 jsonlines deepdiff termcolor \
        "accelerate<2" einops pandas pillow
    /work/scratch/lerobot-venv/bin/python tools/make_lerobot_fixture.py
    /work/scratch/lerobot-venv/bin/python tools/check_with_lerobot.py \
        tests/dataset/doctor/data/lerobot_v30 --frames 327   # LeRobot vs edgevla, every frame

lerobot 0.6.1 works too (tools/make_lerobot061_env.sh, then pip install "datasets>=4.8,<5"
"pandas<3" jsonlines "av>=15,<16" into that venv); on this fixture it writes the same video
and data files byte for byte (only info.json gains encoder fields), and the doctor's report is
the same.

The scene is drawn with numpy (a textured table seen by a fixed front camera and by a camera on
the gripper, a two-link arm that picks a red block at A and puts it at B, its joint trajectory as
state and action), seeded, so a rerun with the same LeRobot, PyAV and codec gives the same files
(byte for byte, but for the key order of meta/stats.json, which LeRobot takes from a set).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "dataset" / "doctor" / "data" / "lerobot_v30"
REPO_ID = "edgevla/doctor-lerobot-fixture"
TASK = "Put the red block on the right"
FPS = 30
H, W = 72, 96
LENGTHS = (40, 42, 38, 44, 40, 41, 39, 43)
MOTORS = [
    f"{j}.pos"
    for j in ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
]
FRONT, WRIST = "observation.images.front", "observation.images.wrist"
# (kind, episode, camera, first frame, last frame): injected into the frames LeRobot encodes
DEFECTS = (
    ("frozen", 3, FRONT, 14, LENGTHS[3] - 1),  # the front camera stalls while the arm moves
    ("black", 6, WRIST, 17, 28),  # the wrist camera goes dark (lens covered, cable glitch)
)
BASE = np.array([48.0, 66.0])  # the arm's base in the front image (x, y)
LINKS = (28.0, 24.0)
ZOOM = 3  # world texture pixels per front-image pixel; the wrist camera sees it at full scale


# ----------------------------------------------------------------------------- the scene


def world_texture(rng: np.random.Generator) -> np.ndarray:
    """The table at ZOOM x the front image's scale: tiles of random colour with sharp edges
    (so both cameras see detail everywhere) on a wood-like base."""
    grey = rng.uniform(80, 180, (H * ZOOM // 24 + 1, W * ZOOM // 24 + 1, 1))
    tint = rng.uniform(0.85, 1.15, grey.shape[:2] + (3,))
    tiles = grey * tint * np.array([1.0, 0.92, 0.8])  # warm, muted table colours
    world = np.kron(tiles, np.ones((24, 24, 1)))[: H * ZOOM, : W * ZOOM]
    grain = 12 * np.sin(np.arange(W * ZOOM) / 5.0)[None, :, None]
    return np.clip(world + grain, 0, 255).astype(np.float32)


def front_background(world: np.ndarray) -> np.ndarray:
    """The front camera's view: the table (the world scaled down) below a wall with a poster."""
    table = world.reshape(H, ZOOM, W, ZOOM, 3).mean(axis=(1, 3))
    table[:18] = (200, 205, 210)
    table[3:13, 60:80] = (40, 90, 160)
    table[17:19] = (90, 80, 70)  # the table's back edge
    return table


def ease(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    s = (1 - np.cos(np.linspace(0, np.pi, n))) / 2
    return a + (b - a) * s[:, None]


def tip_path(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: gripper tip (x, y) in the front image, gripper opening (0..100) and the
    block's position: home, down to A, close, carry to B via a lift, open, back home."""
    home = np.array([48.0, 26.0])
    a = np.array([22.0, 56.0]) + rng.uniform(-3, 3, 2)
    b = np.array([74.0, 56.0]) + rng.uniform(-3, 3, 2)
    marks = np.round(np.array([0.08, 0.33, 0.43, 0.70, 0.80]) * n).astype(int)
    lift = (a + b) / 2 - np.array([0.0, 18.0])
    parts = [
        np.repeat(home[None], marks[0], 0),
        ease(home, a, marks[1] - marks[0]),
        np.repeat(a[None], marks[2] - marks[1], 0),
        np.concatenate(
            [
                ease(a, lift, (marks[3] - marks[2]) // 2),
                ease(lift, b, (marks[3] - marks[2] + 1) // 2),
            ]
        ),
        np.repeat(b[None], marks[4] - marks[3], 0),
        ease(b, home, n - marks[4]),
    ]
    tip = np.concatenate(parts)
    grip = np.full(n, 60.0)
    closing = marks[1] + np.arange(marks[2] - marks[1])
    grip[closing] = np.linspace(60, 5, closing.size)
    grip[marks[2] : marks[3]] = 5.0
    grip[marks[3] : marks[4]] = np.linspace(5, 60, marks[4] - marks[3])
    block = np.where((np.arange(n) >= marks[2])[:, None], tip, a)
    block[marks[3] :] = b
    return tip, grip, block


def ik(tip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shoulder and elbow angles (radians, elbow up) of the two-link arm reaching `tip`."""
    d = np.atleast_2d(tip) - BASE
    dx, dy = d[:, 0], -d[:, 1]
    r = np.clip(np.hypot(dx, dy), 5.0, sum(LINKS) - 1e-3)
    l1, l2 = LINKS
    elbow = -np.arccos(np.clip((r**2 - l1**2 - l2**2) / (2 * l1 * l2), -1, 1))
    shoulder = np.arctan2(dy, dx) - np.arctan2(l2 * np.sin(elbow), l1 + l2 * np.cos(elbow))
    return shoulder, elbow


def joints(tip: np.ndarray, grip: np.ndarray) -> np.ndarray:
    """SO-101-like joint angles (degrees; gripper 0..100) of the arm reaching `tip`, scaled
    so a 30 fps episode of 40 frames stays within what a real arm moves per frame."""
    shoulder, elbow = ik(tip)
    lift, flex = 0.3 * (np.degrees(shoulder) - 90), 0.4 * np.degrees(elbow)
    pan = 0.8 * (tip[:, 0] - BASE[0])
    roll = 10 * np.sin(np.linspace(0, 2 * np.pi, len(tip)))
    return np.stack([pan, lift, flex, -0.5 * (lift + flex), roll, grip], axis=1)


def arm_points(tip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elbow and tip of the arm in the front image."""
    shoulder, elbow = (float(v[0]) for v in ik(tip))
    l1, l2 = LINKS
    p1 = BASE + l1 * np.array([np.cos(shoulder), -np.sin(shoulder)])
    p2 = p1 + l2 * np.array([np.cos(shoulder + elbow), -np.sin(shoulder + elbow)])
    return p1, p2


def draw_segment(img: np.ndarray, p: np.ndarray, q: np.ndarray, width: float, colour) -> None:
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]].astype(np.float32)
    pq_ = q - p
    t = np.clip(((xx - p[0]) * pq_[0] + (yy - p[1]) * pq_[1]) / max(pq_ @ pq_, 1e-6), 0, 1)
    dist = np.hypot(xx - (p[0] + t * pq_[0]), yy - (p[1] + t * pq_[1]))
    img[dist <= width / 2] = colour


def draw_block(img: np.ndarray, centre: np.ndarray, half: float) -> None:
    y0, x0 = (int(round(v - half)) for v in (centre[1], centre[0]))
    size = int(round(2 * half))
    img[max(0, y0) : max(0, y0 + size), max(0, x0) : max(0, x0 + size)] = (215, 50, 35)


def render_front(background, tip, grip, block, rng) -> np.ndarray:
    img = background.copy()
    draw_block(img, block, 4.0)
    elbow, end = arm_points(tip)
    draw_segment(img, BASE, elbow, 5, (55, 55, 60))
    draw_segment(img, elbow, end, 4, (70, 70, 75))
    jaw = 1.5 + grip / 60 * 3.0
    for side in (-1, 1):
        draw_segment(img, end + [side * jaw, 0], end + [side * jaw, 5], 2, (30, 30, 30))
    return noisy(img, rng)


def render_wrist(world, tip, grip, block, holding, rng) -> np.ndarray:
    """The gripper camera looks down at the table around the tip (full world resolution)."""
    cy = int(np.clip(tip[1] * ZOOM - H // 2 + 20, 0, world.shape[0] - H))
    cx = int(np.clip(tip[0] * ZOOM - W // 2, 0, world.shape[1] - W))
    img = world[cy : cy + H, cx : cx + W].copy()
    if holding:
        draw_block(img, np.array([W / 2, H - 14.0]), 4.0 * ZOOM)
    else:
        draw_block(img, block * ZOOM - [cx, cy], 4.0 * ZOOM)
    gap = 8 + grip / 60 * 22
    img[H - 24 :, : max(0, int(W / 2 - gap))] = (35, 35, 38)
    img[H - 24 :, int(W / 2 + gap) :] = (35, 35, 38)
    return noisy(img, rng)


def noisy(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise: a real camera never repeats a frame exactly."""
    return np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)


def episode(rng, world, background, n: int) -> dict[str, np.ndarray]:
    """One episode's frames and joint trajectory; the state trails the action by 2 frames."""
    tip, grip, block = tip_path(rng, n)
    action = joints(tip, grip).astype(np.float32)
    state = np.concatenate([action[:1], action[:1], action[:-2]]) + rng.normal(
        0, 0.05, action.shape
    )
    holding = grip < 30
    front = np.stack([render_front(background, tip[i], grip[i], block[i], rng) for i in range(n)])
    wrist = np.stack(
        [render_wrist(world, tip[i], grip[i], block[i], holding[i], rng) for i in range(n)]
    )
    return {"action": action, "state": state.astype(np.float32), FRONT: front, WRIST: wrist}


def inject(ep: dict[str, np.ndarray], index: int, rng: np.random.Generator) -> None:
    for kind, e, camera, first, last in DEFECTS:
        if e != index:
            continue
        frames = ep[camera]
        if kind == "frozen":
            frames[first : last + 1] = frames[first]
        elif kind == "black":
            dark = rng.integers(0, 6, frames[first : last + 1].shape)  # a covered lens: dark noise
            frames[first : last + 1] = dark.astype(np.uint8)


# ----------------------------------------------------------------------------- LeRobot


def features() -> dict:
    camera = {"dtype": "video", "shape": (H, W, 3), "names": ["height", "width", "channels"]}
    vector = {"dtype": "float32", "shape": (len(MOTORS),), "names": MOTORS}
    return {"observation.state": vector, "action": vector, FRONT: camera, WRIST: camera}


def codec_args(vcodec: str) -> dict:
    """lerobot 0.4 takes `vcodec=`; 0.6 an `rgb_encoder=RGBEncoderConfig(vcodec=...)`."""
    import inspect

    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    params = inspect.signature(LeRobotDataset.create).parameters
    if "vcodec" in params:
        return {"vcodec": vcodec}
    from lerobot.configs import RGBEncoderConfig

    return {"rgb_encoder": RGBEncoderConfig(vcodec=vcodec)}


def write_dataset(root: Path, vcodec: str) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    rng = np.random.default_rng(14)
    world = world_texture(rng)
    background = front_background(world)
    ds = LeRobotDataset.create(
        REPO_ID, FPS, features(), root=root, robot_type="so101_follower", **codec_args(vcodec)
    )
    for index, n in enumerate(LENGTHS):
        ep = episode(rng, world, background, n)
        inject(ep, index, rng)
        for i in range(n):
            ds.add_frame(
                {
                    "observation.state": ep["state"][i],
                    "action": ep["action"][i],
                    FRONT: ep[FRONT][i],
                    WRIST: ep[WRIST][i],
                    "task": TASK,
                }
            )
        ds.save_episode()
    ds.finalize()


def lerobot_view(root: Path) -> dict:
    """What LeRobot's own loader makes of the dataset: the numbers the test holds edgevla to."""
    import lerobot
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    lr = LeRobotDataset(REPO_ID, root=root, video_backend="pyav")
    episodes = []
    means = {}
    for e in range(lr.num_episodes):
        row = lr.meta.episodes[e]
        ep = {
            k: row[k] for k in ("episode_index", "length", "dataset_from_index", "dataset_to_index")
        }
        ep["tasks"] = list(row["tasks"])
        for key in lr.meta.video_keys:
            ep[key] = {
                "file": str(lr.meta.get_video_file_path(e, key)),
                "from_timestamp": float(row[f"videos/{key}/from_timestamp"]),
                "to_timestamp": float(row[f"videos/{key}/to_timestamp"]),
            }
        episodes.append(ep)
        n = int(row["length"])
        for frame in sorted({0, n // 2, n - 1, *[d[3] for d in DEFECTS if d[1] == e]}):
            item = lr[int(row["dataset_from_index"]) + frame]
            for key in lr.meta.video_keys:
                rgb = item[key].numpy().mean(axis=(1, 2)) * 255.0
                means[f"{e}/{key}/{frame}"] = [round(float(v), 3) for v in rgb]
    return {
        "lerobot": lerobot.__version__,
        "fps": lr.fps,
        "num_episodes": lr.num_episodes,
        "num_frames": len(lr),
        "camera_keys": list(lr.meta.camera_keys),
        "tasks": [str(t) for t in lr.meta.tasks.index],
        "episodes": episodes,
        "frame_mean_rgb": means,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="dataset directory to (re)write")
    parser.add_argument("--vcodec", default="libsvtav1", help="LeRobot's vcodec (its default)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never reach the hub
    sys.path.insert(0, str(REPO / "tools"))
    import datasets  # noqa: F401  (first, so it records that torchvision is absent)
    import lerobot_standin

    # lerobot 0.6 imports transformers: it too must see no torchvision
    with contextlib.suppress(ImportError):
        import transformers.image_utils  # noqa: F401

    lerobot_standin.install()
    import av

    out = args.out.resolve()
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        root = Path(tmp) / "ds"
        write_dataset(root, args.vcodec)
        view = lerobot_view(root)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(root), str(out))
    for ep in view["episodes"]:  # paths relative to the dataset, wherever it was written
        for key in view["camera_keys"]:
            ep[key]["file"] = str(Path(ep[key]["file"]))
    manifest = {
        "made_by": "tools/make_lerobot_fixture.py",
        "writer": f"lerobot {view['lerobot']} LeRobotDataset.create/add_frame/save_episode/finalize",
        "vcodec": args.vcodec,
        "av": av.__version__,
        "python": platform.python_version(),
        "defects": [
            {"kind": k, "episode": e, "camera": c, "first_frame": a, "last_frame": b}
            for k, e, c, a, b in DEFECTS
        ],
        "lerobot_view": view,
    }
    path = out.with_suffix(".json")
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 1024:.0f} KiB) and {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
