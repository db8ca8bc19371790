"""Where each SigLIP patch finds its position embedding: the one detail in which transformers
versions (and so LeRobot 0.4 and >= 0.5 checkpoints) disagree, kept apart so a loader can pick
the rule its checkpoint was trained with."""

from __future__ import annotations

import torch
from torch import Tensor

# How patch positions are bucketed onto the position-embedding grid. "exact": patch k of n gets
# cell floor(k * per_side / n), i.e. ids 0 ... per_side^2 - 1 for a full image: transformers 4.52
# and 5.x (LeRobot >= 0.5), and 4.55-4.57 whenever the vision tower runs in bf16/fp16 (a LeRobot
# 0.4 fine-tune with load_vlm_weights). "transformers-4.57-float32": 4.55-4.57 in float32 scale
# the coordinate by (1 - 1e-6) first, so a patch on a cell boundary lands one cell lower (at
# 512 px: cells 0, 0, 1, ..., 30); only for parity with a float32 LeRobot 0.4 VLM, e.g. one
# trained from scratch (load_vlm_weights false) - see SmolVLAPolicy(patch_positions=...).
PATCH_POSITION_RULES = ("exact", "transformers-4.57-float32")


def check_patch_position_rule(rule: str) -> str:
    if rule not in PATCH_POSITION_RULES:
        raise ValueError(f"patch position rule must be one of {PATCH_POSITION_RULES}, got {rule!r}")
    return rule


def patch_position_ids(rows: int, cols: int, per_side: int, rule: str = "exact") -> Tensor:
    """int64[rows * cols]: the position-embedding index of each patch of a full (unpadded) image,
    as SmolVLM's vision embeddings compute it under `rule` (see PATCH_POSITION_RULES); computed
    once per image size, so no bucketize enters an exported graph."""
    check_patch_position_rule(rule)
    boundaries = torch.arange(1 / per_side, 1.0, 1 / per_side)

    def cells(count: int) -> Tensor:
        index = torch.arange(count, dtype=torch.float32)
        if rule == "exact":
            frac = (index * (1.0 / torch.tensor(count))).clamp(max=1.0 - 1e-6)
        else:
            frac = index / torch.tensor(count) * (1 - 1e-6)
        return torch.bucketize(frac, boundaries, right=True)

    return (cells(rows)[:, None] * per_side + cells(cols)[None, :]).reshape(-1)
