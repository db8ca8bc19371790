"""The attention arithmetic SmolVLA uses on top of the VLM's and the expert's projections.

Same math, dtypes and operation order as LeRobot's SmolVLA (so results match to the bit on the
same machine): half-split RoPE with a fixed 10k wavelength (not the text config's rope_theta),
grouped-query attention in float32 with masked logits set to the float32 minimum, and masks
built from a padding mask plus a "block" mask (see `make_att_2d_masks`).
"""

from __future__ import annotations

import torch
from torch import Tensor

ROPE_WAVELENGTH = 10_000


def apply_rope(x: Tensor, positions: Tensor, max_wavelength: int = ROPE_WAVELENGTH) -> Tensor:
    """x: [B, L, H, D] rotated by positions int[B, L] (first half / second half pairing)."""
    half = x.shape[-1] // 2
    dtype = x.dtype
    x = x.to(torch.float32)
    exponents = (2.0 / x.shape[-1]) * torch.arange(half, dtype=torch.float32, device=x.device)
    timescale = max_wavelength**exponents
    radians = positions[..., None].to(torch.float32) / timescale[None, None, :]
    radians = radians[..., None, :]  # [B, L, 1, D/2]: the same angle for every head
    sin, cos = torch.sin(radians), torch.cos(radians)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(dtype)


def attend(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor, num_heads: int, num_kv_heads: int
) -> Tensor:
    """Grouped-query attention.

    query: [B, Lq, H, D]; key, value: [B, Lk, Hkv, D]; mask: bool[B, Lq, Lk] (True = may attend)
    -> [B, Lq, H * D]. Each KV head serves H / Hkv consecutive query heads.
    """
    batch, key_len, _, head_dim = key.shape
    groups = num_heads // num_kv_heads
    key = key[:, :, :, None, :].expand(batch, key_len, num_kv_heads, groups, head_dim)
    key = key.reshape(batch, key_len, num_heads, head_dim)
    value = value[:, :, :, None, :].expand(batch, key_len, num_kv_heads, groups, head_dim)
    value = value.reshape(batch, key_len, num_heads, head_dim)
    query = query.to(torch.float32).transpose(1, 2)
    key = key.to(torch.float32).transpose(1, 2)
    logits = torch.matmul(query, key.transpose(2, 3)) * head_dim**-0.5
    logits = torch.where(mask[:, None, :, :], logits, torch.finfo(torch.float32).min)
    probs = torch.softmax(logits, dim=-1).to(value.dtype)
    out = torch.matmul(probs, value.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
    return out.reshape(batch, -1, num_heads * head_dim)


def make_att_2d_masks(pad_masks: Tensor, att_masks: Tensor) -> Tensor:
    """bool[B, N, N] from pad_masks bool[B, N] and block starts att_masks int/bool[B, N].

    A 1 in att_masks starts a new block: a token attends to every non-padding token whose
    cumulative block count is <= its own. SmolVLA's prefix is [images + language: 0 ...,
    state: 1], its suffix [actions: 1 1 1 ...], so images and language attend among themselves,
    the state sees them too, and action j sees the whole prefix and actions <= j.
    """
    if att_masks.ndim != 2 or pad_masks.ndim != 2:
        raise ValueError(
            f"expected [B, N] masks, got {tuple(pad_masks.shape)} and {tuple(att_masks.shape)}"
        )
    cumsum = torch.cumsum(att_masks, dim=1)
    blocks = cumsum[:, None, :] <= cumsum[:, :, None]
    pads = pad_masks[:, None, :] & pad_masks[:, :, None]
    return blocks & pads
