"""edgevla.export — a policy cut into blocks, each exported to ONNX, brought to its recipe's
precision and checked against PyTorch on dataset frames, then written as a bundle (DESIGN §2,
§3, §7). Torch side only; the bundle runs on `edgevla.runtime.bundle`.

    from edgevla.export import ExportConfig, export_bundle
    manifest = export_bundle(ExportConfig(policy=ckpt, out=bundle, dataset=data, recipe="optimized"))
"""

from edgevla.export.config import ExportConfig
from edgevla.export.parity import ParityError
from edgevla.export.pipeline import export_bundle
from edgevla.export.recipes import RecipeError, load_recipe, shipped_recipes

__all__ = [
    "ExportConfig",
    "ParityError",
    "RecipeError",
    "export_bundle",
    "load_recipe",
    "shipped_recipes",
]
