"""SmolVLM + action expert: LeRobot's `vlm_with_expert`, with the same modules and key names.

    vlm        transformers' SmolVLMForConditionalGeneration: SigLIP vision tower, pixel-shuffle
               connector, and the first `num_vlm_layers` SmolLM2 text layers (lm_head is kept for
               LeRobot's key names but never used)
    lm_expert  a narrower Llama stack (width x expert_width_multiplier) without embeddings; in
               cross-attention layers its k/v projections read the VLM's keys and values

The text layers are walked here, not through transformers' forward, because the two stacks
share attention: in a self-attention layer the expert's tokens join the VLM's sequence, in a
cross-attention layer (every layer i with i % self_attn_every_n_layers != 0) the expert attends
only to the VLM's keys/values of that layer, re-projected to its own heads. Three walks:

    prefill   prefix through the VLM only -> per-layer keys/values (the KV cache)
    denoise   expert tokens through the expert, reading the prefix from the KV cache
    joint     prefix and expert tokens together, no cache (training)

`denoise` after `prefill` gives the same expert output as `joint` (up to float rounding).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from transformers import AutoModel, SmolVLMConfig, SmolVLMForConditionalGeneration

from edgevla.policies.smolvla.attention import apply_rope, attend
from edgevla.policies.smolvla.config import SmolVLAConfig
from edgevla.policies.smolvla.patches import (
    PATCH_POSITION_RULES,
    check_patch_position_rule,
    patch_position_ids,
)

# Per layer (keys, values), each [B, L_prefix, kv_heads, head_dim]; keys are RoPE-rotated.
KVCache = tuple[tuple[Tensor, Tensor], ...]


def expert_intermediate_size(width: int, multiplier: int = 4, multiple_of: int = 256) -> int:
    """LeRobot's expert MLP width: 4 * (2/3 * width), rounded up to a multiple of 256."""
    hidden = int(multiplier * int(2 * width / 3))
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def _normed(layer: nn.Module, hidden: Tensor) -> Tensor:
    return layer.input_layernorm(hidden).to(layer.self_attn.q_proj.weight.dtype)


def _project(proj: nn.Linear, hidden: Tensor, head_dim: int) -> Tensor:
    """[B, L, W] -> [B, L, heads, head_dim]."""
    return proj(hidden).view(*hidden.shape[:-1], -1, head_dim)


def _finish(layer: nn.Module, hidden: Tensor, attn: Tensor) -> Tensor:
    """Output projection + residual, then post-attention norm + MLP + residual."""
    out = layer.self_attn.o_proj(attn.to(layer.self_attn.o_proj.weight.dtype)) + hidden
    return layer.mlp(layer.post_attention_layernorm(out)) + out


class SmolVLMWithExpertModel(nn.Module):
    def __init__(self, config: SmolVLAConfig, vlm_config: SmolVLMConfig) -> None:
        super().__init__()
        vlm_config = copy.deepcopy(vlm_config)
        text = vlm_config.text_config
        if config.num_vlm_layers > 0:
            if config.num_vlm_layers > text.num_hidden_layers:
                raise ValueError(
                    f"num_vlm_layers={config.num_vlm_layers} but the VLM has only "
                    f"{text.num_hidden_layers} text layers"
                )
            text.num_hidden_layers = config.num_vlm_layers
        self.vlm = SmolVLMForConditionalGeneration(vlm_config)
        self.num_vlm_layers = text.num_hidden_layers
        self.head_dim = int(text.head_dim)
        self.num_heads = int(text.num_attention_heads)
        self.num_kv_heads = int(text.num_key_value_heads)

        expert = copy.deepcopy(text)
        expert.hidden_size = int(text.hidden_size * config.expert_width_multiplier)
        expert.intermediate_size = expert_intermediate_size(expert.hidden_size)
        expert.head_dim = self.head_dim  # heads keep the VLM's size, so KV can be shared
        if config.num_expert_layers > 0:
            expert.num_hidden_layers = config.num_expert_layers
        self.lm_expert = AutoModel.from_config(expert)
        self.expert_hidden_size = int(expert.hidden_size)
        self.num_expert_layers = len(self.lm_expert.layers)
        self.cross_attention = "cross" in config.attention_mode
        self.self_attn_every_n_layers = config.self_attn_every_n_layers
        if self.cross_attention:
            kv_width = self.num_kv_heads * self.head_dim
            for index, layer in enumerate(self.lm_expert.layers):
                if self.self_attn_every_n_layers > 0 and index % self.self_attn_every_n_layers == 0:
                    continue
                bias = bool(expert.attention_bias)
                layer.self_attn.k_proj = nn.Linear(kv_width, kv_width, bias=bias)
                layer.self_attn.v_proj = nn.Linear(kv_width, kv_width, bias=bias)
        self.lm_expert.embed_tokens = None  # the expert reads embeddings, never token ids
        self._check_layout()
        self._patch_position_rule = PATCH_POSITION_RULES[0]
        self._patch_positions: dict[tuple[str, int, int], Tensor] = {}

        self.freeze_vision_encoder = config.freeze_vision_encoder
        self.train_expert_only = config.train_expert_only
        self._set_requires_grad()

    @property
    def patch_position_rule(self) -> str:
        """One of PATCH_POSITION_RULES; "exact" unless set for LeRobot 0.4 float32 parity."""
        return self._patch_position_rule

    @patch_position_rule.setter
    def patch_position_rule(self, rule: str) -> None:
        self._patch_position_rule = check_patch_position_rule(rule)

    # --- structure -------------------------------------------------------------------------

    @property
    def text_model(self) -> nn.Module:
        return self.vlm.model.text_model

    @property
    def vision_model(self) -> nn.Module:
        return self.vlm.model.vision_model

    def layer_pairs(self) -> list[tuple[nn.Module, nn.Module | None]]:
        """(VLM layer, expert layer or None) per VLM layer; a shallower expert pairs with every
        (num_vlm_layers / num_expert_layers)-th VLM layer, the others pass its tokens through."""
        every = self.num_vlm_layers // self.num_expert_layers
        pairs = []
        for i, vlm_layer in enumerate(self.text_model.layers):
            if every > 0 and i > 0 and i % every != 0:
                pairs.append((vlm_layer, None))
            else:
                pairs.append((vlm_layer, self.lm_expert.layers[i // every if every > 0 else i]))
        return pairs

    def _check_layout(self) -> None:
        """Each expert layer must be paired with a VLM layer of the attention kind it was built
        for (LeRobot builds by expert index but runs by VLM index, and fails otherwise)."""
        layers = list(self.lm_expert.layers)
        every = self.self_attn_every_n_layers
        for i, (_, layer) in enumerate(self.layer_pairs()):
            if layer is None:
                if not self.is_cross_layer(i):
                    raise ValueError(
                        f"VLM layer {i} is a self-attention layer without an expert layer "
                        f"(num_expert_layers={self.num_expert_layers}, num_vlm_layers="
                        f"{self.num_vlm_layers}, self_attn_every_n_layers={every}); the expert "
                        "cannot denoise through it (LeRobot fails on this layout too)"
                    )
                continue
            j = next(k for k, candidate in enumerate(layers) if candidate is layer)
            built_cross = self.cross_attention and not (every > 0 and j % every == 0)
            if built_cross != self.is_cross_layer(i):
                kinds = ("self", "cross")
                raise ValueError(
                    f"expert layer {j} is a {kinds[built_cross]}-attention layer but runs beside "
                    f"VLM layer {i}, a {kinds[not built_cross]}-attention layer: "
                    f"num_expert_layers={self.num_expert_layers} does not fit "
                    f"num_vlm_layers={self.num_vlm_layers} with self_attn_every_n_layers={every}"
                )

    def is_cross_layer(self, index: int) -> bool:
        every = self.self_attn_every_n_layers
        return self.cross_attention and not (every > 0 and index % every == 0)

    def reset_rotary_buffers(self) -> None:
        """Recompute transformers' rotary tables (unused here: SmolVLA rotates with its own
        RoPE) after `to_empty`, so no module is left holding uninitialized memory."""
        for model in (self.text_model, self.lm_expert):
            model.rotary_emb = type(model.rotary_emb)(config=model.config)

    def _set_requires_grad(self) -> None:
        """LeRobot >= 0.5's choices: a frozen vision tower, and either the whole VLM frozen
        (train_expert_only) or, when the VLM trains, its lm_head, final norm and last text layer
        (with the one before it where the expert is shallower than the VLM) kept frozen: nothing
        the loss reads flows through their outputs (LeRobot freezes them for distributed
        training, which fails on unused parameters)."""
        if self.freeze_vision_encoder:
            self.vision_model.eval()
            for p in self.vision_model.parameters():
                p.requires_grad = False
        if self.train_expert_only:
            self.vlm.eval()
            for p in self.vlm.parameters():
                p.requires_grad = False
            return
        frozen: list[nn.Module] = [self.vlm.lm_head, self.text_model.norm]
        last = [self.num_vlm_layers - 1]
        shallower = self.num_expert_layers != self.num_vlm_layers
        if shallower and self.num_vlm_layers % self.num_expert_layers == 0:
            last.append(self.num_vlm_layers - 2)
        frozen += [self.text_model.layers[i] for i in last if i >= 0]
        for module in frozen:
            for p in module.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> SmolVLMWithExpertModel:
        super().train(mode)
        if self.freeze_vision_encoder:
            self.vision_model.eval()
        if self.train_expert_only:
            self.vlm.eval()
        return self

    # --- embeddings ------------------------------------------------------------------------

    def embed_image(self, pixels: Tensor) -> Tensor:
        """pixels float[B, 3, H, W] in [-1, 1] -> float[B, N, text width], N = (H/p)(W/p)/s^2.

        The SigLIP tower (patch embedding + positions, encoder layers, post-norm) and the
        connector (pixel shuffle + projection), i.e. SmolVLM's image features for one image.
        """
        vision = self.vision_model
        embeddings = vision.embeddings
        pixels = pixels.to(embeddings.patch_embedding.weight.dtype)
        hidden = embeddings.patch_embedding(pixels).flatten(2).transpose(1, 2)
        rows, cols = (
            pixels.shape[2] // embeddings.patch_size,
            pixels.shape[3] // embeddings.patch_size,
        )
        key = (self.patch_position_rule, rows, cols)
        if key not in self._patch_positions:
            self._patch_positions[key] = patch_position_ids(
                rows, cols, embeddings.num_patches_per_side, self.patch_position_rule
            )
        positions = self._patch_positions[key].to(hidden.device)
        hidden = hidden + embeddings.position_embedding(positions)
        for layer in vision.encoder.layers:
            hidden = layer(hidden, None)
        hidden = vision.post_layernorm(hidden)
        return self.vlm.model.connector(hidden)

    def embed_language_tokens(self, tokens: Tensor) -> Tensor:
        """int64[B, L] -> float[B, L, text width] (unscaled)."""
        return self.text_model.get_input_embeddings()(tokens)

    # --- the three walks -------------------------------------------------------------------

    def prefill(self, prefix: Tensor, mask: Tensor, positions: Tensor) -> KVCache:
        """prefix float[B, Lp, W], mask bool[B, Lp, Lp], positions int[B, Lp] -> KV cache.

        The last layer's attention output and MLP are skipped: nothing reads them.
        """
        cache = []
        hidden = prefix
        last = self.num_vlm_layers - 1
        for i, layer in enumerate(self.text_model.layers):
            normed = _normed(layer, hidden)
            attn_mod = layer.self_attn
            query = apply_rope(_project(attn_mod.q_proj, normed, self.head_dim), positions)
            key = apply_rope(_project(attn_mod.k_proj, normed, self.head_dim), positions)
            value = _project(attn_mod.v_proj, normed, self.head_dim)
            cache.append((key, value))
            if i == last:
                break
            attn = attend(query, key, value, mask, self.num_heads, self.num_kv_heads)
            hidden = _finish(layer, hidden, attn)
        return tuple(cache)

    def _expert_cross_kv(
        self, layer: nn.Module, key: Tensor, value: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The VLM's [B, L, kv_heads, D] keys/values through the expert's k/v projections."""
        attn_mod = layer.self_attn
        dtype = attn_mod.k_proj.weight.dtype
        flat_k = key.to(dtype).reshape(*key.shape[:2], -1)
        flat_v = value.to(dtype).reshape(*value.shape[:2], -1)
        return (
            _project(attn_mod.k_proj, flat_k, self.head_dim),
            _project(attn_mod.v_proj, flat_v, self.head_dim),
        )

    def denoise(self, suffix: Tensor, mask: Tensor, positions: Tensor, cache: KVCache) -> Tensor:
        """suffix float[B, Ls, We] through the expert, reading the prefix from `cache`.

        mask bool[B, Ls, Lp + Ls] (prefix columns first), positions int[B, Ls] continuing the
        prefix's -> expert output float[B, Ls, We] after the expert's final norm.
        """
        hidden = suffix
        prefix_len = cache[0][0].shape[1]
        for i, (_, layer) in enumerate(self.layer_pairs()):
            if layer is None:
                continue
            normed = _normed(layer, hidden)
            query = _project(layer.self_attn.q_proj, normed, self.head_dim)
            cached_key, cached_value = cache[i]
            if self.is_cross_layer(i):
                key, value = self._expert_cross_kv(layer, cached_key, cached_value)
                query = apply_rope(query, positions - positions.min(dim=1, keepdim=True).values)
                layer_mask = mask[:, :, :prefix_len]
            else:
                query = apply_rope(query, positions)
                key = apply_rope(_project(layer.self_attn.k_proj, normed, self.head_dim), positions)
                value = _project(layer.self_attn.v_proj, normed, self.head_dim)
                key = torch.cat([cached_key, key], dim=1)
                value = torch.cat([cached_value, value], dim=1)
                layer_mask = mask
            attn = attend(query, key, value, layer_mask, self.num_heads, self.num_kv_heads)
            hidden = _finish(layer, hidden, attn)
        return self.lm_expert.norm(hidden)

    def joint(self, prefix: Tensor, suffix: Tensor, mask: Tensor, positions: Tensor) -> Tensor:
        """Prefix [B, Lp, W] and suffix [B, Ls, We] in one pass (training, no cache).

        mask bool[B, Lp + Ls, Lp + Ls], positions int[B, Lp + Ls] -> expert output [B, Ls, We].
        The prefix's last-layer outputs are skipped: nothing reads them.
        """
        last = self.num_vlm_layers - 1
        for i, (vlm_layer, layer) in enumerate(self.layer_pairs()):
            walk = self._joint_cross if self.is_cross_layer(i) else self._joint_self
            prefix, suffix = walk(vlm_layer, layer, prefix, suffix, mask, positions, i < last)
        return self.lm_expert.norm(suffix)

    def _joint_self(
        self,
        vlm_layer: nn.Module,
        layer: nn.Module | None,
        prefix: Tensor,
        suffix: Tensor,
        mask: Tensor,
        positions: Tensor,
        need_prefix: bool,
    ) -> tuple[Tensor, Tensor]:
        """One self-attention layer over [prefix; suffix] (prefix only where no expert layer)."""
        streams: list[tuple[nn.Module, Tensor]] = [(vlm_layer, prefix)]
        if layer is not None:
            streams.append((layer, suffix))
        queries, keys, values = [], [], []
        for module, hidden in streams:
            normed = _normed(module, hidden)
            queries.append(_project(module.self_attn.q_proj, normed, self.head_dim))
            keys.append(_project(module.self_attn.k_proj, normed, self.head_dim))
            values.append(_project(module.self_attn.v_proj, normed, self.head_dim))
        query, key, value = (torch.cat(x, dim=1) for x in (queries, keys, values))
        length = query.shape[1]
        pos = positions[:, :length]
        query, key = apply_rope(query, pos), apply_rope(key, pos)
        attn = attend(
            query, key, value, mask[:, :length, :length], self.num_heads, self.num_kv_heads
        )
        prefix_len = prefix.shape[1]
        if layer is not None:
            suffix = _finish(layer, suffix, attn[:, prefix_len : prefix_len + suffix.shape[1]])
        if need_prefix:
            prefix = _finish(vlm_layer, prefix, attn[:, :prefix_len])
        return prefix, suffix

    def _joint_cross(
        self,
        vlm_layer: nn.Module,
        layer: nn.Module | None,
        prefix: Tensor,
        suffix: Tensor,
        mask: Tensor,
        positions: Tensor,
        need_prefix: bool,
    ) -> tuple[Tensor, Tensor]:
        """One cross-attention layer: the prefix attends to itself, the expert to the prefix."""
        prefix_len = prefix.shape[1]
        normed = _normed(vlm_layer, prefix)
        attn_mod = vlm_layer.self_attn
        pos = positions[:, :prefix_len]
        query = apply_rope(_project(attn_mod.q_proj, normed, self.head_dim), pos)
        key = apply_rope(_project(attn_mod.k_proj, normed, self.head_dim), pos)
        value = _project(attn_mod.v_proj, normed, self.head_dim)
        if layer is not None:
            expert_normed = _normed(layer, suffix)
            expert_query = _project(layer.self_attn.q_proj, expert_normed, self.head_dim)
            expert_key, expert_value = self._expert_cross_kv(layer, key, value)
            expert_pos = positions[:, prefix_len:]
            expert_pos = expert_pos - expert_pos.min(dim=1, keepdim=True).values
            expert_query = apply_rope(expert_query, expert_pos)
            expert_mask = mask[:, -suffix.shape[1] :, :prefix_len]
            attn = attend(
                expert_query,
                expert_key,
                expert_value,
                expert_mask,
                self.num_heads,
                self.num_kv_heads,
            )
            suffix = _finish(layer, suffix, attn)
        if need_prefix:
            prefix_mask = mask[:, :prefix_len, :prefix_len]
            attn = attend(query, key, value, prefix_mask, self.num_heads, self.num_kv_heads)
            prefix = _finish(vlm_layer, prefix, attn)
        return prefix, suffix
