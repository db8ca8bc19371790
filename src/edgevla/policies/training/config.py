"""The training config: one frozen dataclass, saved beside the run and in every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    policy: str  # "act" | "smolvla"
    dataset: str
    output_dir: str
    steps: int = 100_000
    batch_size: int = 8
    save_every: int = 20_000
    log_every: int = 50
    val_every: int = 2_000
    val_samples: int = 256
    seed: int = 1000
    cameras: tuple[str, ...] | None = None  # None: every camera of the dataset
    # Fields of the policy's config (LeRobot names) to change from their defaults,
    # e.g. {"dim_model": 256, "chunk_size": 50}.
    policy_overrides: dict[str, Any] = field(default_factory=dict)
    lr: float | None = None  # None: the policy config's optimizer_lr
    grad_clip_norm: float = 10.0
    scheduler: str = "constant"  # "constant" | "cosine" (with warmup)
    warmup_steps: int = 0
    num_threads: int | None = None
    # Train the image backbone's batch norm instead of keeping LeRobot's frozen one: for a
    # backbone from scratch (no ImageNet statistics). Checkpoints still hold frozen batch norm.
    backbone_batch_norm: bool = False
    # Fine-tune: start from this checkpoint's weights and architecture (ours or LeRobot's
    # pretrained_model directory) instead of random ones; normalization comes from the dataset.
    init_from: str | None = None
    # "bf16": forward and loss under CPU bfloat16 autocast (weights, gradients and optimizer
    # stay fp32) — about 1.7x the samples/s of fp32 for the demo ACT on this machine.
    precision: str = "fp32"
    # Training images shifted by up to this many pixels (each sample and camera on its own);
    # 0: none. Validation images are never shifted.
    image_shift: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "save_every", "log_every", "val_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.image_shift < 0:
            raise ValueError(f"image_shift must be >= 0, got {self.image_shift}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.scheduler not in ("constant", "cosine"):
            raise ValueError(f"scheduler must be constant or cosine, got {self.scheduler!r}")
