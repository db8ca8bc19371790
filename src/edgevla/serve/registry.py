"""Resolve `--policy SPEC` strings for `edgevla serve`: `[NAME=]KIND[:key=value,...]` or a path.

Kinds: `scripted` (the sim's scripted expert, imported lazily), `hold` (repeat the state),
`zeros` (a zero chunk, for benchmarks). A bundle directory is recognised but not served yet.
Heavy imports happen only when a kind is loaded, so `edgevla.serve` stays torch-free.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgevla.contracts import ChunkPolicy, PolicySpec
from edgevla.features import CAMERAS
from edgevla.serve.trivial import FixedChunkPolicy, HoldPolicy


class PolicyLoadError(ValueError):
    """A `--policy` spec that cannot be loaded; the message says what would work."""


def _trivial_spec(options: dict[str, str], name: str) -> PolicySpec:
    """PolicySpec from options chunk_size, fps, cameras (a+b+c), image (HxW)."""
    known = {"chunk_size", "fps", "cameras", "image"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise PolicyLoadError(f"{name}: unknown options {unknown}; known: {sorted(known)}")
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
        raise PolicyLoadError(f"{name}: bad option value: {e}") from e


def _zeros(options: dict[str, str]) -> ChunkPolicy:
    return FixedChunkPolicy(_trivial_spec(options, "zeros"))


def _hold(options: dict[str, str]) -> ChunkPolicy:
    return HoldPolicy(_trivial_spec(options, "hold"))


def _scripted(options: dict[str, str]) -> ChunkPolicy:
    module_name, class_name = "edgevla.sim.scripted_policy", "ScriptedChunkPolicy"
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise PolicyLoadError(
            f"scripted: {module_name}.{class_name} is not available ({e}); it needs "
            "edgevla's sim (pip install 'edgevla[sim]')"
        ) from e
    try:
        return cls(**{k: _value(v) for k, v in options.items()})
    except TypeError as e:
        raise PolicyLoadError(f"scripted: bad options {options}: {e}") from e


KINDS: dict[str, Callable[[dict[str, str]], ChunkPolicy]] = {
    "scripted": _scripted,
    "hold": _hold,
    "zeros": _zeros,
}


def parse_policy_arg(arg: str) -> tuple[str, str, dict[str, str]]:
    """`arm=zeros:chunk_size=50,fps=30` -> ("arm", "zeros", {"chunk_size": "50", "fps": "30"})."""
    head, _, opts = arg.partition(":")
    name, sep, kind = head.partition("=")
    if not sep:
        name, kind = "", head
    if not kind:
        raise PolicyLoadError(f"policy spec {arg!r} has no kind; expected [NAME=]KIND[:k=v,...]")
    options: dict[str, str] = {}
    for item in filter(None, opts.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PolicyLoadError(f"policy spec {arg!r}: option {item!r} is not key=value")
        options[key] = value
    return name or Path(kind).name or kind, kind, options


def load_policy(arg: str) -> tuple[str, ChunkPolicy]:
    """(name, policy) for one `--policy` spec."""
    name, kind, options = parse_policy_arg(arg)
    if kind in KINDS:
        return name, KINDS[kind](options)
    path = Path(kind)
    if path.is_dir():
        if (path / "manifest.json").is_file():
            raise PolicyLoadError(
                f"{path} is an ONNX bundle; serving bundles is not yet supported "
                "(it comes with the bundle pipeline). Use scripted, hold or zeros for now"
            )
        raise PolicyLoadError(f"{path} is a directory without manifest.json, not a bundle")
    raise PolicyLoadError(
        f"unknown policy {kind!r}: expected one of {sorted(KINDS)} or a bundle directory"
    )


def load_policies(args: Sequence[str]) -> dict[str, ChunkPolicy]:
    """name -> policy for several specs; names must be unique (use NAME=KIND)."""
    policies: dict[str, ChunkPolicy] = {}
    for arg in args:
        name, policy = load_policy(arg)
        if name in policies:
            raise PolicyLoadError(f"two policies named {name!r}; name them: NAME=KIND")
        policies[name] = policy
    return policies


def _value(text: str) -> Any:
    """Option strings to int, float or bool where they read as one."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)
