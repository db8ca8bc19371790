"""edgevla.export — a policy cut into blocks, each exported to ONNX, brought to its recipe's
precision and checked against PyTorch on dataset frames, then written as a bundle (DESIGN §2,
§3, §7). Torch side only; the bundle runs on `edgevla.runtime.bundle`.

    from edgevla.export import ExportConfig, export_bundle
    manifest = export_bundle(ExportConfig(policy=ckpt, out=bundle, dataset=data, recipe="optimized"))
"""

from importlib import import_module
from typing import Any

_PUBLIC = {
    "ExportConfig": "edgevla.export.config",
    "ParityError": "edgevla.export.parity",
    "RecipeError": "edgevla.export.recipes",
    "export_bundle": "edgevla.export.pipeline",
    "load_recipe": "edgevla.export.recipes",
    "shipped_recipes": "edgevla.export.recipes",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    """Lazy: `edgevla.export.frames` or `.recipes` alone must not pull torch in."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'edgevla.export' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name]), name)
