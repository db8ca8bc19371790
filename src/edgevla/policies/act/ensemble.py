"""Temporal ensembling (ACT paper, Algorithm 2): average every chunk's prediction for a step.

Querying the policy every step gives up to T predictions of each future action. The action
executed at a step is their weighted mean with w_i = exp(-coeff * i), where i = 0 is the
OLDEST prediction: coeff > 0 favours older predictions, 0 weighs all equally, < 0 favours
newer ones. The mean is kept online: with n predictions averaged so far (weight sum W_{n-1}),
a new one a gives  avg' = (avg * W_{n-1} + a * w_n) / W_n,  W_k = w_0 + ... + w_k.
"""

from __future__ import annotations

import torch
from torch import Tensor


class TemporalEnsembler:
    def __init__(self, coeff: float, chunk_size: int) -> None:
        self.chunk_size = chunk_size
        self.weights = torch.exp(-coeff * torch.arange(chunk_size))  # w_i, float32[T]
        self.weight_sums = torch.cumsum(self.weights, dim=0)  # W_i
        self.reset()

    def reset(self) -> None:
        self._mean: Tensor | None = None  # [B, T-1, A] running means of the steps still ahead
        self._count: Tensor | None = None  # int64[T-1, 1] predictions averaged per step

    def update(self, actions: Tensor) -> Tensor:
        """actions: [B, T, A], a new chunk whose first action is for this step -> [B, A]."""
        if actions.ndim != 3 or actions.shape[1] != self.chunk_size:
            raise ValueError(
                f"expected actions [B, {self.chunk_size}, A], got {tuple(actions.shape)}"
            )
        weights = self.weights.to(actions.device)
        sums = self.weight_sums.to(actions.device)
        if self._mean is None or self._count is None:
            mean = actions.clone()
            count = torch.ones((self.chunk_size, 1), dtype=torch.long, device=actions.device)
        else:
            n = self._count
            mean = self._mean * sums[n - 1]
            mean += actions[:, :-1] * weights[n]
            mean /= sums[n]
            n = torch.clamp(n + 1, max=self.chunk_size)
            # The chunk's last action is the first prediction for its step.
            mean = torch.cat([mean, actions[:, -1:]], dim=1)
            count = torch.cat([n, torch.ones_like(n[-1:])])
        self._mean, self._count = mean[:, 1:], count[1:]
        return mean[:, 0]
