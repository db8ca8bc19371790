"""SmolVLA's config: LeRobot's SmolVLAConfig fields, defaults and `config.json` form.

`to_json` writes the keys in LeRobot's order ("type": "smolvla", then the base policy fields,
then SmolVLA's), so a LeRobot checkpoint's config.json is written back unchanged. `from_json`
accepts every key LeRobot 0.4 writes; an unknown key is dropped with a warning, never a crash.
Options that LeRobot itself cannot run, or that only concern ALOHA, are refused with a reason.
Only SmolVLA's own fields and checks live here; `PolicyConfigBase` has the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgevla.features import ACTION_KEY, IMAGE_KEY_PREFIX, STATE_KEY
from edgevla.policies.config_base import PolicyConfigBase, default_normalization_mapping
from edgevla.policies.types import FeatureType, NormalizationMode, PolicyFeature

TYPE_NAME = "smolvla"
SMOLVLM2_500M = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"
# LeRobot's validate_features adds one 480x640 placeholder camera per `empty_cameras`.
EMPTY_CAMERA_SHAPE = (3, 480, 640)
_POSITIVE_INTS = (
    "n_obs_steps",
    "chunk_size",
    "n_action_steps",
    "max_state_dim",
    "max_action_dim",
    "tokenizer_max_length",
    "num_steps",
)
_PADDING = ("longest", "max_length", "do_not_pad")


def _default_norm_map() -> dict[str, NormalizationMode]:
    return default_normalization_mapping(visual=NormalizationMode.IDENTITY)


def empty_camera_key(index: int) -> str:
    return f"{IMAGE_KEY_PREFIX}empty_camera_{index}"


@dataclass(frozen=True)
class SmolVLAConfig(PolicyConfigBase):
    """Field names, order and defaults follow LeRobot 0.4.4's SmolVLAConfig (and its base)."""

    type_name: ClassVar[str] = TYPE_NAME
    json_tuple_keys: ClassVar[tuple[str, ...]] = (
        "tags",
        "optimizer_betas",
        "resize_imgs_with_padding",
    )

    # LeRobot's PreTrainedConfig fields come first, from PolicyConfigBase.
    # Input / output structure.
    chunk_size: int = 50
    n_action_steps: int = 50
    normalization_mapping: dict[str, NormalizationMode] = field(default_factory=_default_norm_map)
    # State and action vectors are zero-padded to these sizes before the projections.
    max_state_dim: int = 32
    max_action_dim: int = 32
    # (width, height) every camera is resized to (aspect kept, padded); None keeps the size.
    resize_imgs_with_padding: tuple[int, int] | None = (512, 512)
    empty_cameras: int = 0
    adapt_to_pi_aloha: bool = False
    use_delta_joint_actions_aloha: bool = False
    # Task tokens.
    tokenizer_max_length: int = 48
    # Flow matching: Euler steps from t=1 (noise) to t=0 (actions).
    num_steps: int = 10
    use_cache: bool = True
    # Fine-tuning.
    freeze_vision_encoder: bool = True
    train_expert_only: bool = True
    train_state_proj: bool = True
    # Training presets (AdamW + cosine decay with warmup), read by the trainer.
    optimizer_lr: float = 1e-4
    optimizer_betas: tuple[float, float] = (0.9, 0.95)
    optimizer_eps: float = 1e-8
    optimizer_weight_decay: float = 1e-10
    optimizer_grad_clip_norm: float = 10
    scheduler_warmup_steps: int = 1_000
    scheduler_decay_steps: int = 30_000
    scheduler_decay_lr: float = 2.5e-6
    # The VLM: a hub name (resolved offline) or a local model folder.
    vlm_model_name: str = SMOLVLM2_500M
    load_vlm_weights: bool = False
    add_image_special_tokens: bool = False
    attention_mode: str = "cross_attn"
    prefix_length: int = -1
    pad_language_to: str = "longest"
    # <= 0: the expert has as many layers as the (truncated) VLM.
    num_expert_layers: int = -1
    # The first num_vlm_layers text layers are kept (<= 0: all).
    num_vlm_layers: int = 16
    self_attn_every_n_layers: int = 2
    expert_width_multiplier: float = 0.75
    # Periods of the sine-cosine time embedding.
    min_period: float = 4e-3
    max_period: float = 4.0
    # Real-time chunking settings (LeRobot's RTCConfig as a plain mapping): kept for round trips;
    # chunk blending is the runtime's job here (DESIGN §4), not the policy's.
    rtc_config: dict[str, Any] | None = None
    compile_model: bool = False  # recorded for LeRobot; never applied here
    compile_mode: str = "max-autotune"

    def __post_init__(self) -> None:
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(
                f"n_action_steps must be in [1, chunk_size={self.chunk_size}], "
                f"got {self.n_action_steps}"
            )
        if self.n_obs_steps != 1:
            raise ValueError(
                f"SmolVLA takes one observation step, got n_obs_steps={self.n_obs_steps}"
            )
        if self.adapt_to_pi_aloha or self.use_delta_joint_actions_aloha:
            raise ValueError(
                "adapt_to_pi_aloha / use_delta_joint_actions_aloha convert ALOHA joint spaces "
                "and are not supported here (LeRobot itself does not implement the latter)"
            )
        if not self.use_cache:
            raise ValueError(
                "use_cache=False cannot sample actions: the action expert reads the prefix "
                "through the KV cache (LeRobot fails the same way)"
            )
        if self.attention_mode not in ("cross_attn", "self_attn"):
            raise ValueError(
                f"attention_mode must be 'cross_attn' or 'self_attn', got {self.attention_mode!r}"
            )
        if self.pad_language_to not in _PADDING:
            raise ValueError(
                f"pad_language_to must be one of {_PADDING}, got {self.pad_language_to!r}"
            )
        if not self.expert_width_multiplier > 0:
            raise ValueError(
                f"expert_width_multiplier must be > 0, got {self.expert_width_multiplier!r}"
            )
        vlm_layers, expert_layers = self.num_vlm_layers, self.num_expert_layers
        if vlm_layers > 0 and expert_layers > 0 and vlm_layers % expert_layers:
            raise ValueError(
                f"num_vlm_layers={vlm_layers} must be a multiple of num_expert_layers={expert_layers}"
            )
        if self.resize_imgs_with_padding is not None:
            size = tuple(self.resize_imgs_with_padding)
            if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
                raise ValueError(
                    f"resize_imgs_with_padding must be (width, height) or None, got {size!r}"
                )
            object.__setattr__(self, "resize_imgs_with_padding", size)
        if isinstance(self.empty_cameras, bool) or self.empty_cameras < 0:
            raise ValueError(f"empty_cameras must be an int >= 0, got {self.empty_cameras!r}")
        # LeRobot's validate_features: placeholder cameras join the inputs (and config.json).
        inputs = dict(self.input_features)
        for i in range(self.empty_cameras):
            inputs.setdefault(
                empty_camera_key(i), PolicyFeature(FeatureType.VISUAL, EMPTY_CAMERA_SHAPE)
            )
        object.__setattr__(self, "input_features", inputs)
        object.__setattr__(self, "output_features", dict(self.output_features))
        self._check_features()

    def _check_features(self) -> None:
        if not self.image_features:
            raise ValueError(
                "SmolVLA needs at least one VISUAL input; input_features has "
                f"{ {k: f.type.value for k, f in self.input_features.items()} }"
            )
        state = self.robot_state_feature
        if state is None:
            raise ValueError(f"input_features needs {STATE_KEY!r} of type STATE")
        if state.shape[0] > self.max_state_dim:
            raise ValueError(
                f"{STATE_KEY} has {state.shape[0]} dims, more than max_state_dim={self.max_state_dim}"
            )
        action = self.action_feature
        if action is None:
            raise ValueError(
                f"output_features needs {ACTION_KEY!r} of type ACTION, got {list(self.output_features)}"
            )
        if action.shape[0] > self.max_action_dim:
            raise ValueError(
                f"{ACTION_KEY} has {action.shape[0]} dims, more than max_action_dim={self.max_action_dim}"
            )

    @property
    def camera_features(self) -> dict[str, PolicyFeature]:
        """The VISUAL inputs a real observation provides (the placeholders left out)."""
        empty = {empty_camera_key(i) for i in range(self.empty_cameras)}
        return {k: f for k, f in self.image_features.items() if k not in empty}
