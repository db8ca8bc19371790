"""`edgevla record`: record a LeRobot v3.0 dataset in the sim, by the NXP protocol: the
scripted expert's demonstrations, or with `--policy` any policy's rollouts (each episode's
success stored, failures kept)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from edgevla.cli import CliError, resolve_policy_or_exit
from edgevla.features import DEFAULT_TASK
from edgevla.sources import POLICY_HELP


def parse_clusters(text: str) -> tuple[int, ...]:
    """'1,2,5-7' -> (1, 2, 5, 6, 7)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(p) for p in part.split("-", 1))
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise CliError(f"--clusters must look like 1,2,5-7; got {text!r}") from None
    return tuple(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="dataset directory to create")
    p.add_argument("--clusters", default="1-11", help="clusters to record, e.g. 1-11 or 1,2,3")
    p.add_argument("--episodes-per-cluster", type=int, default=10)
    p.add_argument("--recovery-per-cluster", type=int, default=2)
    p.add_argument(
        "--holdout", default="6", help="cluster kept for validation only, or 'none' (default 6)"
    )
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--resolution", default="640x480", help="WIDTHxHEIGHT of every camera")
    p.add_argument("--task", default=DEFAULT_TASK)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--palette",
        default="high_contrast",
        help="high_contrast | white_on_white | black_arm_on_black_table",
    )
    p.add_argument("--codec", default="libsvtav1", help="libsvtav1 (LeRobot's default) | libx264")
    p.add_argument(
        "--calibration",
        nargs="*",
        default=(),
        help="calibration files whose hash is stamped into every episode (default: the sim's)",
    )
    p.add_argument("--max-seconds", type=float, default=20.0, help="episode time limit")
    p.add_argument("--num-clusters", type=int, default=11, help="clusters in the workspace")
    p.add_argument(
        "--action-noise",
        default="",
        metavar="DEG,DEG,DEG,DEG,DEG",
        help="push the arm off the expert's path by smooth noise of this std (degrees, "
        "shoulder_pan..wrist_roll) while recording the expert's targets (DART), e.g. 3,3,3,5,15; "
        "fades out before each grasp",
    )
    p.add_argument(
        "--policy",
        default=None,
        help=f"{POLICY_HELP}. Records its rollouts, every episode kept with its success "
        "(default: the scripted expert's demonstrations, failed ones retried and dropped)",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted recording")
    p.add_argument(
        "--overwrite", action="store_true", help="delete an existing --out first (careful)"
    )
    p.add_argument("--no-progress", action="store_true")


def build_config(args: argparse.Namespace):
    """Every argument checked before any work starts."""
    from edgevla.sim.config import parse_resolution

    try:
        width, height = parse_resolution(args.resolution)
    except ValueError as e:
        raise CliError(f"--resolution: {e}") from None
    holdout = None if str(args.holdout).lower() == "none" else _int(args.holdout, "--holdout")
    if args.fps <= 0:
        raise CliError(f"--fps must be positive, got {args.fps}")
    from edgevla.sim.config import PALETTES

    if args.palette not in PALETTES:
        raise CliError(f"--palette must be one of {sorted(PALETTES)}, got {args.palette!r}")
    for f in args.calibration:
        if not Path(f).exists():
            raise CliError(f"--calibration: {f} does not exist")
    try:
        config = _record_config(args, width, height, holdout)
        config.plan()
    except ValueError as e:
        raise CliError(str(e)) from None
    return config


def _record_config(args: argparse.Namespace, width: int, height: int, holdout: int | None):
    from edgevla.dataset.recording import RecordConfig

    return RecordConfig(
        clusters=parse_clusters(args.clusters),
        holdout=holdout,
        episodes_per_cluster=args.episodes_per_cluster,
        recovery_per_cluster=args.recovery_per_cluster,
        fps=args.fps,
        width=width,
        height=height,
        task=args.task,
        seed=args.seed,
        palette=args.palette,
        codec=args.codec,
        calibration_files=tuple(str(Path(f).resolve()) for f in args.calibration),
        max_seconds=args.max_seconds,
        num_clusters=args.num_clusters,
        action_noise_deg=_floats(args.action_noise, "--action-noise"),
        policy=_source(args.policy),
    )


def _source(policy: str | None) -> str | None:
    """A policy directory as an absolute path, so that --resume from elsewhere matches it."""
    if policy is not None and Path(policy).exists():
        return str(Path(policy).resolve())
    return policy


def _floats(text: str, flag: str) -> tuple[float, ...]:
    """'3,3,3,5,15' -> (3.0, 3.0, 3.0, 5.0, 15.0); '' -> ()."""
    if not text.strip():
        return ()
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise CliError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CliError(f"{flag} must be a cluster number or 'none', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from edgevla.dataset.recording import RecordingSession

    config = build_config(args)
    policy = None if config.policy is None else resolve_policy_or_exit(config.policy, config.fps)
    out: Path = args.out
    if args.resume and args.overwrite:
        raise CliError("--resume and --overwrite contradict each other")
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out} exists and is not a directory")
    non_empty = out.is_dir() and any(out.iterdir())
    if non_empty and not args.resume:
        if not args.overwrite:
            raise CliError(
                f"--out {out} is not empty; use --resume to continue that recording, "
                "or choose a new directory"
            )
        if not (out / "meta" / "info.json").is_file():
            raise CliError(f"--overwrite refuses to delete {out}: it is not a dataset")
        shutil.rmtree(out)
    if args.resume and not non_empty:
        raise CliError(f"--resume: nothing to resume in {out}")
    try:
        session = RecordingSession(
            out, config, resume=args.resume, progress=not args.no_progress, policy=policy
        )
        session.open()
    except (ValueError, FileExistsError, OSError) as e:
        raise CliError(str(e)) from None
    summary = session.run()
    rate = summary.frames / max(summary.seconds, 1e-9)
    print(
        f"{'interrupted' if summary.interrupted else 'recorded'}: {summary.recorded} new episodes "
        f"({summary.frames} frames, {rate:.1f} frames/s, {summary.retried} retries) -> {out.resolve()}"
    )
    if config.policy is not None:
        print(f"  {summary.succeeded} of {summary.recorded} rollouts succeeded")
    if summary.skipped_existing:
        print(f"  {summary.skipped_existing} episodes were already recorded")
    if summary.failed:
        print(f"  warning: the expert could not complete planned episodes {summary.failed}")
    if summary.interrupted:
        print(
            f"  every finished episode is kept; continue with: edgevla record --out {out} --resume ..."
        )
        return 130
    return 0
