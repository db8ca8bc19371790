"""Recording throughput: frames/s of `edgevla record` (physics + expert + rendering of three
cameras + video encoding + parquet), at 96x96 and 640x480, on this machine.

    MUJOCO_GL=egl .venv/bin/python benchmarks/record.py [--episodes 2] [--codec libsvtav1]

Targets (issue 2): >= 60 frames/s at 96x96, >= 8 frames/s at 640x480. Prints one line per
resolution; a "frame" is one control tick with all three camera images.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from edgevla.dataset.recording import RecordConfig, RecordingSession

TARGETS = {(96, 96): 60.0, (640, 480): 8.0}


def measure(width: int, height: int, episodes: int, codec: str) -> tuple[int, float]:
    config = RecordConfig(
        clusters=tuple(range(1, episodes + 1)),
        holdout=None,
        episodes_per_cluster=1,
        recovery_per_cluster=0,
        width=width,
        height=height,
        codec=codec,
    )
    with tempfile.TemporaryDirectory() as tmp:
        session = RecordingSession(Path(tmp) / "ds", config, progress=False)
        start = time.perf_counter()
        session.open()
        summary = session.run()
        seconds = time.perf_counter() - start
    return summary.frames, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--codec", default="libsvtav1")
    args = parser.parse_args()
    print(f"recording throughput, 3 cameras, codec {args.codec}, {args.episodes} episodes each")
    for (w, h), target in TARGETS.items():
        frames, seconds = measure(w, h, args.episodes, args.codec)
        rate = frames / seconds
        verdict = "ok" if rate >= target else "BELOW TARGET"
        print(
            f"{w}x{h}: {frames} frames in {seconds:.1f} s = {rate:.1f} frames/s (target >= {target:g}) {verdict}"
        )


if __name__ == "__main__":
    main()
