"""ACT conditioned on its committed prefix: ACT's config plus how the prefix is trained.

Its own policy type (`"type": "act_prefix"` in config.json) because it reads one more input
than ACT, so LeRobot's ACT could not run it; the layout (config.json, model.safetensors,
processor files) is LeRobot's, and every ACT field means what it means there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgevla.policies.act.config import ACTConfig

TYPE_NAME = "act_prefix"


@dataclass(frozen=True)
class ACTPrefixConfig(ACTConfig):
    """max_prefix: the longest committed prefix read (actions past it are ignored);
    prefix_none_share: the share of training samples with no prefix at all (what sync asks);
    prefix_noise: std of the noise added to a training prefix, in normalized units, because
    the queue the runtime hands over is blended and deviates a little from any one plan;
    prefix_lr: the learning rate of the prefix projection, which starts at zero in a model
    fine-tuned from ACT (at ACT's fine-tuning rate AdamW would move it too little to matter);
    prefix_init_std: 0 starts the projection at zero (the fine-tune starts from exactly ACT's
    chunks), > 0 draws its weights from N(0, std²) so the decoder sees the prefix from the first
    step (a zero projection gives the layers after it no gradient to learn to read it)."""

    type_name: ClassVar[str] = TYPE_NAME

    max_prefix: int = 15
    prefix_none_share: float = 0.25
    prefix_noise: float = 0.02
    prefix_lr: float = 1e-3
    prefix_init_std: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.max_prefix, bool) or not 1 <= self.max_prefix <= self.chunk_size:
            raise ValueError(
                f"max_prefix must be in [1, chunk_size={self.chunk_size}], got {self.max_prefix!r}"
            )
        if not 0.0 <= self.prefix_none_share <= 1.0:
            raise ValueError(f"prefix_none_share must be in [0, 1], got {self.prefix_none_share}")
        if self.prefix_lr <= 0:
            raise ValueError(f"prefix_lr must be > 0, got {self.prefix_lr}")
        if self.prefix_init_std < 0:
            raise ValueError(f"prefix_init_std must be >= 0, got {self.prefix_init_std}")
        if self.prefix_noise < 0:
            raise ValueError(f"prefix_noise must be >= 0, got {self.prefix_noise}")
