"""`edgevla eval`: a policy on the NXP protocol's test and validation sets, closed-loop."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgevla.cli import CliError, resolve_policy_or_exit
from edgevla.cli.split_args import (
    add_split_arguments,
    dataset_of_policy,
    positive_int,
    split_from_args,
)
from edgevla.sources import POLICY_HELP


def add_protocol_arguments(p: argparse.ArgumentParser) -> None:
    add_split_arguments(p)
    p.add_argument("--sets", default="test,validation")
    p.add_argument("--seed", type=int, default=0, help="seed of the random test positions")
    p.add_argument("--max-seconds", type=float, default=25.0)
    p.add_argument("--actions-per-chunk", type=int, help="default: the policy's n_action_steps")
    p.add_argument(
        "--workers", type=positive_int, default=1, help="processes running episodes side by side"
    )
    p.add_argument("--no-progress", action="store_true")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", required=True, help=POLICY_HELP)
    add_protocol_arguments(p)
    p.add_argument("--out", type=Path, help="write eval.json and eval.md here")


def protocol_config(args: argparse.Namespace, fallback_dataset: str | None = None):
    from edgevla.evaluate.protocol import ProtocolConfig

    sets = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    bad = [s for s in sets if s not in ("test", "validation")]
    if bad:
        raise CliError(f"--sets takes test and/or validation, got {bad}")
    common = {
        "seed": args.seed,
        "sets": sets,
        "max_seconds": args.max_seconds,
        "actions_per_chunk": args.actions_per_chunk,
        "episodes_per_cluster": args.episodes_per_cluster,
    }
    training, holdout = split_from_args(args, fallback_dataset)
    try:
        return ProtocolConfig(training, holdout, **common)
    except ValueError as e:
        raise CliError(str(e)) from None


def progress_printer(enabled: bool):
    if not enabled:
        return None

    def show(name: str, index: int, success: bool) -> None:
        print(f"  {name} episode {index + 1}: {'success' if success else 'failure'}", flush=True)

    return show


def result_table(rows: list[dict]) -> str:
    from edgevla.evaluate.report import markdown_table

    def pct(r: dict, name: str) -> str:
        """`0.85 [0.64, 0.95]`: the accuracy and its Wilson 95 % interval."""
        value, ci = r[f"{name}_accuracy"], r.get(f"{name}_ci95")
        if value is None:
            return "-"
        return f"{value:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")

    headers = ["policy", "latency p50 (s)", "test", "validation", "global"]
    body = [
        [
            r["policy"],
            "-" if r["latency_p50_s"] is None else f"{r['latency_p50_s']:.3f}",
            f"{pct(r, 'test')} ({r['test_episodes']})",
            f"{pct(r, 'validation')} ({r['validation_episodes']})",
            pct(r, "global"),
        ]
        for r in rows
    ]
    return markdown_table(headers, body)


def run(args: argparse.Namespace) -> int:
    from edgevla.configio import config_to_dict
    from edgevla.evaluate.protocol import run_protocol

    policy = resolve_policy_or_exit(args.policy)
    fallback = dataset_of_policy(args.policy)
    protocol = protocol_config(args, fallback)
    result = run_protocol(
        policy,
        protocol,
        progress_printer(not args.no_progress),
        workers=args.workers,
        source=args.policy,
    )
    row = {"policy": args.policy, **result.row()}
    table = result_table([row])
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "eval.md").write_text(table + "\n")
        data = {
            "protocol": config_to_dict(protocol),
            "result": row,
            "successes": result.successes,
            "completion_s": result.completion_s,
        }
        (args.out / "eval.json").write_text(json.dumps(data, indent=2))
    return 0
