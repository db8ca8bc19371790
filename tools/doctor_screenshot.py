"""Regenerate docs/doctor-report.png: the doctor's HTML report on a defective sim recording,
as a headless browser renders it.

    .venv/bin/python tools/doctor_screenshot.py [--work DIR] [--out docs/doctor-report.png]

Steps (each printed as it runs): record a small sim dataset with `edgevla record`; inject the
README's three defects with `edgevla.dataset.doctor.defects` (the left camera nudged by 3 px in
episode 3, the lamp 35 % brighter in episode 2, held-out episode 4 moved into training); run
`edgevla doctor --html`; screenshot the page with headless Chromium (`apt-get install
chromium`, or name a Chrome-like binary with --browser); trim the blank bottom and store it
with a 256-colour palette so it stays small. Needs no network.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
RECORD = (
    "record --out teabag --clusters 1,2 --holdout 2 --episodes-per-cluster 2 "
    "--recovery-per-cluster 1 --resolution 128x96 --codec libx264 --max-seconds 10 --no-progress"
)
# A six-episode recording cannot meet the protocol's real minimums (10 per cluster, 15-25 %).
THRESHOLDS = {
    "protocol.cluster_size": {"min_episodes": 2},
    "protocol.recovery": {"min_share": 0.1, "max_share": 0.5},
}
DOCTOR = "doctor teabag --config thresholds.json --json report.json --html report --no-progress"
WIDTH = 960  # px: the README shows the page near 1:1


def edgevla(args: str, cwd: Path) -> None:
    print(f"$ edgevla {args}", flush=True)
    cmd = [sys.executable, "-m", "edgevla.cli", *shlex.split(args)]
    run = subprocess.run(cmd, cwd=cwd)
    if run.returncode not in (0, 1):  # 1: the doctor found what it should
        raise SystemExit(f"edgevla {args.split()[0]} failed with exit status {run.returncode}")


def inject(root: Path) -> None:
    """The defects of the README's example."""
    from edgevla.dataset.doctor import defects

    print("injecting: left camera nudged in episode 3, lamp +35 % in episode 2, episode 4 in train")
    defects.edit_frames(root, 3, "left", lambda f: defects.shift(f, 3, -2))
    for camera in ("top", "left", "gripper"):
        defects.edit_frames(root, 2, camera, lambda f: defects.gain(f, 1.35))
    defects.edit_episode_meta(root, lambda e, m: m.update(split="train") if e == 4 else None)


def find_browser(name: str | None) -> str:
    for candidate in [name] if name else ["chromium", "chromium-browser", "google-chrome"]:
        path = shutil.which(candidate)
        if path:
            return path
    raise SystemExit("no headless browser found: apt-get install chromium, or pass --browser")


def screenshot(browser: str, page: Path, png: Path, height: int) -> None:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",  # root in a container
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={WIDTH},{height}",
        f"--screenshot={png}",
        page.resolve().as_uri(),
    ]
    print(f"$ {shlex.join(cmd[:1] + cmd[1:])}", flush=True)
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def trim(png: Path, out: Path, margin: int = 24) -> Image.Image:
    """Cut the blank space below the page and quantise to a 256-colour palette."""
    image = Image.open(png).convert("RGB")
    pixels = np.asarray(image)
    used = np.flatnonzero((pixels < 250).any(axis=(1, 2)))
    bottom = min(pixels.shape[0], int(used[-1]) + margin) if used.size else pixels.shape[0]
    image = image.crop((0, 0, image.width, bottom))
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="where the dataset and report go (default: tmp)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "doctor-report.png")
    parser.add_argument("--browser", help="Chromium or Chrome binary (default: found on PATH)")
    parser.add_argument("--height", type=int, default=4000, help="browser window height (px)")
    args = parser.parse_args(argv)
    browser = find_browser(args.browser)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        edgevla(RECORD, work)
        inject(work / "teabag")
        (work / "thresholds.json").write_text(json.dumps(THRESHOLDS, indent=2))
        edgevla(DOCTOR, work)
        raw = work / "screenshot.png"
        screenshot(browser, work / "report" / "index.html", raw, args.height)
        image = trim(raw, args.out)
    print(f"wrote {args.out} ({image.width}x{image.height}, {args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
