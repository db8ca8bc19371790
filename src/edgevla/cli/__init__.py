"""The `edgevla` command: one subcommand per pipeline step (DESIGN §1).

Each subcommand lives in its own module under `edgevla.cli` with two functions:
`add_arguments(parser)` and `run(args) -> int`. Command modules import their heavy libraries
(torch, mujoco, ...) inside `run`, so `edgevla --help` and the device-side commands start fast
and work on a board that has only the base install.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Order is the pipeline's order.
COMMANDS: dict[str, tuple[str, str]] = {
    "record": ("edgevla.cli.record", "record a LeRobot v3.0 dataset in the sim workcell"),
    "calib": ("edgevla.cli.calib", "back up, list, restore and verify calibration files"),
    "doctor": ("edgevla.cli.doctor", "check a dataset for recording defects"),
    "train": ("edgevla.cli.train", "train ACT or SmolVLA on a dataset"),
    "select": ("edgevla.cli.select", "pick a checkpoint by closed-loop success"),
    "eval": ("edgevla.cli.eval", "evaluate a policy closed-loop on the test/validation sets"),
    "export": ("edgevla.cli.export", "cut a policy into blocks and export a bundle"),
    "bench": ("edgevla.cli.bench", "benchmarks (async vs sync, latency, ...)"),
    "plan": ("edgevla.cli.plan", "check async feasibility for a latency profile"),
    "serve": ("edgevla.cli.serve", "run the gRPC policy server"),
    "run": ("edgevla.cli.run", "run a policy on an environment, in-process or remote"),
    "demo": ("edgevla.cli.demo", "the whole pipeline on the sim, end to end"),
}


def _available() -> dict[str, object]:
    """Import the command modules that exist; a missing one is simply not offered yet."""
    modules: dict[str, object] = {}
    for name, (module_name, _) in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgevla", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _available().items():
        p = sub.add_parser(name, help=COMMANDS[name][1], description=COMMANDS[name][1])
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except CliError as e:
        print(f"edgevla {args.command}: error: {e}", file=sys.stderr)
        return 2


class CliError(Exception):
    """A user-facing error: printed as one clear line, exit code 2, no traceback."""


if __name__ == "__main__":
    sys.exit(main())


def resolve_policy_or_exit(source: str, fps: float = 30.0):  # -> ChunkPolicy
    """`--policy` through the one registry, its errors as CLI errors (same text everywhere)."""
    from edgevla.sources import PolicySourceError, resolve_policy

    try:
        return resolve_policy(source, fps=fps)
    except PolicySourceError as e:
        raise CliError(str(e)) from None
