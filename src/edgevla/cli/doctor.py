"""`edgevla doctor DATASET`: check a LeRobot v3.0 dataset before hours of training are spent.

Exit status 1 when a check at the `--fail-on` severity (or above) fails, so a script or
`edgevla train` can gate on it; 2 for bad arguments or a dataset that cannot be opened.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgevla.cli import CliError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", type=Path, help="dataset directory (meta/info.json inside)")
    p.add_argument(
        "--checks",
        nargs="+",
        default=[],
        help="check names or groups (video image motion protocol)",
    )
    p.add_argument("--config", type=Path, help="thresholds JSON: {check: {param: value}}")
    p.add_argument("--json", type=Path, help="write the report (the source of truth) here")
    p.add_argument("--html", type=Path, help="write an HTML report into this directory")
    p.add_argument("--fail-on", choices=("error", "warn"), default="error")
    p.add_argument("--full", action="store_true", help="decode every frame, not windows")
    p.add_argument("--windows", type=int, default=4, help="windows per episode and camera")
    p.add_argument("--window-frames", type=int, default=8, help="consecutive frames per window")
    p.add_argument(
        "--moving-cameras",
        default="gripper,wrist",
        help="name parts of cameras mounted on the arm (exempt from drift and lighting checks)",
    )
    p.add_argument("--workers", type=int, default=2, help="video streams decoded at once")
    p.add_argument("--list", action="store_true", help="list the checks and their thresholds")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from edgevla.dataset.doctor import DoctorConfig, run_doctor
    from edgevla.dataset.doctor.registry import all_checks
    from edgevla.dataset.doctor.report import summary_table
    from edgevla.dataset.layout import DatasetFormatError

    if args.list:
        for c in all_checks().values():
            print(f"{c.name:<24} {c.severity:<5} {c.defaults}  {c.doc}")
        return 0
    if args.windows < 1 or args.window_frames < 2 or args.workers < 1:
        raise CliError("--windows and --workers must be >= 1 and --window-frames >= 2")
    config = DoctorConfig(
        checks=tuple(args.checks),
        thresholds=_thresholds(args.config),
        windows=args.windows,
        window_frames=args.window_frames,
        full=args.full,
        progress=not args.no_progress,
        workers=args.workers,
        moving_cameras=tuple(p.strip() for p in args.moving_cameras.split(",") if p.strip()),
    )
    try:
        report = run_doctor(args.dataset, config, html=args.html)
    except (DatasetFormatError, ValueError) as e:
        raise CliError(str(e)) from None
    print(summary_table(report))
    if args.json:
        report.write_json(args.json)
        print(f"report: {args.json}")
    if args.html:
        print(f"html: {args.html / 'index.html'}")
    failed = report.failed(args.fail_on)
    if failed:
        print(f"failing at --fail-on {args.fail_on}: {', '.join(r.name for r in failed)}")
    return 1 if failed else 0


def _thresholds(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CliError(f"--config {path}: {e}") from None
    if not isinstance(data, dict):
        raise CliError(f"--config {path}: expected an object {{check: {{param: value}}}}")
    return data


def gate(dataset: Path, fail_on: str, thresholds: Path | None, progress: bool) -> bool:
    """The doctor before training (`edgevla train --doctor`): prints its table; False when a
    check at `fail_on` severity fails."""
    from edgevla.dataset.doctor import DoctorConfig, run_doctor
    from edgevla.dataset.doctor.report import summary_table
    from edgevla.dataset.layout import DatasetFormatError

    config = DoctorConfig(thresholds=_thresholds(thresholds), progress=progress)
    try:
        report = run_doctor(dataset, config)
    except (DatasetFormatError, ValueError) as e:
        raise CliError(str(e)) from None
    print(summary_table(report))
    failed = report.failed(fail_on)
    if failed:
        names = ", ".join(r.name for r in failed)
        print(f"not training: the doctor found problems at --doctor {fail_on}: {names}")
    return not failed
