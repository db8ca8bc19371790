"""Camera images and vectors into the shapes and ranges SmolVLA's network expects.

Images: float[B, 3, H, W] in [0, 1] -> resized keeping the aspect ratio so the longer side fits
(width, height), padded on the left and top with black, then scaled to [-1, 1] as SigLIP
expects (so the padding is -1). State and actions are zero-padded to max_state_dim /
max_action_dim. The operations match LeRobot's SmolVLA so the pixels are bit-identical.
"""

from __future__ import annotations

import torch.nn.functional as F  # noqa: N812
from torch import Tensor


def resize_with_pad(images: Tensor, width: int, height: int, pad_value: float = 0.0) -> Tensor:
    """images: float[B, C, h, w] -> float[B, C, height, width], bilinear, padded left/top."""
    if images.ndim != 4:
        raise ValueError(f"expected images [B, C, H, W], got shape {tuple(images.shape)}")
    cur_height, cur_width = images.shape[2:]
    ratio = max(cur_width / width, cur_height / height)
    new_height, new_width = int(cur_height / ratio), int(cur_width / ratio)
    resized = F.interpolate(
        images, size=(new_height, new_width), mode="bilinear", align_corners=False
    )
    pad_height, pad_width = max(0, height - new_height), max(0, width - new_width)
    return F.pad(resized, (pad_width, 0, pad_height, 0), value=pad_value)


def prepare_image(images: Tensor, resize_to: tuple[int, int] | None) -> Tensor:
    """float[B, 3, H, W] in [0, 1] (or [B, T, 3, H, W]: the last frame) -> SigLIP input in [-1, 1]."""
    if images.ndim == 5:
        images = images[:, -1]
    if resize_to is not None:
        images = resize_with_pad(images, *resize_to, pad_value=0)
    return images * 2.0 - 1.0


def pad_vector(vector: Tensor, new_dim: int) -> Tensor:
    """float[..., D] -> float[..., new_dim], zeros after the first D entries."""
    if vector.shape[-1] == new_dim:
        return vector
    if vector.shape[-1] > new_dim:
        raise ValueError(f"vector has {vector.shape[-1]} dims, more than the {new_dim} allowed")
    padded = vector.new_zeros(*vector.shape[:-1], new_dim)
    padded[..., : vector.shape[-1]] = vector
    return padded
