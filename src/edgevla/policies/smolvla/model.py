"""VLAFlowMatching: SmolVLA's network (LeRobot's `model.*` keys) and its flow-matching math.

Inference is three stages, each a method that export can cut out on its own:

    vision   embed_image(pixels) -> image tokens                  (once per camera)
    prefill  embed_prefix_tokens(...) + prefill(...) -> KV cache  (images + task + state)
    expert   denoise_step(x_t, t, prefix_pad_masks, kv_cache) -> velocity   (num_steps times)

`sample_actions` is exactly these stages in sequence: x_1 = noise, x_{t+dt} = x_t + dt v_t with
dt = -1 / num_steps, from t = 1 to t = 0. Training (`forward`) draws t ~ 0.001 + 0.999 Beta(1.5, 1),
mixes x_t = t noise + (1 - t) actions and regresses the velocity (noise - actions) with MSE,
running prefix and expert in one pass (`SmolVLMWithExpertModel.joint`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from transformers import SmolVLMConfig

from edgevla.policies.smolvla.attention import make_att_2d_masks
from edgevla.policies.smolvla.config import SmolVLAConfig
from edgevla.policies.smolvla.expert import KVCache, SmolVLMWithExpertModel


def sinusoidal_time_embedding(
    time: Tensor, dimension: int, min_period: float, max_period: float
) -> Tensor:
    """time float[B] -> float64[B, dimension] (float32 on mps): [sin | cos] of time * 2 pi / period
    for periods spaced geometrically from min_period to max_period."""
    if dimension % 2:
        raise ValueError(f"the time embedding dimension must be even, got {dimension}")
    if time.ndim != 1:
        raise ValueError(f"time must be float[B], got shape {tuple(time.shape)}")
    dtype = torch.float32 if time.device.type == "mps" else torch.float64
    fraction = torch.linspace(0.0, 1.0, dimension // 2, dtype=dtype, device=time.device)
    period = min_period * (max_period / min_period) ** fraction
    angle = (1.0 / period * 2 * math.pi)[None, :] * time[:, None]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def _pad_sequence(tensor: Tensor, length: int) -> Tensor:
    """[B, L, ...] -> [B, length, ...] with zeros (False) after the first L entries."""
    padded = tensor.new_zeros((tensor.shape[0], length, *tensor.shape[2:]))
    padded[:, : tensor.shape[1]] = tensor
    return padded


class VLAFlowMatching(nn.Module):
    def __init__(self, config: SmolVLAConfig, vlm_config: SmolVLMConfig) -> None:
        super().__init__()
        self.config = config
        self.vlm_with_expert = SmolVLMWithExpertModel(config, vlm_config)
        text_width = self.vlm_with_expert.text_model.config.hidden_size
        width = self.vlm_with_expert.expert_hidden_size
        self.state_proj = nn.Linear(config.max_state_dim, text_width)
        self.action_in_proj = nn.Linear(config.max_action_dim, width)
        self.action_out_proj = nn.Linear(width, config.max_action_dim)
        self.action_time_mlp_in = nn.Linear(width * 2, width)
        self.action_time_mlp_out = nn.Linear(width, width)
        for p in self.state_proj.parameters():
            p.requires_grad = config.train_state_proj
        # (fake_image_token, global_image_token) ids, set from the tokenizer when
        # add_image_special_tokens is on; plain attributes, not weights.
        self.image_token_ids: tuple[int, int] | None = None

    @property
    def expert_width(self) -> int:
        return self.vlm_with_expert.expert_hidden_size

    # --- noise and time --------------------------------------------------------------------

    def sample_noise(
        self, shape: Sequence[int], device: torch.device, generator: torch.Generator | None = None
    ) -> Tensor:
        """Standard normal float32 noise (torch.normal, as LeRobot draws it)."""
        size = tuple(shape)
        return torch.normal(0.0, 1.0, size, generator=generator, dtype=torch.float32, device=device)

    def sample_time(self, batch_size: int, device: torch.device) -> Tensor:
        beta = torch.distributions.Beta(concentration1=1.5, concentration0=1.0)
        return beta.sample((batch_size,)).to(device=device, dtype=torch.float32) * 0.999 + 0.001

    # --- stage 1: vision --------------------------------------------------------------------

    def embed_image(self, pixels: Tensor) -> Tensor:
        """pixels float[B, 3, H, W] in [-1, 1] -> image tokens float[B, N, text width]."""
        return self.vlm_with_expert.embed_image(pixels)

    # --- stage 2: prefix and prefill -------------------------------------------------------

    def _special_tokens(self, ids: list[int], batch: int, device: torch.device) -> Tensor:
        tokens = torch.tensor(ids, dtype=torch.long, device=device)
        return self.vlm_with_expert.embed_language_tokens(tokens)[None].expand(batch, -1, -1)

    def embed_prefix_tokens(
        self,
        image_tokens: Sequence[Tensor],
        img_masks: Sequence[Tensor],
        lang_tokens: Tensor,
        lang_masks: Tensor,
        state: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The prefix from ready image tokens (stage 1's output).

        image_tokens: per camera float[B, N, W]; img_masks: per camera bool[B]; lang_tokens
        int64[B, L]; lang_masks bool[B, L]; state float[B, max_state_dim] ->
        (embeddings float[B, P, W], pad_masks bool[B, P], att_masks bool[B, P]).
        Images and language are scaled by sqrt(W); the state is one token that starts a block.
        """
        embs, pad_masks, att_masks = [], [], []
        special = self.config.add_image_special_tokens
        if special and self.image_token_ids is None:
            raise ValueError("add_image_special_tokens needs the tokenizer's image token ids")
        for tokens, mask in zip(image_tokens, img_masks, strict=True):
            batch, count = tokens.shape[:2]
            if special:
                start = self._special_tokens(list(self.image_token_ids), batch, tokens.device)
                embs.append(start)
                pad_masks.append(
                    torch.ones(start.shape[:2], dtype=torch.bool, device=tokens.device)
                )
                att_masks += [0] * start.shape[1]
            scale = torch.tensor(tokens.shape[-1] ** 0.5, dtype=tokens.dtype, device=tokens.device)
            embs.append(tokens * scale)
            pad_masks.append(mask[:, None].expand(batch, count))
            att_masks += [0] * count
            if special:
                end = self._special_tokens([self.image_token_ids[0]], batch, tokens.device)
                embs.append(end)
                pad_masks.append(torch.ones(end.shape[:2], dtype=torch.bool, device=tokens.device))
                att_masks += [0] * end.shape[1]
        lang = self.vlm_with_expert.embed_language_tokens(lang_tokens)
        embs.append(lang * math.sqrt(lang.shape[-1]))
        pad_masks.append(lang_masks)
        att_masks += [0] * lang.shape[1]
        state_emb = self.state_proj(state)
        state_emb = state_emb[:, None, :] if state_emb.ndim == 2 else state_emb
        embs.append(state_emb)
        batch, device = state_emb.shape[0], state_emb.device
        pad_masks.append(torch.ones(batch, state_emb.shape[1], dtype=torch.bool, device=device))
        att_masks += [1] * state_emb.shape[1]  # image and language tokens do not see the state

        embs_t = torch.cat(embs, dim=1)
        pad_t = torch.cat(pad_masks, dim=1)
        att_t = torch.tensor(att_masks, dtype=torch.bool, device=device)[None, :]
        if pad_t.shape[1] < self.config.prefix_length:
            embs_t = _pad_sequence(embs_t, self.config.prefix_length)
            pad_t = _pad_sequence(pad_t, self.config.prefix_length)
            att_t = _pad_sequence(att_t, self.config.prefix_length)
        return embs_t, pad_t, att_t.expand(batch, -1)

    def embed_prefix(
        self,
        images: Sequence[Tensor],
        img_masks: Sequence[Tensor],
        lang_tokens: Tensor,
        lang_masks: Tensor,
        state: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Stages 1 + 2's embedding: images float[B, 3, H, W] in [-1, 1], one per camera."""
        tokens = [self.embed_image(image) for image in images]
        return self.embed_prefix_tokens(tokens, img_masks, lang_tokens, lang_masks, state)

    def prefill(
        self, prefix_embs: Tensor, prefix_pad_masks: Tensor, prefix_att_masks: Tensor
    ) -> KVCache:
        """The prefix through the VLM's text layers -> per-layer keys/values."""
        mask = make_att_2d_masks(prefix_pad_masks, prefix_att_masks)
        positions = torch.cumsum(prefix_pad_masks, dim=1) - 1
        return self.vlm_with_expert.prefill(prefix_embs, mask, positions)

    # --- stage 3: the action expert ---------------------------------------------------------

    def embed_suffix(
        self, noisy_actions: Tensor, timestep: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """noisy_actions float[B, T, max_action_dim], timestep float[B] -> action tokens
        float[B, T, We] (action and time embedding fused by an MLP), pad and block masks."""
        action_emb = self.action_in_proj(noisy_actions)
        time_emb = sinusoidal_time_embedding(
            timestep, self.expert_width, self.config.min_period, self.config.max_period
        ).to(dtype=action_emb.dtype)
        time_emb = time_emb[:, None, :].expand_as(action_emb)
        fused = self.action_time_mlp_in(torch.cat([action_emb, time_emb], dim=2))
        fused = self.action_time_mlp_out(F.silu(fused))
        batch, length = fused.shape[:2]
        pad_masks = torch.ones(batch, length, dtype=torch.bool, device=fused.device)
        att_masks = torch.ones(batch, length, dtype=torch.bool, device=fused.device)
        return fused, pad_masks, att_masks

    def denoise_step(
        self, x_t: Tensor, timestep: Tensor, prefix_pad_masks: Tensor, kv_cache: KVCache
    ) -> Tensor:
        """x_t float[B, T, max_action_dim] at time timestep float[B] -> velocity, same shape."""
        suffix, suffix_pad, suffix_att = self.embed_suffix(x_t, timestep)
        batch, suffix_len = suffix_pad.shape
        prefix_len = prefix_pad_masks.shape[1]
        prefix_cols = prefix_pad_masks[:, None, :].expand(batch, suffix_len, prefix_len)
        mask = torch.cat([prefix_cols, make_att_2d_masks(suffix_pad, suffix_att)], dim=2)
        offsets = torch.sum(prefix_pad_masks, dim=-1)[:, None]
        positions = offsets + torch.cumsum(suffix_pad, dim=1) - 1
        out = self.vlm_with_expert.denoise(suffix, mask, positions, kv_cache)
        out = out[:, -self.config.chunk_size :].to(torch.float32)
        return self.action_out_proj(out)

    def sample_actions(
        self,
        images: Sequence[Tensor],
        img_masks: Sequence[Tensor],
        lang_tokens: Tensor,
        lang_masks: Tensor,
        state: Tensor,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """-> actions float[B, chunk_size, max_action_dim] (normalized, padded dims included)."""
        batch, device = state.shape[0], state.device
        if noise is None:
            shape = (batch, self.config.chunk_size, self.config.max_action_dim)
            noise = self.sample_noise(shape, device, generator)
        prefix, prefix_pad, prefix_att = self.embed_prefix(
            images, img_masks, lang_tokens, lang_masks, state
        )
        cache = self.prefill(prefix, prefix_pad, prefix_att)
        return self.integrate(noise, prefix_pad, cache)

    def integrate(self, noise: Tensor, prefix_pad_masks: Tensor, kv_cache: KVCache) -> Tensor:
        """num_steps Euler steps of the expert's velocity from t = 1 (noise) to t = 0."""
        dt = -1.0 / self.config.num_steps
        x_t = noise
        for step in range(self.config.num_steps):
            time = torch.tensor(1.0 + step * dt, dtype=torch.float32, device=noise.device)
            v_t = self.denoise_step(x_t, time.expand(noise.shape[0]), prefix_pad_masks, kv_cache)
            x_t = x_t + dt * v_t
        return x_t

    # --- training ---------------------------------------------------------------------------

    def forward(
        self,
        images: Sequence[Tensor],
        img_masks: Sequence[Tensor],
        lang_tokens: Tensor,
        lang_masks: Tensor,
        state: Tensor,
        actions: Tensor,
        noise: Tensor | None = None,
        time: Tensor | None = None,
    ) -> Tensor:
        """Flow-matching losses float[B, T, max_action_dim] (unreduced) for actions [B, T, A]."""
        if noise is None:
            noise = self.sample_noise(actions.shape, actions.device)
        if time is None:
            time = self.sample_time(actions.shape[0], actions.device)
        t = time[:, None, None]
        x_t = t * noise + (1 - t) * actions
        target = noise - actions
        prefix, prefix_pad, prefix_att = self.embed_prefix(
            images, img_masks, lang_tokens, lang_masks, state
        )
        suffix, suffix_pad, suffix_att = self.embed_suffix(x_t, time)
        pad_masks = torch.cat([prefix_pad, suffix_pad], dim=1)
        att_masks = torch.cat([prefix_att, suffix_att], dim=1)
        mask = make_att_2d_masks(pad_masks, att_masks)
        positions = torch.cumsum(pad_masks, dim=1) - 1
        out = self.vlm_with_expert.joint(prefix, suffix, mask, positions)
        out = out[:, -self.config.chunk_size :].to(torch.float32)
        return F.mse_loss(target, self.action_out_proj(out), reduction="none")
