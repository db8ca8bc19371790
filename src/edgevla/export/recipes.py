"""Recipes as data (DESIGN §3, Recipe): per block, a precision, its quantization settings, the
parity tolerance it must meet and its session settings.

A recipe is a JSON file: those shipped in `edgevla/export/recipes/` are named by their stem
(`fp32`, `optimized`, ...); any other path to a JSON file works the same way. Blocks are named
(`backbone`, `transformer`); `*` covers every block not named.

    {"name": "...", "description": "...",
     "blocks": {"backbone": {"precision": "int8-static", "tolerance": {"abs": .., "rel": ..}},
                "*": {"precision": "fp32"}},
     "end_to_end": {"abs": .., "rel": ..}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edgevla.configio import config_from_dict
from edgevla.export.cpu import needs_reduced_range
from edgevla.runtime.bundle_manifest import SessionSettings

PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8-static")
CALIBRATIONS = ("minmax", "entropy", "percentile")
INT_TYPES = ("int8", "uint8")
ANY_BLOCK = "*"
AUTO = "auto"


class RecipeError(ValueError):
    """A recipe that cannot be read or used; the message names the file and field."""


@dataclass(frozen=True)
class Tolerance:
    """Parity bounds: max |onnx - torch| and that over max |torch| (see export.parity)."""

    abs: float = 1e-4
    rel: float = 1e-4


@dataclass(frozen=True)
class BlockRecipe:
    precision: str = "fp32"
    op_types: tuple[str, ...] = ("Conv", "MatMul", "Gemm")  # what int8 quantizes
    per_channel: bool = True  # weights per output channel
    activation_type: str = "uint8"  # static only; unsigned activations (VNNI's u8 x s8)
    weight_type: str = "int8"
    reduce_range: bool | str = AUTO  # 7-bit weights; "auto": where the exporting CPU needs them
    matmul_const_b_only: bool = True  # MatMuls with a weight only, not attention's Q.K / P.V
    calibration: str = "minmax"
    portable: bool = False  # standard QDQ ops only (no com.microsoft), for NPU toolchains
    tolerance: Tolerance = field(default_factory=Tolerance)
    session: SessionSettings = field(default_factory=SessionSettings)

    def __post_init__(self) -> None:
        checks = (
            ("precision", self.precision, PRECISIONS),
            ("calibration", self.calibration, CALIBRATIONS),
            ("activation_type", self.activation_type, INT_TYPES),
            ("weight_type", self.weight_type, INT_TYPES),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.reduce_range not in (True, False, AUTO):
            raise ValueError(
                f"reduce_range must be true, false or {AUTO!r}, got {self.reduce_range!r}"
            )

    def weights_7bit(self) -> bool:
        """reduce_range resolved for this machine (export.cpu: x86 without VNNI needs it)."""
        if self.reduce_range == AUTO:
            return needs_reduced_range()
        return bool(self.reduce_range)


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    blocks: dict[str, BlockRecipe]
    end_to_end: Tolerance
    source: str  # the file it was read from

    def block(self, name: str) -> BlockRecipe:
        recipe = self.blocks.get(name, self.blocks.get(ANY_BLOCK))
        if recipe is None:
            raise RecipeError(
                f"{self.source}: no settings for block {name!r} (and no {ANY_BLOCK!r} entry)"
            )
        return recipe

    def to_json(self) -> dict[str, Any]:
        return json.loads(Path(self.source).read_text()) | {"source": self.source}


def shipped_recipes() -> dict[str, Path]:
    """Name -> file of every recipe shipped with edgevla."""
    folder = resources.files("edgevla.export") / "recipes"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".json")}


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A shipped recipe by name, or a recipe file by path."""
    shipped = shipped_recipes()
    path = shipped.get(str(name_or_path)) or Path(name_or_path)
    if not path.is_file():
        raise RecipeError(
            f"recipe {str(name_or_path)[:200]!r} is neither a shipped recipe "
            f"({', '.join(sorted(shipped))}) nor a file"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RecipeError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("blocks"), dict):
        raise RecipeError(f"{path}: expected an object with 'blocks': {{block: settings}}")
    blocks = {}
    for block, settings in data["blocks"].items():
        try:
            blocks[block] = config_from_dict(BlockRecipe, settings)
        except (TypeError, ValueError) as e:
            raise RecipeError(f"{path}: blocks.{block}: {e}") from None
    try:
        end_to_end = config_from_dict(Tolerance, data.get("end_to_end", {}))
    except (TypeError, ValueError) as e:
        raise RecipeError(f"{path}: end_to_end: {e}") from None
    return Recipe(
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        blocks=blocks,
        end_to_end=end_to_end,
        source=str(path),
    )
