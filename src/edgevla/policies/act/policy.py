"""ACTPolicy: the network as `self.model` (so keys read `model.*`, as LeRobot's), its loss,
chunk prediction, and LeRobot's per-step `select_action` (action queue or temporal ensemble).

Normalization lives beside the network, not in it: `preprocessor` / `postprocessor` are plain
Normalizers (no buffers), so `state_dict()` holds exactly LeRobot's keys and the stats go to
the processor files, as LeRobot stores them. Like LeRobot's, `forward`, `predict_action_chunk`
and `select_action` take an already normalized batch; `edgevla.policies.chunk_policy` wraps the
whole observation -> joint targets path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from edgevla.features import ACTION_KEY, ACTION_PAD_KEY
from edgevla.policies.act.config import TYPE_NAME, ACTConfig
from edgevla.policies.act.ensemble import TemporalEnsembler
from edgevla.policies.act.model import IMAGES_KEY, ACTModel
from edgevla.policies.normalization import Normalizer
from edgevla.policies.policy_normalizers import build_normalizers
from edgevla.policies.processors import ProcessorPipeline


class ACTPolicy(nn.Module):
    name = TYPE_NAME
    model_class: type[ACTModel] = ACTModel  # a variant's network (same keys plus its own)

    def __init__(
        self,
        config: ACTConfig,
        stats: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        preprocessor: Normalizer | None = None,
        postprocessor: Normalizer | None = None,
        rename_map: Mapping[str, str] | None = None,
        pipelines: tuple[ProcessorPipeline, ProcessorPipeline] | None = None,
    ) -> None:
        """Build from dataset `stats` ({feature: {stat: values}}), or from ready normalizers.

        `rename_map` (observation key -> policy key) and `pipelines` (the processor files this
        policy was loaded from, kept so saving writes them back unchanged) come from a checkpoint.
        """
        super().__init__()
        self.config = config
        self.model = self.model_class(config)
        self.preprocessor, self.postprocessor = build_normalizers(
            config, stats, preprocessor, postprocessor, where="ACTPolicy stats"
        )
        self.rename_map = dict(rename_map or {})
        self.pipelines = pipelines
        self.temporal_ensembler: TemporalEnsembler | None = None
        if config.temporal_ensemble_coeff is not None:
            self.temporal_ensembler = TemporalEnsembler(
                config.temporal_ensemble_coeff, config.chunk_size
            )
        self.reset()

    def reset(self) -> None:
        """Forget queued / ensembled actions; call at the start of every episode."""
        if self.temporal_ensembler is not None:
            self.temporal_ensembler.reset()
        self._action_queue: deque[Tensor] = deque(maxlen=self.config.n_action_steps)

    def _with_image_list(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        batch = dict(batch)
        if self.config.image_features:
            missing = [k for k in self.config.image_features if k not in batch]
            if missing:
                raise KeyError(f"batch lacks camera inputs {missing}; has {sorted(batch)}")
            batch[IMAGES_KEY] = [batch[k] for k in self.config.image_features]
        return batch

    @torch.no_grad()
    def predict_action_chunk(self, batch: Mapping[str, Any]) -> Tensor:
        """Normalized batch -> normalized actions float[B, chunk_size, A] (eval mode)."""
        self.eval()
        return self.model(self._with_image_list(batch))[0]

    @torch.no_grad()
    def select_action(self, batch: Mapping[str, Any]) -> Tensor:
        """One normalized action float[B, A] per call: pops the queue, refilling it every
        `n_action_steps` calls, or with temporal ensembling blends a fresh chunk each call."""
        self.eval()
        if self.temporal_ensembler is not None:
            return self.temporal_ensembler.update(self.predict_action_chunk(batch))
        if not self._action_queue:
            chunk = self.predict_action_chunk(batch)[:, : self.config.n_action_steps]
            self._action_queue.extend(chunk.transpose(0, 1))  # n_action_steps of [B, A]
        return self._action_queue.popleft()

    def forward(self, batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """Training loss on a normalized batch: masked L1 + kl_weight * KL (with the VAE).

        batch needs `action` [B, T, A] and `action_is_pad` bool[B, T] besides the inputs.
        """
        batch = self._with_image_list(batch)
        actions_hat, (mu, log_sigma_x2) = self.model(batch)
        not_pad = ~batch[ACTION_PAD_KEY].unsqueeze(-1)
        l1 = (F.l1_loss(batch[ACTION_KEY], actions_hat, reduction="none") * not_pad).mean()
        info = {"l1_loss": l1.item()}
        if mu is None or log_sigma_x2 is None:
            return l1, info
        # KL(N(mu, sigma^2) || N(0, 1)) summed over latent dims, averaged over the batch.
        kld = (-0.5 * (1 + log_sigma_x2 - mu.pow(2) - log_sigma_x2.exp())).sum(-1).mean()
        info["kld_loss"] = kld.item()
        return l1 + kld * self.config.kl_weight, info

    def optim_param_groups(self) -> list[dict[str, Any]]:
        """LeRobot's two AdamW groups: transformer at optimizer_lr, backbone at its own lr."""
        named = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        return [
            {"params": [p for n, p in named if not n.startswith("model.backbone")]},
            {
                "params": [p for n, p in named if n.startswith("model.backbone")],
                "lr": self.config.optimizer_lr_backbone,
            },
        ]
