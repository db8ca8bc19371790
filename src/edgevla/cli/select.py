"""`edgevla select`: evaluate every checkpoint of a run closed-loop; pick by success, not loss."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from edgevla.cli import CliError, resolve_policy_or_exit
from edgevla.cli.eval import add_protocol_arguments, protocol_config, result_table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, type=Path, help="training run directory")
    p.add_argument("--steps", help="only these checkpoints, e.g. 8000,10000 (default: all)")
    p.add_argument(
        "--copy-to",
        type=Path,
        help="also copy the selected pretrained_model here (a new or empty directory)",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float16", "bfloat16"],
        help="with --copy-to: store the copy's weights in this precision (float16 halves it)",
    )
    add_protocol_arguments(p)


def run(args: argparse.Namespace) -> int:
    from edgevla.configio import config_to_dict
    from edgevla.evaluate.selection import select

    cfg = args.run / "train_config.json"
    dataset = json.loads(cfg.read_text()).get("dataset") if cfg.is_file() else None
    protocol = protocol_config(args, dataset)

    def show(step: int, result) -> None:
        if not args.no_progress:
            row = result.row()
            print(f"checkpoint {step}: global {row['global_accuracy']}", flush=True)

    steps = None
    if args.steps:
        try:
            steps = {int(s) for s in args.steps.split(",")}
        except ValueError:
            raise CliError(
                f"--steps must be comma-separated step numbers, got {args.steps!r}"
            ) from None
    if args.dtype and args.copy_to is None:
        raise CliError("--dtype goes with --copy-to")
    if args.copy_to is not None and args.copy_to.exists() and any(args.copy_to.iterdir()):
        raise CliError(f"--copy-to {args.copy_to} exists and is not empty")
    try:
        chosen, evaluated = select(
            args.run,
            protocol,
            lambda p: resolve_policy_or_exit(str(p)),
            show,
            steps=steps,
            workers=args.workers,
        )
    except FileNotFoundError as e:
        raise CliError(str(e)) from None
    rows = [{"policy": f"step {e.step}", **e.row} for e in evaluated]
    table = result_table(rows)
    print(table)
    print(f"\nselected: step {chosen.step} ({chosen.path})")
    (args.run / "selection.md").write_text(f"{table}\n\nselected: step {chosen.step}\n")
    data = {
        "protocol": config_to_dict(protocol),
        "checkpoints": [{"step": e.step, "path": str(e.path), **e.row} for e in evaluated],
        "selected": {"step": chosen.step, "path": str(chosen.path)},
        "rule": "best global accuracy; validation accuracy breaks ties; then the earlier step",
    }
    (args.run / "selection.json").write_text(json.dumps(data, indent=2))
    link = args.run / "checkpoints" / "selected"
    tmp = link.with_name(".selected.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(chosen.path.name)
    os.replace(tmp, link)
    if args.copy_to is not None:
        from edgevla.policies.checkpoint import copy_pretrained

        copied = copy_pretrained(chosen.path, args.copy_to, args.dtype)
        print(f"copied step {chosen.step} to {copied}" + (f" ({args.dtype})" if args.dtype else ""))
    return 0
