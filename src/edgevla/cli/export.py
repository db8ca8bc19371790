"""`edgevla export`: a checkpoint cut into blocks, exported, quantized per its recipe, checked
against PyTorch on dataset frames, and written as a bundle (DESIGN §3, §7).

    edgevla export --policy demo/act-teabag --out bundles/act --recipe optimized \
        --dataset data/teabag
    edgevla export --list-recipes
    edgevla export --policy runs/act --out bundles/act-mine --recipe my_recipe.json

The dataset defaults to the one the checkpoint was trained on (its train_config.json).
"""

from __future__ import annotations

import argparse
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
    dataset = args.dataset or dataset_of_policy(args.policy)
    if dataset is None or not Path(dataset).is_dir():
        raise CliError(
            f"no dataset for the parity gate: the checkpoint names {dataset!r}; pass --dataset DIR"
        )
    try:
        return _export(args, Path(dataset))
    except RecipeError as e:
        raise CliError(str(e)) from None


def _export(args: argparse.Namespace, dataset: Path) -> int:
    from edgevla.export import ExportConfig, ParityError, export_bundle
    from edgevla.policies.errors import CheckpointError

    try:
        config = ExportConfig(
            policy=Path(args.policy),
            out=args.out,
            dataset=dataset,
            recipe=args.recipe,
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
