"""The kinds a policy source can name, each loading its package only when asked for.

The checkpoint layout is owned by `edgevla.policies.checkpoint` and the bundle layout by the
bundle runtime: this module only routes a directory to the one that recognises it, so neither
layout is spelled twice and a board without torch never imports it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgevla.contracts import ChunkPolicy, PolicySpec
from edgevla.features import CAMERAS
from edgevla.sources.trivial import FixedChunkPolicy, HoldPolicy

BUNDLE_MANIFEST = "manifest.json"
BUNDLE_RUNTIME = "edgevla.runtime.bundle"  # the export issue's torch-free bundle loader


class PolicySourceError(ValueError):
    """A `--policy` source that cannot be loaded; the message says what would work."""


def _trivial_spec(options: dict[str, str], name: str) -> PolicySpec:
    """PolicySpec from options chunk_size, fps, cameras (a+b+c), image (HxW)."""
    known = {"chunk_size", "fps", "cameras", "image"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise PolicySourceError(f"{name}: unknown options {unknown}; known: {sorted(known)}")
    try:
        image = options.get("image")
        image_shape = tuple(int(v) for v in image.lower().split("x")) if image else None
        if image_shape is not None and len(image_shape) != 2:
            raise ValueError(f"image must be HxW, got {image!r}")
        cameras = tuple(c for c in options.get("cameras", "+".join(CAMERAS)).split("+") if c)
        return PolicySpec(
            chunk_size=int(options.get("chunk_size", 100)),
            fps=float(options.get("fps", 30.0)),
            cameras=cameras,
            image_shape=image_shape,
            name=name,
        )
    except ValueError as e:
        raise PolicySourceError(f"{name}: bad option value: {e}") from e


def _zeros(options: dict[str, str]) -> ChunkPolicy:
    return FixedChunkPolicy(_trivial_spec(options, "zeros"))


def _hold(options: dict[str, str]) -> ChunkPolicy:
    return HoldPolicy(_trivial_spec(options, "hold"))


def _scripted(options: dict[str, str]) -> ChunkPolicy:
    module_name, class_name = "edgevla.sim.scripted_policy", "ScriptedChunkPolicy"
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise PolicySourceError(
            f"scripted: {module_name}.{class_name} is not available ({e}); it needs "
            "edgevla's sim (pip install 'edgevla[sim]')"
        ) from e
    try:
        return cls(**{k: _value(v) for k, v in options.items()})
    except TypeError as e:
        raise PolicySourceError(f"scripted: bad options {options}: {e}") from e


KINDS: dict[str, Callable[[dict[str, str]], ChunkPolicy]] = {
    "scripted": _scripted,
    "hold": _hold,
    "zeros": _zeros,
}


def load_directory(
    path: Path, *, fps: float, seed: int | None, threads: int | None = None
) -> ChunkPolicy:
    """A bundle (manifest.json) or a checkpoint in LeRobot's layout, as a ChunkPolicy;
    `threads`: a bundle's onnxruntime threads per block (None: the manifest's)."""
    if (path / BUNDLE_MANIFEST).is_file():
        return _bundle(path, threads)
    try:
        from edgevla.policies.checkpoint import resolve_pretrained_dir
        from edgevla.policies.errors import CheckpointError
    except ImportError as e:
        raise PolicySourceError(
            f"{path}: loading a checkpoint needs torch (pip install 'edgevla[train]'): {e}"
        ) from e
    try:
        pretrained = resolve_pretrained_dir(path)
    except CheckpointError as e:
        raise PolicySourceError(
            f"{path} is neither a checkpoint (config.json + model.safetensors in LeRobot's "
            f"layout) nor a bundle ({BUNDLE_MANIFEST}); it holds {_listing(path)} ({e})"
        ) from None
    return _checkpoint(pretrained, fps=fps, seed=seed)


def _checkpoint(pretrained: Path, *, fps: float, seed: int | None) -> ChunkPolicy:
    """The checkpoint in `pretrained` (the directory holding its config.json)."""
    from edgevla.policies.checkpoint import load_policy
    from edgevla.policies.chunk_policy import TorchChunkPolicy
    from edgevla.policies.errors import CheckpointError

    try:
        policy = load_policy(pretrained)
    except (CheckpointError, KeyError) as e:
        raise PolicySourceError(f"--policy {pretrained}: {e}") from e
    return TorchChunkPolicy(policy, fps=fps, seed=seed)


def _bundle(path: Path, threads: int | None) -> ChunkPolicy:
    try:
        runtime = importlib.import_module(BUNDLE_RUNTIME)
    except ModuleNotFoundError as e:
        if e.name != BUNDLE_RUNTIME:
            raise
        raise PolicySourceError(
            f"{path} is a bundle, but this edgevla has no bundle runtime ({BUNDLE_RUNTIME}); "
            "export support comes with the per-block export. Pass the checkpoint instead"
        ) from None
    try:
        return runtime.load_bundle(path, runtime.BundleRuntimeConfig(threads=threads))
    except runtime.BundleError as e:
        raise PolicySourceError(f"--policy {path}: {e}") from None


def _listing(path: Path, limit: int = 8) -> str:
    """A bounded view of what a directory holds, for an error message."""
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    if not names:
        return "nothing"
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def _value(text: str) -> Any:
    """Option strings to int, float or bool where they read as one."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)
