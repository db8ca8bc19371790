"""`edgevla bench`: benchmarks. `edgevla bench async` runs sync against async modes on the NXP
test and validation sets in the sim, with a board's latency emulated in virtual time.

    edgevla bench async --latency imx95-act-optimized --fps 30 --actions-per-chunk 100
    edgevla bench async --latency 1.0 --actions-per-chunk 50 --out bench/1s-50
    edgevla bench async --latency 0.32 --modes sync latency_aware+crossfade --sets test
    edgevla bench async --policy demo/act-teabag --clusters 1-11 --holdout 6 --latency 0.32 \
        --actions-per-chunk 30 --episodes-per-cluster 10 --workers 2
    edgevla bench async --policy demo/act-teabag --clusters 1-11 --holdout 6 --latency measured
    edgevla bench accuracy --policy demo/act-teabag --dataset data/dataset-64n \
        --recipes fp32,int8-dynamic,optimized --episodes-per-cluster 10 --workers 2

Writes config.json, results.json, results.md, queue_<mode>.png and trajectories.png to --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgevla.cli import CliError
from edgevla.cli.split_args import add_split_arguments, positive_int, split_from_args
from edgevla.sources import POLICY_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    p = sub.add_parser("async", help="sync vs async inference on the evaluation sets (sim)")
    p.add_argument(
        "--latency",
        required=True,
        metavar="PROFILE|SECONDS|FILE|measured",
        help="board profile (imx95-act-optimized, ...), seconds, lognormal:MEDIAN:SPREAD, a "
        "JSON file of measured latencies, or 'measured': time the policy on this machine "
        "first and replay those samples (saved as measured_latency.json)",
    )
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--actions-per-chunk", type=int, default=100)
    p.add_argument(
        "--modes",
        "--configs",
        nargs="+",
        metavar="MODE",
        default=None,
        help="run modes TRIGGER[:VALUE][+AGGREGATOR][@ALIGN][/ACTIONS_PER_CHUNK][*MAX_IN_FLIGHT], e.g. sync "
        "threshold:0.6+weighted_average latency_aware+crossfade (default: a set of seven)",
    )
    p.add_argument("--sets", default="test,validation", help="comma-separated: test, validation")
    p.add_argument("--episodes", type=int, default=None, help="only the first N of each set")
    p.add_argument("--policy", default="scripted", help=POLICY_HELP)
    p.add_argument("--margin", type=float, default=0.1, help="latency_aware margin in seconds")
    p.add_argument("--max-seconds", type=float, default=30.0, help="episode time limit")
    p.add_argument(
        "--warm-start",
        action="store_true",
        help="every mode computes its first chunk before the episode clock starts",
    )
    add_split_arguments(p)
    p.add_argument("--split-seed", type=int, default=0, help="seeds the evaluation sets")
    p.add_argument("--seed", type=int, default=0, help="seeds the latency draws")
    p.add_argument(
        "--workers", type=positive_int, default=1, help="processes running episodes side by side"
    )
    p.add_argument("--out", type=Path, default=None, help="output directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_latency(sub)
    _add_accuracy(sub)


def _add_latency(sub) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser("latency", help="a bundle's per-block and end-to-end latency vs eager")
    p.add_argument("--policy", required=True, help="bundle directory")
    p.add_argument("--compare", help="checkpoint to time with PyTorch eager on the same inputs")
    p.add_argument("--runs", type=positive_int, default=30)
    p.add_argument("--warmup", type=positive_int, default=3)
    p.add_argument("--dataset", help="time on these frames (default: seeded random inputs)")
    p.add_argument("--out", type=Path, default=None, help="write latency.json here")


def run(args: argparse.Namespace) -> int:
    if args.bench == "async":
        return _run_async(args)
    if args.bench == "latency":
        return _run_latency(args)
    if args.bench == "accuracy":
        return _run_accuracy(args)
    raise CliError(f"unknown benchmark {args.bench!r}")


def _run_async(args: argparse.Namespace) -> int:
    from edgevla.evaluate.async_bench import AsyncBenchConfig
    from edgevla.evaluate.async_report import run_async_bench
    from edgevla.evaluate.modes import DEFAULT_MODES
    from edgevla.sources import PolicySourceError

    sets = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    # The split: flags, --dataset, else `edgevla record`'s default (as for `run`; the policy's
    # training dataset is not consulted: bench compares run modes, not checkpoints).
    training, holdout = split_from_args(args, default=True)
    try:
        config = AsyncBenchConfig(
            latency=args.latency,
            fps=args.fps,
            actions_per_chunk=args.actions_per_chunk,
            modes=tuple(args.modes) if args.modes else DEFAULT_MODES,
            sets=sets,
            policy=args.policy,
            clusters=training,
            holdout=holdout,
            split_seed=args.split_seed,
            episodes_per_cluster=args.episodes_per_cluster,
            seed=args.seed,
            margin_s=args.margin,
            max_seconds=args.max_seconds,
            episodes_per_set=args.episodes,
            warm_start=args.warm_start,
        )
    except (ValueError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
    out = args.out or Path("bench") / f"async-{_safe(args.latency)}-{args.actions_per_chunk}"
    try:
        data = run_async_bench(config, out, progress=not args.no_progress, workers=args.workers)
    except PolicySourceError as e:
        raise CliError(str(e)) from None
    print((out / "results.md").read_text().split("## Feasibility")[0].rstrip())
    print(f"\nwrote {out}/results.md, results.json, config.json and {len(data['modes']) + 1} plots")
    return 0


def _run_latency(args: argparse.Namespace) -> int:
    import json

    from edgevla.evaluate.bundle_latency import (
        LatencyBenchConfig,
        latency_markdown,
        run_latency_bench,
    )
    from edgevla.runtime.bundle_manifest import BundleError

    config = LatencyBenchConfig(
        policy=args.policy,
        compare=args.compare,
        runs=args.runs,
        warmup=args.warmup,
        dataset=args.dataset,
    )
    try:
        result = run_latency_bench(config)
    except BundleError as e:
        raise CliError(str(e)) from None
    print(latency_markdown(result))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}/latency.json")
    return 0


def _add_accuracy(sub) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser(
        "accuracy",
        help="per export recipe: error vs fp32, latency and closed-loop success (the NXP table)",
    )
    p.add_argument("--policy", required=True, help="ACT checkpoint directory to export")
    p.add_argument(
        "--recipes",
        default="fp32,optimized",
        help="comma-separated shipped recipes (edgevla export --list-recipes) or recipe files; "
        "fp32, the reference, is added if missing",
    )
    add_split_arguments(p)  # --dataset: the frames and the split (default: the checkpoint's)
    p.add_argument("--sets", default="test,validation", help="comma-separated: test, validation")
    p.add_argument(
        "--episodes", type=positive_int, default=None, help="only the first N of each set"
    )
    p.add_argument("--split-seed", type=int, default=0, help="seeds the evaluation sets")
    p.add_argument("--max-seconds", type=float, default=25.0, help="episode time limit")
    p.add_argument("--actions-per-chunk", type=positive_int, help="default: n_action_steps")
    p.add_argument("--error-frames", type=positive_int, default=16)
    p.add_argument("--latency-runs", type=positive_int, default=20)
    p.add_argument(
        "--workers", type=positive_int, default=1, help="processes running episodes side by side"
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (bundles go under it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_accuracy(args: argparse.Namespace) -> int:
    from edgevla.cli.split_args import dataset_of_policy
    from edgevla.evaluate.accuracy import REFERENCE, AccuracyBenchConfig, recipe_label
    from edgevla.evaluate.accuracy_report import run_accuracy_bench
    from edgevla.export import RecipeError

    dataset = args.dataset or dataset_of_policy(args.policy)
    if dataset is None or not Path(dataset).is_dir():
        raise CliError(
            f"no dataset for the export and error frames: the checkpoint names {dataset!r}; "
            "pass --dataset DIR"
        )
    args.dataset = Path(dataset)
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    if REFERENCE not in map(recipe_label, recipes):
        recipes.insert(0, REFERENCE)
    training, holdout = split_from_args(args)
    try:
        config = AccuracyBenchConfig(
            policy=args.policy,
            dataset=str(dataset),
            clusters=training,
            holdout=holdout,
            recipes=tuple(recipes),
            sets=tuple(s.strip() for s in args.sets.split(",") if s.strip()),
            split_seed=args.split_seed,
            episodes_per_cluster=args.episodes_per_cluster,
            episodes_per_set=args.episodes,
            max_seconds=args.max_seconds,
            actions_per_chunk=args.actions_per_chunk,
            error_frames=args.error_frames,
            latency_runs=args.latency_runs,
        )
    except ValueError as e:
        raise CliError(str(e)) from None
    out = args.out or Path("bench") / f"accuracy-{_safe(Path(args.policy).name)}"
    try:
        run_accuracy_bench(config, out, progress=not args.no_progress, workers=args.workers)
    except (RecipeError, FileExistsError, FileNotFoundError, ValueError) as e:
        raise CliError(str(e)) from None  # CheckpointError and BundleError are ValueErrors
    print((out / "results.md").read_text().rstrip())
    print(f"\nwrote {out}/results.md, results.json, config.json and the bundles in {out}/bundles")
    return 0


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in Path(text).stem or text)
