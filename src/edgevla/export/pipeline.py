"""`export_bundle`: checkpoint -> blocks -> ONNX -> recipe -> parity gate -> bundle.

The bundle is built in a staging directory beside `out` and moved into place only when every
block and the whole chain pass the gate, so a refused export leaves no bundle that looks
usable. The end-to-end check runs the bundle through the device runtime itself
(`edgevla.runtime.bundle`), numpy normalization included.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgevla.configio import save_config
from edgevla.contracts import Observation
from edgevla.export.act_blocks import Block, act_blocks
from edgevla.export.config import CONFIG_NAME, DEFAULT_FPS, LOG_NAME, ExportConfig
from edgevla.export.frames import dataset_observations, synthetic_observations
from edgevla.export.manifest import build_manifest
from edgevla.export.onnx_export import export_block
from edgevla.export.parity import ParityResult, check, compare
from edgevla.export.quantize import OpReport, apply_recipe
from edgevla.export.recipes import Recipe, load_recipe
from edgevla.export.reference import Reference, compute_reference
from edgevla.features import STATE_KEY
from edgevla.policies.chunk_policy import TorchChunkPolicy
from edgevla.runtime.bundle import load_bundle
from edgevla.runtime.bundle_manifest import ACTIONS_OUTPUT, BLOCKS_DIR, Manifest, write_manifest

Progress = Callable[[str], None]
STEPS_PER_BLOCK = 3  # export, recipe, parity
FIXED_STEPS = 4  # load, frames + reference, end to end, write


def total_steps(n_blocks: int = 2) -> int:
    return FIXED_STEPS + STEPS_PER_BLOCK * n_blocks


def export_bundle(config: ExportConfig, progress: Progress | None = None) -> Manifest:
    """Export `config.policy` to the bundle `config.out`; ParityError if the gate refuses."""
    step = progress or (lambda _: None)
    out = Path(config.out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new --out")
    recipe = load_recipe(config.recipe)
    if config.dataset is None and calibrated_blocks(recipe):
        raise ValueError(
            f"recipe {recipe.name!r} calibrates {', '.join(calibrated_blocks(recipe))} "
            "(int8-static) on dataset frames; pass --dataset DIR"
        )
    step("loading checkpoint")
    wrapper, pretrained = _load(config)
    blocks = act_blocks(wrapper.policy)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / BLOCKS_DIR).mkdir(parents=True)
    try:
        step("reading frames, computing the torch reference")
        parity, calib = _frames(config, wrapper, recipe)
        reference = compute_reference(wrapper, blocks, parity)
        calibration = compute_reference(wrapper, blocks, calib)
        reports, results = {}, []
        for block in blocks:
            report, result = _block(block, recipe, staging, reference, calibration, step)
            reports[block.name] = report
            results.append(result)
        manifest = build_manifest(wrapper, pretrained, blocks, recipe, reports, staging, results)
        write_manifest(manifest, staging)
        step("end to end through the bundle runtime")
        results.append(_end_to_end(staging, parity, reference, recipe))
        step("writing the bundle")
        manifest = build_manifest(wrapper, pretrained, blocks, recipe, reports, staging, results)
        write_manifest(manifest, staging)
        save_config(config, staging / CONFIG_NAME)
        staging.rename(out) if not out.exists() else _move_into(staging, out)
    except BaseException:
        _keep_log(staging, out)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _load(config: ExportConfig):  # -> (TorchChunkPolicy, Path)
    from edgevla.policies.act import ACTPolicy
    from edgevla.policies.checkpoint import load_policy, resolve_pretrained_dir

    pretrained = resolve_pretrained_dir(config.policy)
    policy = load_policy(pretrained)
    if type(policy) is not ACTPolicy:
        raise ValueError(
            f"{pretrained}: export cuts ACT into blocks; this checkpoint is "
            f"{policy.config.type!r} (SmolVLA and ACT variants come later)"
        )
    if config.fps:
        fps = config.fps
    elif config.dataset is not None:
        fps = _dataset_fps(config.dataset)
    else:
        fps = DEFAULT_FPS
    return TorchChunkPolicy(policy.eval(), fps=fps), pretrained


def calibrated_blocks(recipe: Recipe) -> list[str]:
    """The recipe's blocks that calibrate on frames (int8-static): they need a dataset."""
    return [name for name, b in recipe.blocks.items() if b.precision == "int8-static"]


def _frames(
    config: ExportConfig, wrapper: TorchChunkPolicy, recipe: Recipe
) -> tuple[list[Observation], list[Observation]]:
    """(parity, calibration) observations: the dataset's, or without one synthetic parity
    frames inside the checkpoint's statistics and none to calibrate on (refused above)."""
    spec = wrapper.spec
    if config.dataset is None:
        state_range = _state_range(wrapper.policy.preprocessor.stats.get(STATE_KEY, {}))  # type: ignore[union-attr]
        return synthetic_observations(spec, state_range, config.parity_frames), []
    parity = dataset_observations(config.dataset, spec, config.parity_frames, config.episodes)
    if not calibrated_blocks(recipe):
        return parity, []
    calib = dataset_observations(
        config.dataset, spec, config.calibration_frames, config.episodes, offset=1
    )
    return parity, calib


def _state_range(stats: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """mean +- std where the checkpoint has them, else its min..max, else None."""
    if "mean" in stats and "std" in stats:
        mean, std = stats["mean"].numpy(), stats["std"].numpy()
        return mean - std, mean + std
    if "min" in stats and "max" in stats:
        return stats["min"].numpy(), stats["max"].numpy()
    return None


def _dataset_fps(dataset: Path) -> float:
    from edgevla.dataset.reader import DatasetReader

    return float(DatasetReader.open(dataset).fps)


def _block(
    block: Block,
    recipe: Recipe,
    staging: Path,
    reference: Reference,
    calibration: Reference,
    step: Progress,
) -> tuple[OpReport, ParityResult]:
    log = staging / LOG_NAME
    settings = recipe.block(block.name)
    step(f"{block.name}: ONNX export")
    fp32 = export_block(block, staging / "work" / f"{block.name}.fp32.onnx", log)
    step(f"{block.name}: {settings.precision}")
    path = staging / BLOCKS_DIR / f"{block.name}.onnx"
    report = apply_recipe(block.name, fp32, path, settings, calibration.feeds(block), log)
    step(f"{block.name}: parity")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = [session.run(None, feed)[0] for feed in reference.feeds(block)]
    result = compare(block.name, got, reference.outputs(block), settings.tolerance)
    check(result, recipe.name)
    return report, result


def _end_to_end(
    staging: Path, observations: list, reference: Reference, recipe: Recipe
) -> ParityResult:
    shutil.rmtree(staging / "work", ignore_errors=True)
    bundle = load_bundle(staging)
    got = [bundle.run_blocks(bundle.block_inputs(o))[ACTIONS_OUTPUT] for o in observations]
    result = compare("end_to_end", got, reference.chunks, recipe.end_to_end)
    check(result, recipe.name)
    return result


def _move_into(staging: Path, out: Path) -> None:
    """`out` exists and is empty (checked above): replace it."""
    out.rmdir()
    staging.rename(out)


def _keep_log(staging: Path, out: Path) -> None:
    """A refused or failed export keeps its tool log beside `out` for the post-mortem."""
    log = staging / LOG_NAME
    if log.is_file():
        shutil.copyfile(log, out.with_name(f"{out.name}.{LOG_NAME}"))
