"""A tiny checkpoint and the dataset it reads, for export and bundle tests (nothing downloads):
a random tiny ACT (`edgevla.policies.testing`) and a synthetic dataset of its cameras and size.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgevla.dataset.synthetic import write_synthetic_dataset
from edgevla.policies.testing import tiny_act_checkpoint

CAMERAS = ("top", "gripper")
IMAGE = (32, 32)


def tiny_export_inputs(root: str | Path) -> tuple[Path, Path]:
    """(checkpoint, dataset) under `root`; the checkpoint's train_config.json names the dataset
    so `edgevla export` finds it by default, as it does for a trained one."""
    root = Path(root)
    dataset = root / "dataset"
    write_synthetic_dataset(dataset, lengths=(10, 10), cameras={c: IMAGE for c in CAMERAS})
    checkpoint = tiny_act_checkpoint(root / "act", cameras=CAMERAS, image=IMAGE, chunk_size=8)
    (checkpoint / "train_config.json").write_text(json.dumps({"dataset": str(dataset)}))
    return checkpoint, dataset


def loose_recipe(name: str, directory: str | Path, rel: float = 2.0) -> Path:
    """A copy of shipped recipe `name` with its tolerances widened: random weights quantize
    far worse than trained ones, so tests check the mechanism, not the shipped bounds."""
    from edgevla.export.recipes import shipped_recipes

    data = json.loads(shipped_recipes()[name].read_text())
    for settings in data["blocks"].values():
        settings["tolerance"] = {"abs": 0.0, "rel": rel}
    data["end_to_end"] = {"abs": 0.0, "rel": rel}
    path = Path(directory) / f"{name}-loose.json"
    path.write_text(json.dumps(data))
    return path
