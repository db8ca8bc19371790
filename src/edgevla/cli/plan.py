"""`edgevla plan`: will async inference keep up on this board? (DESIGN §4)

    edgevla plan --latency imx95-act-optimized --fps 30 --actions-per-chunk 100
    edgevla plan --latency 2.86 --actions-per-chunk 100 --threshold 0.2 --json
    edgevla plan --latency bench/latencies.json --actions-per-chunk 50 --max-actions-per-chunk 100

Device side: numpy only, runs on the board.
"""

from __future__ import annotations

import argparse
import json

from edgevla.cli import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edgevla.runtime.latency import PROFILES

    parser.add_argument(
        "--latency",
        required=True,
        metavar="PROFILE|SECONDS|FILE",
        help=f"a board profile ({', '.join(PROFILES)}), seconds per chunk (e.g. 0.32), "
        "lognormal:MEDIAN:SPREAD, or a JSON file of measured latencies in seconds",
    )
    parser.add_argument("--fps", type=float, default=30.0, help="control rate (default 30)")
    parser.add_argument(
        "--actions-per-chunk", type=int, default=100, help="actions used per chunk (default 100)"
    )
    parser.add_argument(
        "--max-actions-per-chunk",
        type=int,
        default=None,
        help="the policy's chunk size, if the chunk may grow (default: --actions-per-chunk)",
    )
    parser.add_argument("--margin", type=float, default=0.1, help="seconds of slack (default 0.1)")
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=1,
        help="requests pipelined at once (default 1); >1 needs a device that runs them together",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="also simulate LeRobot's chunk_size_threshold trigger at this value",
    )
    parser.add_argument("--episode-seconds", type=float, default=30.0)
    parser.add_argument("--episodes", type=int, default=20, help="Monte Carlo episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from edgevla.runtime.latency import latency_model_from_string
    from edgevla.runtime.plan import plan

    try:
        model = latency_model_from_string(args.latency, seed=args.seed)
        report = plan(
            model,
            args.fps,
            args.actions_per_chunk,
            margin_s=args.margin,
            max_chunk_size=args.max_actions_per_chunk,
            threshold=args.threshold,
            episode_s=args.episode_seconds,
            episodes=args.episodes,
            seed=args.seed,
            max_in_flight=args.max_in_flight,
        )
    except (ValueError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0


def format_report(r) -> str:  # r: FeasibilityReport
    """A short report a person reads in ten seconds."""
    verdict = "yes" if r.feasible else "NO"
    if r.feasible and not r.feasible_p99:
        verdict = "yes at p95, not at p99"
    lines = [
        f"latency      {r.latency}",
        f"             p50 {r.latency_p50_s:.3f} s   p95 {r.latency_p95_s:.3f} s   "
        f"p99 {r.latency_p99_s:.3f} s",
        f"chunk        {r.actions_per_chunk} actions at {r.fps:g} fps = {r.chunk_duration_s:.2f} s; "
        f"{r.stale_actions_p95} go stale during a p95 inference, "
        f"{r.usable_duration_p95_s:.2f} s remain usable",
        f"feasible     {verdict}  (p95 latency + {r.margin_s:g} s margin must fit in the usable "
        f"time; {r.max_in_flight} request(s) in flight)",
        f"trigger      latency_aware requests at <= {r.request_at_actions} actions left "
        f"(LeRobot chunk_size_threshold {r.chunk_size_threshold:.2f})",
        f"recommended  trigger {r.recommended_trigger}, actions_per_chunk "
        f"{r.recommended_actions_per_chunk} (smallest feasible at p99: "
        f"{r.min_actions_per_chunk}, policy max {r.max_chunk_size}), max_in_flight "
        f"{r.recommended_max_in_flight}",
        "",
        f"Monte Carlo: {r.episodes} episodes of {r.episode_s:g} s, virtual time",
        f"  {'trigger':<14}{'inferences':>11}{'idle ticks':>12}{'starved':>9}"
        f"{'starved/chunk':>15}{'P(dry|chunk)':>14}",
    ]
    for e in r.estimates:
        lines.append(
            f"  {e.trigger:<14}{e.inferences_per_episode:>11.1f}{e.idle_ticks_per_episode:>12.1f}"
            f"{e.starved_ticks_per_episode:>9.1f}{e.starved_ticks_per_chunk:>15.2f}"
            f"{e.p_starve_per_chunk:>14.1%}"
        )
    lines += ["", *(f"- {n}" for n in r.notes)]
    return "\n".join(lines)
