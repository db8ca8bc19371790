"""`edgevla bench accuracy`: what each export recipe costs, the NXP report's table (DESIGN §6,
§7): per recipe, the checkpoint exported to a bundle (`edgevla.export`), its per-block and
end-to-end error against the FP32 bundle on dataset frames, its latency (`bench latency`), and
its closed-loop success on the test and validation sets, and on the larger seeded set, with
Wilson 95 % intervals.

Every recipe runs the same episodes as `edgevla eval --policy BUNDLE` would (sync, zero
virtual latency, the policy's n_action_steps): accuracy is about the numbers, not the board.
A recipe the parity gate refuses is a row of the table (it says why), not a crash.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgevla.evaluate.parallel import EpisodeRunner, shards_of
from edgevla.evaluate.protocol import SYNC, evaluation_starts
from edgevla.export.recipes import Recipe, load_recipe
from edgevla.runtime.records import EpisodeResult
from edgevla.sim.clusters import StartPosition

REFERENCE = "fp32"  # the recipe every error is measured against
SETS = ("test", "validation")
LARGER = "larger-"  # prefix of the larger seeded set's names: larger-test, larger-validation
BUNDLES_DIR = "bundles"


def recipe_label(recipe: str) -> str:
    """A recipe's row name and bundle directory: a shipped name, or a recipe file's stem."""
    return Path(recipe).stem


@dataclass(frozen=True)
class AccuracyBenchConfig:
    """Saved beside the results as config.json; `edgevla bench accuracy` builds it from flags."""

    policy: str  # an ACT checkpoint directory
    dataset: str  # frames for export (parity, calibration) and for the error columns
    clusters: tuple[int, ...]  # training clusters (the dataset's split)
    holdout: int | None
    recipes: tuple[str, ...] = (REFERENCE, "optimized")  # shipped names or recipe files
    sets: tuple[str, ...] = SETS
    split_seed: int = 0  # seeds the evaluation sets
    episodes_per_cluster: int | None = None  # K: the larger seeded set as well
    episodes_per_set: int | None = None  # N: only the first N of each set (a smoke run)
    max_seconds: float = 25.0  # `edgevla eval`'s
    actions_per_chunk: int | None = None  # None: the policy's n_action_steps
    error_frames: int = 16
    parity_frames: int = 8  # export's gate
    calibration_frames: int = 32  # export's int8-static calibration
    latency_runs: int = 20

    def __post_init__(self) -> None:
        labels = [recipe_label(r) for r in self.recipes]
        if REFERENCE not in labels:
            raise ValueError(
                f"recipes must include {REFERENCE!r}, the reference the errors are measured "
                f"against; got {list(self.recipes)}"
            )
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"recipes named twice: {repeated} (rows and bundles go by name)")
        unknown = [s for s in self.sets if s not in SETS]
        if unknown or not self.sets:
            raise ValueError(f"sets must be some of {list(SETS)}, got {list(self.sets)}")
        counts = {
            "error_frames": self.error_frames,
            "latency_runs": self.latency_runs,
            "episodes_per_set": self.episodes_per_set or 1,
            "episodes_per_cluster": self.episodes_per_cluster or 1,
        }
        bad = {k: v for k, v in counts.items() if v < 1}
        if bad or self.max_seconds <= 0:
            raise ValueError(f"need counts >= 1 and max_seconds > 0, got {bad or self.max_seconds}")

    def starts(self) -> dict[str, list[StartPosition]]:
        """set name -> starts: the NXP sets, then (episodes_per_cluster) the larger ones."""
        training = tuple(c for c in self.clusters if c != self.holdout)
        nxp = evaluation_starts(training, self.holdout, self.split_seed)
        chosen = {name: nxp[name] for name in self.sets}
        if self.episodes_per_cluster is not None:
            larger = evaluation_starts(
                training, self.holdout, self.split_seed, self.episodes_per_cluster
            )
            chosen |= {LARGER + name: larger[name] for name in self.sets}
        chosen = {name: starts[: self.episodes_per_set] for name, starts in chosen.items()}
        empty = [name for name, starts in chosen.items() if not starts]
        if empty:
            raise ValueError(f"evaluation sets {empty} are empty (no held-out cluster?)")
        return chosen


def load_recipes(config: AccuracyBenchConfig) -> dict[str, Recipe]:
    """label -> recipe, every one read before any work (RecipeError names the shipped ones)."""
    return {recipe_label(r): load_recipe(r) for r in config.recipes}


def bundle_of(config: AccuracyBenchConfig, recipe: str, out: Path, progress=None) -> Path:
    """The bundle of `recipe` under out/bundles/: exported here, or the one a previous run of
    this bench left there (same checkpoint weights, same recipe), so a rerun after a crash
    does not export again. ParityError / QuantizationError: the recipe was refused."""
    from edgevla.export import ExportConfig, export_bundle
    from edgevla.runtime.bundle_manifest import MANIFEST_NAME, read_manifest, sha256_of

    bundle = out / BUNDLES_DIR / recipe_label(recipe)
    if (bundle / MANIFEST_NAME).is_file():
        manifest = read_manifest(bundle)
        same_recipe = _recipe_data(manifest.recipe) == _recipe_data(load_recipe(recipe).to_json())
        if same_recipe and manifest.source.get("sha256") == sha256_of(weights_of(config.policy)):
            return bundle
        raise FileExistsError(
            f"{bundle} holds a bundle of another recipe or checkpoint; choose a new --out"
        )
    export = ExportConfig(
        policy=Path(config.policy),
        out=bundle,
        dataset=Path(config.dataset),
        recipe=recipe,
        parity_frames=config.parity_frames,
        calibration_frames=config.calibration_frames,
    )
    export_bundle(export, progress=progress)
    return bundle


def weights_of(checkpoint: str) -> Path:
    from edgevla.policies.checkpoint import WEIGHTS_NAME, resolve_pretrained_dir

    return resolve_pretrained_dir(checkpoint) / WEIGHTS_NAME


def _recipe_data(recipe: dict[str, Any]) -> dict[str, Any]:
    """A manifest's recipe without where its file lay (a checkout moves)."""
    return {k: v for k, v in recipe.items() if k != "source"}


def run_sets(
    config: AccuracyBenchConfig,
    bundle: Path,
    *,
    workers: int = 1,
    on_episode: Callable[[str, int, EpisodeResult], None] | None = None,
) -> dict[str, list[EpisodeResult]]:
    """Every chosen set's episodes of `bundle`, as `edgevla eval` runs them (episode indices
    from 0 in each set); workers > 1: in that many processes, each loading the bundle."""
    from edgevla.runtime.bundle import load_bundle

    policy = load_bundle(bundle)
    apc = config.actions_per_chunk or policy.spec.extra.get("n_action_steps")
    runtime = dataclasses.replace(SYNC, actions_per_chunk=apc)
    shards, tags = [], []
    for name, starts in config.starts().items():
        set_shards = shards_of(runtime, starts, config.max_seconds)
        shards += set_shards
        tags += [name] * len(set_shards)
    results: dict[str, list[EpisodeResult]] = {name: [] for name in dict.fromkeys(tags)}

    def finished(i: int, shard) -> None:  # type: ignore[no-untyped-def]
        results[tags[i]].extend(shard.results)
        for offset, result in enumerate(shard.results):
            if on_episode is not None:
                on_episode(tags[i], shards[i].first_episode + offset, result)

    source = str(bundle) if workers > 1 else None
    with EpisodeRunner(source, workers, policy=policy, fps=policy.spec.fps) as runner:
        runner.run(shards, finished)
    return results
