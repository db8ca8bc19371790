"""`edgevla export`: a checkpoint cut into blocks, exported, quantized per its recipe, checked
against PyTorch on dataset frames, and written as a bundle (DESIGN §3, §7).

    edgevla export --policy demo/act-teabag --out bundles/act --recipe optimized \
        --dataset data/teabag
    edgevla export --list-recipes
    edgevla export --policy runs/act --out bundles/act-mine --recipe my_recipe.json

The dataset defaults to the one the checkpoint was trained on (its train_config.json). A
checkpoint with none at hand (one LeRobot saved, downloaded alone) still exports at a recipe
that does not calibrate (fp32, fp16, int8-dynamic): the parity gate then runs on synthetic frames
inside the checkpoint's statistics, and the bundle records --fps (default 30).

    edgevla export --policy lerobot_act/pretrained_model --out bundles/act-fp32 --recipe fp32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgevla.cli import CliError
from edgevla.cli.split_args import dataset_of_policy, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", help="checkpoint directory (LeRobot's layout), ACT")
    p.add_argument("--out", type=Path, help="bundle directory to create")
    p.add_argument(
        "--recipe", default="optimized", help="a shipped recipe (--list-recipes) or a JSON file"
    )
    p.add_argument(
        "--dataset", type=Path, help="frames for parity and calibration (default: the checkpoint's)"
    )
    p.add_argument(
        "--fps", type=float, help="control rate the bundle records (default: the dataset's, or 30)"
    )
    p.add_argument("--parity-frames", type=positive_int, default=8)
    p.add_argument("--calibration-frames", type=positive_int, default=32)
    p.add_argument("--list-recipes", action="store_true", help="show the shipped recipes")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from edgevla.export import RecipeError, load_recipe, shipped_recipes

    if args.list_recipes:
        for name, path in sorted(shipped_recipes().items()):
            print(f"{name:16s} {load_recipe(path).description}")
        return 0
    if not args.policy or not args.out:
        raise CliError("--policy and --out are required (or --list-recipes)")
    if args.fps is not None and args.fps <= 0:
        raise CliError(f"--fps must be > 0, got {args.fps}")
    try:
        return _export(args, _dataset(args))
    except RecipeError as e:
        raise CliError(str(e)) from None


def _dataset(args: argparse.Namespace) -> Path | None:
    """--dataset, else the checkpoint's own if it is here; None (with a note) otherwise."""
    from edgevla.export.config import DEFAULT_FPS

    if args.dataset is not None:
        if not args.dataset.is_dir():
            raise CliError(f"--dataset {args.dataset}: not a directory")
        return args.dataset
    named = dataset_of_policy(args.policy)
    if named is not None and Path(named).is_dir():
        return Path(named)
    why = f"the checkpoint's dataset {named} is not here" if named else "the checkpoint names none"
    print(
        f"note: no dataset ({why}): the parity gate runs on {args.parity_frames} synthetic "
        f"frames inside the checkpoint's statistics, the bundle records "
        f"{args.fps or DEFAULT_FPS:g} fps; pass --dataset DIR to check on real frames "
        "(recipes with int8-static blocks need one)",
        file=sys.stderr,
    )
    return None


def _export(args: argparse.Namespace, dataset: Path | None) -> int:
    from edgevla.export import ExportConfig, ParityError, export_bundle
    from edgevla.policies.errors import CheckpointError

    try:
        config = ExportConfig(
            policy=Path(args.policy),
            out=args.out,
            dataset=dataset,
            recipe=args.recipe,
            fps=args.fps,
            parity_frames=args.parity_frames,
            calibration_frames=args.calibration_frames,
        )
    except ValueError as e:
        raise CliError(str(e)) from None
    bar = _bar(not args.no_progress)
    try:
        manifest = export_bundle(config, progress=bar.step if bar else None)
    except (ParityError, CheckpointError, FileExistsError, ValueError) as e:
        raise CliError(str(e)) from None
    finally:
        if bar:
            bar.close()
    for block in manifest.blocks:
        result = manifest.parity[block.name]
        print(
            f"{block.name:12s} {block.precision:13s} max abs {result['max_abs']:.3g}  "
            f"max rel {result['max_rel']:.3g}"
        )
    e2e = manifest.parity["end_to_end"]
    print(f"{'end to end':26s} max abs {e2e['max_abs']:.3g}  max rel {e2e['max_rel']:.3g}")
    print(f"wrote {args.out} (recipe {manifest.recipe['name']})")
    return 0


class _Bar:
    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="step", dynamic_ncols=True, leave=False)
        self._started = False

    def step(self, label: str) -> None:
        if self._started:
            self._bar.update(1)
        self._started = True
        self._bar.set_description(label)

    def close(self) -> None:
        self._bar.update(self._bar.total - self._bar.n)
        self._bar.close()


def _bar(enabled: bool) -> _Bar | None:
    if not enabled:
        return None
    from edgevla.export.pipeline import total_steps

    return _Bar(total_steps())
