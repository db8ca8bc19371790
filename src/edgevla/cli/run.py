"""`edgevla run`: run a policy closed-loop on an environment, in-process or from a policy server.

Flags mirror LeRobot's robot_client, so its users know them:

    edgevla run --server 127.0.0.1:8080 --env sim --task "Put the tea bag in the mug" \\
        --fps 30 --actions-per-chunk 80 --chunk-size-threshold 0.6 \\
        --aggregate weighted_average --plot-queue queue.png
    edgevla run --policy scripted --latency imx95-act-optimized --episodes 5   # in-process

With --server the loop runs on the wall clock and the latency is the real round trip; a server
that goes away mid-episode makes the arm hold while the inference worker reconnects (--retry-*
flags: the runtime's RetrySchedule, saved in config.json). Without it the
policy runs in-process: on the wall clock with its real compute time, or — with --latency —
in virtual time emulating that latency exactly (add --wall-clock to emulate it for real).
The trigger is LeRobot's threshold when --chunk-size-threshold is given, else latency_aware.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgevla.cli import CliError, resolve_policy_or_exit
from edgevla.cli.split_args import add_split_arguments, split_from_args
from edgevla.sources import POLICY_HELP

if TYPE_CHECKING:
    from edgevla.runtime.config import RuntimeConfig


@dataclass(frozen=True)
class RunCommandConfig:
    """Everything `edgevla run` was asked to do; saved as config.json beside --out results."""

    runtime: RuntimeConfig
    server: str | None
    policy: str
    env: str
    task: str
    episodes: int
    eval_set: str
    max_seconds: float
    emulated_latency: str | None  # wall clock only: latency added to an in-process policy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edgevla.features import DEFAULT_TASK
    from edgevla.robots import ENV_HELP
    from edgevla.runtime.aggregators import AGGREGATORS
    from edgevla.runtime.triggers import TRIGGERS

    parser.add_argument("--server", metavar="HOST:PORT", help="policy server (else in-process)")
    parser.add_argument("--env", default="sim", help=ENV_HELP)
    parser.add_argument("--task", default=DEFAULT_TASK, help="task instruction")
    parser.add_argument("--fps", type=float, default=30.0, help="control rate")
    parser.add_argument("--actions-per-chunk", type=int, default=None, help="use N per chunk")
    parser.add_argument(
        "--chunk-size-threshold",
        type=float,
        default=None,
        help="LeRobot's trigger: request when queue / chunk size <= this (selects threshold)",
    )
    parser.add_argument(
        "--aggregate", "--aggregate-fn-name", default="crossfade", choices=sorted(AGGREGATORS)
    )
    parser.add_argument("--trigger", choices=sorted(TRIGGERS), default=None)
    parser.add_argument("--margin", type=float, default=0.1, help="latency_aware margin (s)")
    parser.add_argument("--align", default="state", choices=["state", "time"])
    parser.add_argument(
        "--warm-start",
        action="store_true",
        help="compute the first chunk from the reset observation before the episode starts",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=1,
        help="pipeline up to N requests (see `edgevla plan --max-in-flight`); the server or "
        "device must run them at once",
    )
    parser.add_argument(
        "--latency",
        metavar="PROFILE|SECONDS|FILE",
        help="in-process only: emulate this latency (virtual time unless --wall-clock)",
    )
    parser.add_argument("--wall-clock", action="store_true", help="emulate --latency for real")
    parser.add_argument(
        "--policy",
        default=None,
        help=f"in-process: a {POLICY_HELP} (default scripted); with --server: the server's "
        "policy name (default: its only one)",
    )
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--set", dest="eval_set", default="test", choices=["test", "validation"])
    add_split_arguments(parser)
    parser.add_argument("--max-seconds", type=float, default=30.0, help="episode time limit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot-queue", type=Path, help="save the queue-size plot (PNG)")
    parser.add_argument("--out", type=Path, help="write config.json and results.json here")
    _add_server_arguments(parser)
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run the control thread under SCHED_FIFO with a 1 ms GIL switch interval (needs "
        "CAP_SYS_NICE; keeps the period within ~1 ms on a loaded CPU)",
    )
    parser.add_argument(
        "--worker-priority",
        type=int,
        default=None,
        help="with --realtime: run in-process inference under SCHED_FIFO at this priority (< 50);"
        " only for policies that hold the GIL while computing",
    )
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING"])


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """How `--server` is reached and how it is reconnected to (one RetrySchedule)."""
    from edgevla.runtime.retry import RetrySchedule

    parser.add_argument("--token-file", type=Path, help="bearer token for the server")
    parser.add_argument("--tls-ca", type=Path, help="CA certificate (PEM) of the server")
    parser.add_argument("--connect-timeout", type=float, default=10.0)
    parser.add_argument(
        "--retry-max-wait",
        type=float,
        default=RetrySchedule.max_s,
        help="with --server: longest wait between reconnect attempts (s)",
    )
    parser.add_argument(
        "--retry-attempt-timeout",
        type=float,
        default=RetrySchedule.attempt_timeout_s,
        help="with --server: how long one reconnect attempt may take (s)",
    )
    parser.add_argument(
        "--retry-attempts",
        type=int,
        default=None,
        help="with --server: fail the episode after N reconnect attempts (default: hold the "
        "arm until the server is back)",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    _check_args(args)
    policy = _remote_policy(args) if args.server else _local_policy(args)
    try:
        return _run(args, policy)
    finally:
        close = getattr(policy, "close", None)
        if close is not None:
            close()


def _check_args(args: argparse.Namespace) -> None:
    if args.episodes < 1:
        raise CliError(f"--episodes must be >= 1, got {args.episodes}")
    if args.server and args.latency:
        raise CliError("--latency emulates an in-process policy; a server's latency is real")
    if args.wall_clock and not args.latency:
        raise CliError("--wall-clock needs --latency (without it the wall clock is the default)")
    for flag, path in (("--token-file", args.token_file), ("--tls-ca", args.tls_ca)):
        if path is not None and not path.is_file():
            raise CliError(f"{flag}: {path} does not exist")
    if args.worker_priority is not None and not (args.realtime and 1 <= args.worker_priority < 50):
        raise CliError("--worker-priority needs --realtime and a value in 1..49")
    if args.chunk_size_threshold is not None and args.trigger not in (None, "threshold"):
        raise CliError("--chunk-size-threshold is the threshold trigger's; drop --trigger")


def _remote_policy(args: argparse.Namespace):
    from edgevla.serve import RemotePolicy, ServeError

    token = args.token_file.read_text().strip() if args.token_file else None
    policy = RemotePolicy(
        args.server,
        policy=args.policy or "",
        task=args.task,
        actions_per_chunk=args.actions_per_chunk or 0,
        token=token,
        tls_ca=args.tls_ca,
        retry=_retry(args),
        client_name="edgevla run",
    )
    try:
        spec = policy.connect(timeout=args.connect_timeout)
    except ServeError as e:
        raise CliError(str(e)) from None
    print(f"connected to {args.server}: {spec.name}, {spec.chunk_size} actions per chunk")
    return policy


def _retry(args: argparse.Namespace):
    """The RetrySchedule of the --retry-* flags: the client's start-up connect and the
    inference worker's reconnects both follow it."""
    from edgevla.runtime.retry import RetrySchedule

    try:
        return RetrySchedule(
            initial_s=min(RetrySchedule.initial_s, args.retry_max_wait),
            max_s=args.retry_max_wait,
            attempt_timeout_s=args.retry_attempt_timeout,
            max_attempts=args.retry_attempts,
        )
    except ValueError as e:
        raise CliError(f"--retry-*: {e}") from None


def _local_policy(args: argparse.Namespace):
    policy = resolve_policy_or_exit(args.policy or "scripted")
    if args.latency and args.wall_clock:
        from edgevla.runtime.emulate import LatencyEmulatingPolicy
        from edgevla.runtime.latency import latency_model_from_string

        try:
            model = latency_model_from_string(args.latency, seed=args.seed)
        except (ValueError, FileNotFoundError) as e:
            raise CliError(str(e)) from None
        policy = LatencyEmulatingPolicy(policy, model, seed=args.seed)
    return policy


def _runtime(args: argparse.Namespace, initial_latency_s: float | None):
    from edgevla.runtime.config import RuntimeConfig

    trigger = args.trigger or ("threshold" if args.chunk_size_threshold is not None else None)
    virtual = bool(args.latency) and not args.wall_clock and not args.server
    return RuntimeConfig(
        trigger=trigger or "latency_aware",
        aggregator=args.aggregate,
        latency=args.latency if virtual else "wall",
        seed=args.seed,
        actions_per_chunk=None if args.server else args.actions_per_chunk,
        threshold=args.chunk_size_threshold if args.chunk_size_threshold is not None else 0.5,
        margin_s=args.margin,
        initial_latency_s=None if virtual else initial_latency_s,
        align=args.align,
        max_in_flight=args.max_in_flight,
        warm_start=args.warm_start,
        retry=_retry(args),
    )


def _run(args: argparse.Namespace, policy) -> int:
    from edgevla.evaluate.episodes import run_episodes
    from edgevla.evaluate.protocol import evaluation_starts
    from edgevla.evaluate.summary import summarize
    from edgevla.robots import make_env
    from edgevla.runtime.subscribers import QueueSizeRecorder, plot_queue_size

    # Not the checkpoint's training split: `run` starts where it is told, else the default.
    training, holdout = split_from_args(args, default=True)
    starts = evaluation_starts(training, holdout, 0, args.episodes_per_cluster)[args.eval_set]
    if not starts:
        raise CliError(f"the {args.eval_set} set is empty (no held-out cluster?)")
    chosen = [starts[i % len(starts)] for i in range(args.episodes)]
    try:
        env = make_env(args.env, policy.spec, fps=args.fps)
        prior = None if (args.latency and not args.wall_clock) else _measure(policy, env, chosen)
        runtime = _runtime(args, prior)
    except ValueError as e:
        raise CliError(str(e)) from None
    recorders = [QueueSizeRecorder() for _ in chosen]

    def report(index: int, result) -> None:
        done = f"{result.completion_time_s:.2f} s" if result.success else "failed"
        print(
            f"episode {index}: {done}, waited {result.idle_ticks / args.fps:.2f} s, "
            f"{result.starved_ticks} starved, {result.outage_ticks} outage ticks, "
            f"{result.reconnects} reconnects, jerk {result.jerk:.0f}"
        )

    try:
        with _scheduling(args, runtime):
            results = run_episodes(
                policy, chosen, runtime=runtime, env=env, max_seconds=args.max_seconds,
                task=args.task, subscribers=lambda i, _s: [recorders[i]], on_episode=report,
            )  # fmt: skip
    except ValueError as e:
        raise CliError(str(e)) from None
    summary = summarize(results)
    print(
        f"{summary.successes}/{summary.episodes} succeeded; mode {runtime.trigger} + "
        f"{runtime.aggregator} ({'virtual' if runtime.latency != 'wall' else 'wall'} clock)"
    )
    if args.plot_queue:
        for i, recorder in enumerate(recorders):
            path = args.plot_queue
            if len(recorders) > 1:
                path = path.with_name(f"{path.stem}_ep{i}{path.suffix or '.png'}")
            plot_queue_size(recorder, path, title=f"action queue, episode {i}")
            print(f"wrote {path}")
    if args.out:
        _write(args, runtime, results, summary)
    return 0


def _scheduling(args: argparse.Namespace, runtime):
    """Real-time scheduling of the control thread for wall-clock runs asked for --realtime."""
    import contextlib

    from edgevla.runtime.realtime import realtime_priority

    if not args.realtime or runtime.latency != "wall":
        return contextlib.nullcontext(False)
    return realtime_priority(worker_priority=args.worker_priority)


def _measure(policy, env, starts) -> float:
    """Seconds of one warm-up inference on the first start's observation: the latency-aware
    trigger's prior on the wall clock (it then learns from every chunk)."""
    obs = env.reset(start=starts[0])
    policy.reset()
    began = time.perf_counter()
    policy.predict_chunk(obs, 0)
    return time.perf_counter() - began


def _write(args, runtime, results, summary) -> None:
    from edgevla.configio import save_config
    from edgevla.evaluate.report import write_json

    config = RunCommandConfig(
        runtime=runtime, server=args.server, policy=args.policy or "scripted", env=args.env,
        task=args.task, episodes=args.episodes, eval_set=args.eval_set,
        max_seconds=args.max_seconds, emulated_latency=args.latency if args.wall_clock else None,
    )  # fmt: skip
    save_config(config, args.out / "config.json")
    write_json(
        {"summary": summary.to_dict(), "episodes": [r.summary() for r in results]},
        args.out / "results.json",
    )
    print(f"wrote {args.out}/config.json and results.json")
