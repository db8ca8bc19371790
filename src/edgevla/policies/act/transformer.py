"""ACT's transformer blocks and position embeddings (DETR style: positions added to q and k).

Tensors here are sequence-first, (S, B, D), as in the original ACT and LeRobot, so
nn.MultiheadAttention keeps its default layout and its parameter names (`in_proj_weight`, ...).
Post-norm by default; `pre_norm` moves each LayerNorm before its sub-block.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from edgevla.policies.act.config import ACTConfig


def _activation(name: str):  # type: ignore[no-untyped-def]
    return {"relu": F.relu, "gelu": F.gelu}[name]


def _add(x: Tensor, pos: Tensor | None) -> Tensor:
    return x if pos is None else x + pos


class ACTEncoderLayer(nn.Module):
    """Self-attention then feed-forward, each with a residual and a LayerNorm."""

    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        d = config.dim_model
        self.self_attn = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout)
        self.linear1 = nn.Linear(d, config.dim_feedforward)
        self.dropout = nn.Dropout(config.dropout)
        self.linear2 = nn.Linear(config.dim_feedforward, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)
        self.activation = _activation(config.feedforward_activation)
        self.pre_norm = config.pre_norm

    def forward(
        self, x: Tensor, pos_embed: Tensor | None = None, key_padding_mask: Tensor | None = None
    ) -> Tensor:
        """x: [S, B, D]; pos_embed: [S, 1 or B, D]; key_padding_mask: bool[B, S], True = pad."""
        residual = x
        if self.pre_norm:
            x = self.norm1(x)
        qk = _add(x, pos_embed)
        x = self.self_attn(qk, qk, value=x, key_padding_mask=key_padding_mask)[0]
        x = residual + self.dropout1(x)
        if self.pre_norm:
            residual = x
            x = self.norm2(x)
        else:
            x = self.norm1(x)
            residual = x
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        x = residual + self.dropout2(x)
        return x if self.pre_norm else self.norm2(x)


class ACTEncoder(nn.Module):
    """A stack of encoder layers; a final LayerNorm only with pre-norm (else no parameters)."""

    def __init__(self, config: ACTConfig, is_vae_encoder: bool = False) -> None:
        super().__init__()
        n_layers = config.n_vae_encoder_layers if is_vae_encoder else config.n_encoder_layers
        self.layers = nn.ModuleList(ACTEncoderLayer(config) for _ in range(n_layers))
        self.norm: nn.Module = nn.LayerNorm(config.dim_model) if config.pre_norm else nn.Identity()

    def forward(
        self, x: Tensor, pos_embed: Tensor | None = None, key_padding_mask: Tensor | None = None
    ) -> Tensor:
        for layer in self.layers:
            x = layer(x, pos_embed=pos_embed, key_padding_mask=key_padding_mask)
        return self.norm(x)


class ACTDecoderLayer(nn.Module):
    """Self-attention over the action queries, cross-attention to the encoder, feed-forward."""

    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        d = config.dim_model
        self.self_attn = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout)
        self.multihead_attn = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout)
        self.linear1 = nn.Linear(d, config.dim_feedforward)
        self.dropout = nn.Dropout(config.dropout)
        self.linear2 = nn.Linear(config.dim_feedforward, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.norm3 = nn.LayerNorm(d)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)
        self.dropout3 = nn.Dropout(config.dropout)
        self.activation = _activation(config.feedforward_activation)
        self.pre_norm = config.pre_norm

    def forward(
        self,
        x: Tensor,
        encoder_out: Tensor,
        decoder_pos_embed: Tensor | None = None,
        encoder_pos_embed: Tensor | None = None,
    ) -> Tensor:
        """x: [T, B, D] queries; encoder_out: [S, B, D]; pos embeds [T|S, 1, D] -> [T, B, D]."""
        residual = x
        if self.pre_norm:
            x = self.norm1(x)
        qk = _add(x, decoder_pos_embed)
        x = self.self_attn(qk, qk, value=x)[0]
        x = residual + self.dropout1(x)
        if self.pre_norm:
            residual = x
            x = self.norm2(x)
        else:
            x = self.norm1(x)
            residual = x
        x = self.multihead_attn(
            query=_add(x, decoder_pos_embed),
            key=_add(encoder_out, encoder_pos_embed),
            value=encoder_out,
        )[0]
        x = residual + self.dropout2(x)
        if self.pre_norm:
            residual = x
            x = self.norm3(x)
        else:
            x = self.norm2(x)
            residual = x
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        x = residual + self.dropout3(x)
        return x if self.pre_norm else self.norm3(x)


class ACTDecoder(nn.Module):
    """A stack of decoder layers followed by a LayerNorm (always present)."""

    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ACTDecoderLayer(config) for _ in range(config.n_decoder_layers))
        self.norm = nn.LayerNorm(config.dim_model)

    def forward(
        self,
        x: Tensor,
        encoder_out: Tensor,
        decoder_pos_embed: Tensor | None = None,
        encoder_pos_embed: Tensor | None = None,
    ) -> Tensor:
        for layer in self.layers:
            x = layer(x, encoder_out, decoder_pos_embed, encoder_pos_embed)
        return self.norm(x)


def sinusoidal_1d(num_positions: int, dim: int) -> Tensor:
    """float32[num_positions, dim]: sin on even, cos on odd channels, 10000^(2(j//2)/dim) periods.

    Computed in float64 (as the original ACT does with numpy) and rounded once to float32.
    """
    positions = np.arange(num_positions, dtype=np.float64)[:, None]
    periods = np.array([np.power(10000, 2 * (j // 2) / dim) for j in range(dim)])
    angles = positions / periods[None, :]
    table = np.empty_like(angles)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.from_numpy(table).float()


class SinusoidalPositionEmbedding2d(nn.Module):
    """Fixed 2D embedding of a feature map's pixel grid (DETR's, as ACT uses it).

    Positions run 1..H and 1..W, are scaled to (0, 2π], and each axis gets `dim` channels of
    interleaved sin/cos; the y channels come first. Output: float32[1, 2*dim, H, W].
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.eps = 1e-6
        self.temperature = 10000

    def forward(self, feature_map: Tensor) -> Tensor:
        """feature_map: [B, C, H, W] (only H, W and the device are used)."""
        ones = torch.ones_like(feature_map[0, :1])  # [1, H, W]
        y = ones.cumsum(1, dtype=torch.float32)
        x = ones.cumsum(2, dtype=torch.float32)
        y = y / (y[:, -1:, :] + self.eps) * (2 * math.pi)
        x = x / (x[:, :, -1:] + self.eps) * (2 * math.pi)
        channel = torch.arange(self.dim, dtype=torch.float32, device=feature_map.device)
        periods = self.temperature ** (2 * (channel // 2) / self.dim)
        x = x.unsqueeze(-1) / periods  # [1, H, W, dim]
        y = y.unsqueeze(-1) / periods
        embed_x = torch.stack((x[..., 0::2].sin(), x[..., 1::2].cos()), dim=-1).flatten(3)
        embed_y = torch.stack((y[..., 0::2].sin(), y[..., 1::2].cos()), dim=-1).flatten(3)
        return torch.cat((embed_y, embed_x), dim=3).permute(0, 3, 1, 2)
