"""ACT's config: LeRobot's ACTConfig fields, defaults and `config.json` form, as a frozen dataclass.

`to_json` writes the keys in LeRobot's order ("type": "act" first, then the base policy fields,
then ACT's), so a LeRobot checkpoint's config.json is written back byte for byte. `from_json`
accepts every key LeRobot writes; a key we do not know is dropped with a warning, never a crash.
Both, the base fields and the feature accessors come from `edgevla.policies.config_base`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from edgevla.features import ACTION_KEY
from edgevla.policies.config_base import PolicyConfigBase, default_normalization_mapping
from edgevla.policies.resnet import RESNET_BLOCKS
from edgevla.policies.types import NormalizationMode

TYPE_NAME = "act"
_POSITIVE_INTS = (
    "n_obs_steps",
    "chunk_size",
    "n_action_steps",
    "dim_model",
    "n_heads",
    "dim_feedforward",
    "n_encoder_layers",
    "n_decoder_layers",
    "latent_dim",
    "n_vae_encoder_layers",
)


def _default_norm_map() -> dict[str, NormalizationMode]:
    return default_normalization_mapping(visual=NormalizationMode.MEAN_STD)


@dataclass(frozen=True)
class ACTConfig(PolicyConfigBase):
    """Field names, order and defaults follow LeRobot 0.4's ACTConfig (and its base class)."""

    type_name: ClassVar[str] = TYPE_NAME

    # LeRobot's PreTrainedConfig fields come first, from PolicyConfigBase.
    # Input / output structure.
    chunk_size: int = 100
    n_action_steps: int = 100
    normalization_mapping: dict[str, NormalizationMode] = field(default_factory=_default_norm_map)
    # Vision backbone. Weights always come from the checkpoint; `pretrained_backbone_weights`
    # is recorded for LeRobot but never downloaded here.
    vision_backbone: str = "resnet18"
    pretrained_backbone_weights: str | None = "ResNet18_Weights.IMAGENET1K_V1"
    replace_final_stride_with_dilation: bool | int = False
    # Transformer.
    pre_norm: bool = False
    dim_model: int = 512
    n_heads: int = 8
    dim_feedforward: int = 3200
    feedforward_activation: str = "relu"
    n_encoder_layers: int = 4
    # The original ACT code sets 7 decoder layers but, through a bug, only uses the first one;
    # LeRobot (and so we) default to 1 to match what the original actually computes.
    n_decoder_layers: int = 1
    # VAE.
    use_vae: bool = True
    latent_dim: int = 32
    n_vae_encoder_layers: int = 4
    # Inference: exponential weights exp(-coeff * i) over overlapping chunks (ACT used 0.01).
    temporal_ensemble_coeff: float | None = None
    # Training.
    dropout: float = 0.1
    kl_weight: float = 10.0
    optimizer_lr: float = 1e-5
    optimizer_weight_decay: float = 1e-4
    optimizer_lr_backbone: float = 1e-5

    def __post_init__(self) -> None:
        if self.vision_backbone not in RESNET_BLOCKS:
            raise ValueError(
                f"vision_backbone must be one of {sorted(RESNET_BLOCKS)}, got {self.vision_backbone!r}"
            )
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        # LeRobot also names "glu", but it halves the width linear2 expects, so it cannot run.
        if self.feedforward_activation not in ("relu", "gelu"):
            raise ValueError(
                f"feedforward_activation must be relu or gelu, got {self.feedforward_activation!r}"
            )
        if self.temporal_ensemble_coeff is not None and self.n_action_steps > 1:
            raise ValueError(
                "temporal ensembling needs n_action_steps == 1 (the policy is queried every "
                f"step), got n_action_steps={self.n_action_steps}"
            )
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(
                f"n_action_steps must be in [1, chunk_size={self.chunk_size}], got {self.n_action_steps}"
            )
        if self.n_obs_steps != 1:
            raise ValueError(f"ACT takes one observation step, got n_obs_steps={self.n_obs_steps}")
        if self.dim_model % self.n_heads:
            raise ValueError(
                f"dim_model={self.dim_model} is not divisible by n_heads={self.n_heads}"
            )
        if not self.image_features and self.env_state_feature is None:
            raise ValueError(
                "ACT needs at least one VISUAL input or an ENV state input; input_features has "
                f"{ {k: f.type.value for k, f in self.input_features.items()} }"
            )
        if self.action_feature is None:
            raise ValueError(
                f"output_features needs {ACTION_KEY!r} of type ACTION, got {list(self.output_features)}"
            )
        shapes = {f.shape for f in self.image_features.values()}
        if len(shapes) > 1:
            raise ValueError(f"all cameras must share one image shape, got {sorted(shapes)}")
