"""ACT whose decoder continues the actions already committed for the inference window.

Under async control the arm keeps executing the queue while a chunk is computed, so the
chunk's first ℓ actions are never executed: what matters is that the rest continues what the
arm will really have done. Plain ACT guesses that from the observation; this variant is told.
The committed actions (the queue's head, `observation.action_prefix`, float32[k, A] with
k <= max_prefix) enter the decoder's queries at their own positions — query i gets
`proj(prefix[i])` for i < k, zero elsewhere — so the chunk's rows line up with them and
self-attention carries them to the rest. With no prefix (sync, a dry queue) the queries are
zero, exactly ACT's; the projection starts at zero, so a model initialized from an ACT
checkpoint predicts exactly what that ACT predicts until training teaches it to read the
prefix. Training draws the prefix from the target chunk itself (a random length, some noise):
the real-time-chunking idea (Black et al. 2025) in ACT's deterministic decoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from edgevla.features import ACTION_KEY, ACTION_PAD_KEY, ACTION_PREFIX_KEY, ACTION_PREFIX_PAD_KEY
from edgevla.policies.act.model import ACTModel
from edgevla.policies.act.policy import ACTPolicy
from edgevla.policies.act_prefix.config import ACTPrefixConfig

PREFIX_WEIGHTS = "model.decoder_prefix_input_proj."  # the keys an ACT checkpoint lacks


class ACTPrefixModel(ACTModel):
    def __init__(self, config: ACTPrefixConfig) -> None:
        super().__init__(config)
        assert config.action_feature is not None
        self.decoder_prefix_input_proj = nn.Linear(config.action_feature.shape[0], config.dim_model)
        nn.init.normal_(self.decoder_prefix_input_proj.weight, std=config.prefix_init_std)
        nn.init.zeros_(self.decoder_prefix_input_proj.bias)

    def _decoder_queries(self, batch: dict[str, Tensor], batch_size: int, like: Tensor) -> Tensor:
        queries = super()._decoder_queries(batch, batch_size, like)
        prefix = batch.get(ACTION_PREFIX_KEY)  # normalized [B, k, A]
        if prefix is None or prefix.shape[1] == 0:
            return queries
        k = min(prefix.shape[1], self.config.max_prefix)  # type: ignore[attr-defined]
        rows = self.decoder_prefix_input_proj(prefix[:, :k].to(like.dtype))  # [B, k, D]
        pad = batch.get(ACTION_PREFIX_PAD_KEY)
        if pad is not None:
            rows = rows.masked_fill(pad[:, :k].unsqueeze(-1).to(rows.device), 0.0)
        return torch.cat([rows.transpose(0, 1), queries[k:]], dim=0)


class ACTPrefixPolicy(ACTPolicy):
    name = "act_prefix"
    model_class = ACTPrefixModel

    def normalize_prefix(self, prefix: Tensor) -> Tensor:
        """Joint targets [B, k, A] -> the normalized space the decoder reads them in."""
        return self.postprocessor.transform(ACTION_KEY, prefix)

    def forward(self, batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """ACT's loss, each sample given a random committed prefix of its own target chunk:
        none with probability `prefix_none_share`, else 1..max_prefix actions, plus noise."""
        return super().forward({**batch, **self._training_prefix(batch)})

    def optim_param_groups(self) -> list[dict[str, Any]]:
        """ACT's groups, with the prefix projection in a third at `prefix_lr`."""
        mine = list(self.model.decoder_prefix_input_proj.parameters())
        groups = [
            {**g, "params": [p for p in g["params"] if all(p is not q for q in mine)]}
            for g in super().optim_param_groups()
        ]
        return [*groups, {"params": mine, "lr": self.config.prefix_lr}]  # type: ignore[attr-defined]

    def _training_prefix(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        config: ACTPrefixConfig = self.config  # type: ignore[assignment]
        actions, pad = batch[ACTION_KEY], batch[ACTION_PAD_KEY]
        b, p = actions.shape[0], config.max_prefix
        length = torch.randint(1, p + 1, (b,), device=actions.device)
        length = length.masked_fill(
            torch.rand(b, device=actions.device) < config.prefix_none_share, 0
        )
        absent = torch.arange(p, device=actions.device)[None, :] >= length[:, None]
        prefix = actions[:, :p] + config.prefix_noise * torch.randn_like(actions[:, :p])
        return {ACTION_PREFIX_KEY: prefix, ACTION_PREFIX_PAD_KEY: absent | pad[:, :p]}
