"""The evaluation split on the command line, one way for `eval`, `select`, `run` and `bench`:
which clusters the policy was trained on, which one is held out, and how many starts each
set gets. No command carries cluster numbers of its own (DESIGN §2): they come from the
flags, the dataset's metadata, the checkpoint's training dataset, or — for a policy trained on
nothing (the scripted expert) — the split `edgevla record` makes by default.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from edgevla.cli import CliError


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_split_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", type=Path, help="take training/held-out clusters from its metadata")
    p.add_argument("--clusters", help="training clusters, e.g. 1-5,7-11 (instead of --dataset)")
    p.add_argument("--holdout", help="held-out cluster (with --clusters), or 'none'")
    p.add_argument(
        "--episodes-per-cluster",
        type=positive_int,
        default=None,
        metavar="K",
        help="the larger seeded set instead of the NXP sets: K random starts per training "
        "cluster, and the held-out cluster's 10 positions plus random starts up to K",
    )


def split_from_args(
    args: argparse.Namespace, fallback_dataset: str | None = None, *, default: bool = False
) -> tuple[tuple[int, ...], int | None]:
    """(training clusters, held-out cluster): --clusters/--holdout, else --dataset, else
    `fallback_dataset` (the policy's), else with `default` the recording's default split."""
    from edgevla.cli.record import parse_clusters
    from edgevla.evaluate.protocol import default_split, split_from_dataset

    try:
        if args.clusters:
            holdout = None if args.holdout in (None, "none") else int(args.holdout)
            return tuple(c for c in parse_clusters(args.clusters) if c != holdout), holdout
        if args.holdout is not None:
            raise CliError("--holdout goes with --clusters (or take both from --dataset)")
        dataset = args.dataset or fallback_dataset
        if dataset is None:
            if default:
                return default_split()
            raise CliError("say which clusters to test: --dataset DIR, or --clusters and --holdout")
        if args.dataset is None and not Path(dataset).is_dir():
            raise CliError(
                f"the policy was trained on {dataset}, which is not on this machine: give "
                "--clusters and --holdout (e.g. --clusters 1-11 --holdout 6), or --dataset DIR"
            )
        return split_from_dataset(str(dataset))
    except (ValueError, FileNotFoundError) as e:
        raise CliError(str(e)) from None


def dataset_of_policy(policy: str) -> str | None:
    """The dataset a checkpoint was trained on (its train_config.json), for the split; None
    for a source that is no directory (scripted, hold) or records none (a bundle). Read
    without torch: `run` and `bench` may be on a board."""
    path = Path(policy)
    if not path.is_dir():
        return None
    # the checkpoint itself, LeRobot's step directory, a training run (its last checkpoint)
    for candidate in (path, path / "pretrained_model", path / "checkpoints/last/pretrained_model"):
        config = candidate / "train_config.json"
        if config.is_file():
            try:
                dataset = json.loads(config.read_text()).get("dataset")
            except json.JSONDecodeError as e:
                raise CliError(f"{config}: not valid JSON ({e})") from None
            return dataset if isinstance(dataset, str) or dataset is None else _lerobot(dataset)
    return None


def _lerobot(dataset: object) -> str | None:
    """LeRobot's train_config.json holds {"repo_id", "root", ...}: its root, else where LeRobot
    keeps a dataset it downloaded ($HF_LEROBOT_HOME/repo_id); None for a list of datasets."""
    if not isinstance(dataset, dict):
        return None
    if isinstance(dataset.get("root"), str):
        return dataset["root"]
    repo_id = dataset.get("repo_id")
    if not isinstance(repo_id, str) or repo_id.startswith("["):
        return None
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    home = os.environ.get("HF_LEROBOT_HOME") or os.path.join(hf_home, "lerobot")
    return os.path.join(os.path.expanduser(home), repo_id)
