"""The bundle's layout and manifest (DESIGN §3, Bundle): owned here, on the device side, and
written by `edgevla.export` through these same classes, so the layout is spelled once.

    <bundle>/manifest.json      this schema (SCHEMA_VERSION)
    <bundle>/blocks/<name>.onnx  one graph per block, run in manifest order

Blocks form a dataflow by tensor name: the runtime provides `images` (float32[cameras, 3, H,
W], normalized, in camera order) and `state` (float32[1, S], normalized); each block reads
tensors already there and adds its outputs; the last block's `actions` (float32[1, T, A],
normalized) is un-normalized with the manifest's statistics. stdlib only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgevla.configio import config_from_dict, config_to_dict

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
BLOCKS_DIR = "blocks"
IMAGES_INPUT = "images"
STATE_INPUT = "state"
ACTIONS_OUTPUT = "actions"
GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")


class BundleError(ValueError):
    """A bundle that cannot be run; `path` names the file at fault."""

    def __init__(self, path: Path | str, detail: str) -> None:
        self.path = Path(path)
        self.detail = detail
        super().__init__(f"{path}: {detail}")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy name: "float32", "uint8"
    shape: tuple[int, ...]


@dataclass(frozen=True)
class SessionSettings:
    """onnxruntime session options for one block; threads 0 = onnxruntime's default."""

    threads: int = 0
    graph_optimization: str = "all"

    def __post_init__(self) -> None:
        if self.graph_optimization not in GRAPH_OPTIMIZATIONS:
            raise ValueError(
                f"graph_optimization must be one of {GRAPH_OPTIMIZATIONS}, "
                f"got {self.graph_optimization!r}"
            )
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")


@dataclass(frozen=True)
class BlockSpec:
    name: str
    file: str  # relative to the bundle, e.g. blocks/backbone.onnx
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    precision: str
    sha256: str
    session: SessionSettings = field(default_factory=SessionSettings)
    quantized_ops: dict[str, int] = field(default_factory=dict)  # op type -> count
    float_ops: dict[str, int] = field(default_factory=dict)  # op type -> count left float
    weights_7bit: bool | None = None  # int8: reduce_range as resolved on the exporting CPU


@dataclass(frozen=True)
class FeatureNorm:
    """LeRobot's formulas (edgevla.policies.normalization): mode MEAN_STD (low = mean, high =
    std), MIN_MAX (min, max), QUANTILES (q01, q99), QUANTILE10 (q10, q90) or IDENTITY."""

    key: str  # the observation key (or "action")
    mode: str
    low: Any = None  # nested lists broadcasting to the feature's shape
    high: Any = None
    eps: float = 1e-8


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    policy_type: str
    chunk_size: int
    fps: float
    n_action_steps: int
    cameras: tuple[str, ...]  # camera names in the order `images` stacks them
    image_shape: tuple[int, int]  # (H, W)
    action_names: tuple[str, ...]
    observation: tuple[TensorSpec, ...]  # keyed by observation key, as the policy reads them
    normalization: tuple[FeatureNorm, ...]
    blocks: tuple[BlockSpec, ...]
    recipe: dict[str, Any]
    parity: dict[str, Any]
    source: dict[str, Any]  # {"path": ..., "sha256": ...} of the checkpoint's weights

    def block_path(self, bundle: Path, block: BlockSpec) -> Path:
        return bundle / block.file

    def norm(self, key: str) -> FeatureNorm | None:
        return next((n for n in self.normalization if n.key == key), None)


def write_manifest(manifest: Manifest, bundle: Path) -> Path:
    path = Path(bundle) / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config_to_dict(manifest), indent=2) + "\n")
    tmp.replace(path)
    return path


def read_manifest(bundle: Path) -> Manifest:
    """Parse and check the manifest; every failure is a BundleError naming manifest.json."""
    path = Path(bundle) / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(path, "bundle manifest not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(path, f"not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise BundleError(path, f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            path,
            f"schema_version {repr(version)[:40]} is not one this runtime reads "
            f"({SCHEMA_VERSION}); re-export the bundle with this edgevla",
        )
    try:
        manifest = config_from_dict(Manifest, data)
    except (TypeError, ValueError) as e:
        raise BundleError(path, f"malformed manifest ({str(e)[:300]})") from None
    _check_structure(manifest, path)
    return manifest


def _check_structure(manifest: Manifest, path: Path) -> None:
    if not manifest.blocks:
        raise BundleError(path, "no blocks")
    for block in manifest.blocks:
        if not isinstance(block, BlockSpec):
            raise BundleError(path, f"malformed block entry {str(block)[:200]}")
        file = Path(block.file)
        if file.is_absolute() or ".." in file.parts:
            raise BundleError(path, f"block {block.name!r}: file {block.file!r} leaves the bundle")
    if manifest.blocks[-1].outputs[0].name != ACTIONS_OUTPUT:
        raise BundleError(path, f"the last block must output {ACTIONS_OUTPUT!r}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
