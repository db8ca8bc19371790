"""`edgevla train`: train ACT or SmolVLA on a dataset's training split, resumable."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgevla.cli import CliError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        choices=("act", "act_prefix", "smolvla"),
        help="policy type (new runs); act_prefix: ACT that continues the actions committed "
        "while it computes (async control), fine-tuned from an act checkpoint with --init-from",
    )
    p.add_argument("--dataset", type=Path, help="LeRobot v3.0 dataset directory")
    p.add_argument("--out", type=Path, help="run directory to create")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue RUN where it stopped")
    p.add_argument("--steps", type=int, help="total optimizer steps (default 100000)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--save-every", type=int, default=20_000)
    p.add_argument("--val-every", type=int, default=2_000)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--cameras", help="comma-separated cameras to use (default: all)")
    p.add_argument("--lr", type=float, help="learning rate (default: the policy's)")
    p.add_argument(
        "--scheduler",
        choices=("constant", "cosine"),
        default="constant",
        help="learning-rate schedule: constant, or cosine decay to 0 at --steps",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: CPU bfloat16 autocast for forward and loss (fp32 weights and optimizer)",
    )
    p.add_argument(
        "--image-shift",
        type=int,
        default=0,
        metavar="PIXELS",
        help="augment: shift each training image by up to PIXELS in x and y (default 0: off)",
    )
    p.add_argument("--warmup-steps", type=int, default=0, help="linear warm-up steps")
    p.add_argument(
        "--init-from",
        type=Path,
        metavar="CHECKPOINT",
        help="fine-tune: start from this checkpoint's weights and architecture (a pretrained_model "
        "directory, ours or LeRobot's, or a run); --set still overrides fields",
    )
    p.add_argument("--num-threads", type=int, help="torch CPU threads")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="policy config field (LeRobot name), e.g. --set dim_model=256 --set chunk_size=50",
    )
    p.add_argument(
        "--backbone-batch-norm",
        action="store_true",
        help="train the image backbone's batch norm (a from-scratch backbone); checkpoints keep "
        "LeRobot's frozen batch norm layout",
    )
    p.add_argument(
        "--doctor",
        nargs="?",
        const="error",
        choices=("error", "warn"),
        help="run `edgevla doctor` on the dataset first and refuse to train if a check at this "
        "severity fails (default: error)",
    )
    p.add_argument("--doctor-config", type=Path, help="thresholds JSON for --doctor")
    p.add_argument("--no-progress", action="store_true")


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise CliError(f"--set wants FIELD=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    from edgevla.policies.training.config import TrainConfig
    from edgevla.policies.training.trainer import Trainer

    progress = not args.no_progress
    if args.resume is not None:
        if args.out or args.dataset or args.policy:
            raise CliError("--resume takes the run's saved settings; drop --out/--dataset/--policy")
        try:
            trainer = Trainer.from_run(args.resume, steps=args.steps, progress=progress)
        except (FileNotFoundError, ValueError) as e:
            raise CliError(str(e)) from None
    else:
        missing = [f for f in ("policy", "dataset", "out") if getattr(args, f) is None]
        if missing:
            raise CliError(f"a new run needs --{', --'.join(missing)} (or --resume RUN)")
        if not (args.dataset / "meta" / "info.json").is_file():
            raise CliError(f"--dataset {args.dataset} is not a LeRobot dataset (no meta/info.json)")
        if args.doctor:
            from edgevla.cli.doctor import gate

            if not gate(args.dataset, args.doctor, args.doctor_config, progress):
                return 1
        try:
            config = TrainConfig(
                policy=args.policy,
                dataset=str(args.dataset.resolve()),
                output_dir=str(args.out),
                steps=args.steps or 100_000,
                batch_size=args.batch_size,
                save_every=args.save_every,
                val_every=args.val_every,
                log_every=args.log_every,
                seed=args.seed,
                cameras=tuple(args.cameras.split(",")) if args.cameras else None,
                policy_overrides=_overrides(args.set),
                lr=args.lr,
                scheduler=args.scheduler,
                warmup_steps=args.warmup_steps,
                precision=args.precision,
                image_shift=args.image_shift,
                init_from=str(args.init_from.resolve()) if args.init_from else None,
                num_threads=args.num_threads,
                backbone_batch_norm=args.backbone_batch_norm,
            )
        except ValueError as e:
            raise CliError(str(e)) from None
        trainer = Trainer(config, progress=progress)
    try:
        run_dir = trainer.run()
    except (FileExistsError, FileNotFoundError, ValueError, KeyError) as e:
        raise CliError(str(e)) from None
    print(f"trained {trainer.config.steps} steps -> {run_dir}/checkpoints/last")
    return 0
