"""`edgevla eval`: a policy on the NXP protocol's test and validation sets, closed-loop."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgevla.cli import CliError, resolve_policy_or_exit
from edgevla.sources import POLICY_HELP


def add_protocol_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", type=Path, help="take training/held-out clusters from its metadata")
    p.add_argument("--clusters", help="training clusters, e.g. 1-5,7-11 (instead of --dataset)")
    p.add_argument("--holdout", help="held-out cluster (with --clusters), or 'none'")
    p.add_argument("--sets", default="test,validation")
    p.add_argument("--seed", type=int, default=0, help="seed of the random test positions")
    p.add_argument("--max-seconds", type=float, default=25.0)
    p.add_argument("--actions-per-chunk", type=int, help="default: the policy's n_action_steps")
    p.add_argument(
        "--workers", type=_positive_int, default=1, help="processes running episodes side by side"
    )
    p.add_argument("--no-progress", action="store_true")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", required=True, help=POLICY_HELP)
    add_protocol_arguments(p)
    p.add_argument("--out", type=Path, help="write eval.json and eval.md here")


def protocol_config(args: argparse.Namespace, fallback_dataset: str | None = None):
    from edgevla.cli.record import parse_clusters
    from edgevla.evaluate.protocol import ProtocolConfig, protocol_from_dataset

    sets = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    bad = [s for s in sets if s not in ("test", "validation")]
    if bad:
        raise CliError(f"--sets takes test and/or validation, got {bad}")
    common = {
        "seed": args.seed,
        "sets": sets,
        "max_seconds": args.max_seconds,
        "actions_per_chunk": args.actions_per_chunk,
    }
    try:
        if args.clusters:
            holdout = None if args.holdout in (None, "none") else int(args.holdout)
            clusters = tuple(c for c in parse_clusters(args.clusters) if c != holdout)
            return ProtocolConfig(clusters, holdout, **common)
        dataset = args.dataset or fallback_dataset
        if dataset is None:
            raise CliError("say which clusters to test: --dataset DIR, or --clusters and --holdout")
        if args.dataset is None and not Path(dataset).is_dir():
            raise CliError(
                f"the policy was trained on {dataset}, which is not on this machine: give "
                "--clusters and --holdout (e.g. --clusters 1-11 --holdout 6), or --dataset DIR"
            )
        return protocol_from_dataset(str(dataset), **common)
    except (ValueError, FileNotFoundError) as e:
        raise CliError(str(e)) from None


def progress_printer(enabled: bool):
    if not enabled:
        return None

    def show(name: str, index: int, success: bool) -> None:
        print(f"  {name} episode {index + 1}: {'success' if success else 'failure'}", flush=True)

    return show


def result_table(rows: list[dict]) -> str:
    from edgevla.evaluate.report import markdown_table

    def pct(v):
        return "-" if v is None else f"{v:.2f}"

    headers = ["policy", "latency p50 (s)", "test", "validation", "global"]
    body = [
        [
            r["policy"],
            "-" if r["latency_p50_s"] is None else f"{r['latency_p50_s']:.3f}",
            f"{pct(r['test_accuracy'])} ({r['test_episodes']})",
            f"{pct(r['validation_accuracy'])} ({r['validation_episodes']})",
            pct(r["global_accuracy"]),
        ]
        for r in rows
    ]
    return markdown_table(headers, body)


def run(args: argparse.Namespace) -> int:
    from edgevla.configio import config_to_dict
    from edgevla.evaluate.protocol import run_protocol

    policy = resolve_policy_or_exit(args.policy)
    fallback = _dataset_of_run(args.policy)
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


def _dataset_of_run(policy: str) -> str | None:
    """The dataset a checkpoint was trained on (its train_config.json), for the split."""
    from edgevla.policies.checkpoint import resolve_pretrained_dir

    try:
        cfg = resolve_pretrained_dir(policy) / "train_config.json"
        return json.loads(cfg.read_text()).get("dataset") if cfg.is_file() else None
    except Exception:  # a scripted policy or a LeRobot checkpoint without our config
        return None
