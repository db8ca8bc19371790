"""SmolVLAPolicy: the network as `self.model` (keys read `model.*`, as LeRobot's), its loss, chunk
prediction, LeRobot's per-step `select_action`, and the task tokenizer.

Like ACT here and LeRobot, `forward`, `predict_action_chunk` and `select_action` take an already
normalized batch: float images [B, 3, H, W] in [0, 1] under their feature keys, the state, and
either LeRobot's language keys (token ids + attention mask) or a `task` string / list of strings,
which the policy tokenizes as LeRobot's preprocessor would. Normalization stays beside the
network (plain Normalizers, no buffers), so `state_dict()` holds exactly LeRobot's keys.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase, SmolVLMConfig

from edgevla.features import ACTION_KEY, ACTION_PAD_KEY, STATE_KEY, TASK_KEY
from edgevla.policies.normalization import Normalizer
from edgevla.policies.policy_normalizers import build_normalizers
from edgevla.policies.processors import ProcessorPipeline
from edgevla.policies.smolvla.config import SMOLVLM2_500M, TYPE_NAME, SmolVLAConfig
from edgevla.policies.smolvla.model import VLAFlowMatching
from edgevla.policies.smolvla.preprocess import pad_vector, prepare_image
from edgevla.policies.smolvla.tokenizer import image_special_token_ids, tokenize_tasks
from edgevla.policies.smolvla.vlm import smolvlm2_500m_config

LANGUAGE_TOKENS_KEY = "observation.language.tokens"
LANGUAGE_MASK_KEY = "observation.language.attention_mask"


@dataclass(frozen=True)
class TaskTokenSettings:
    """How tasks are tokenized: LeRobot keeps these in its tokenizer processor step."""

    max_length: int
    padding: str = "longest"


class SmolVLAPolicy(nn.Module):
    name = TYPE_NAME

    def __init__(
        self,
        config: SmolVLAConfig,
        stats: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        vlm_config: SmolVLMConfig | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        preprocessor: Normalizer | None = None,
        postprocessor: Normalizer | None = None,
        rename_map: Mapping[str, str] | None = None,
        pipelines: tuple[ProcessorPipeline, ProcessorPipeline] | None = None,
        task_tokens: TaskTokenSettings | None = None,
        patch_positions: str = "exact",
    ) -> None:
        """Random weights from `config` and dataset `stats` (or ready normalizers). No I/O.

        `vlm_config` is the VLM's transformers config; it may be left out only for SmolVLM2-500M,
        whose numbers are built in (see `edgevla.policies.smolvla.vlm.load_vlm_config` for local
        folders). `tokenizer` may come later (`set_tokenizer`); it is needed to tokenize tasks.
        `patch_positions` (also settable later, see the property) picks how image patches map
        to position embeddings.
        """
        super().__init__()
        if vlm_config is None:
            if config.vlm_model_name != SMOLVLM2_500M:
                raise ValueError(
                    f"vlm_config is needed for vlm_model_name={config.vlm_model_name!r}; read it "
                    "with edgevla.policies.smolvla.load_vlm_config or use build_policy"
                )
            vlm_config = smolvlm2_500m_config()
        self.config = config
        self.model = VLAFlowMatching(config, vlm_config)
        self.patch_positions = patch_positions
        self.preprocessor, self.postprocessor = build_normalizers(
            config, stats, preprocessor, postprocessor, where="SmolVLAPolicy stats"
        )
        self.rename_map = dict(rename_map or {})
        self.pipelines = pipelines
        self.task_tokens = task_tokens or TaskTokenSettings(
            config.tokenizer_max_length, config.pad_language_to
        )
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.tokenizer_error = "no tokenizer was given (SmolVLAPolicy.set_tokenizer)"
        if tokenizer is not None:
            self.set_tokenizer(tokenizer)
        self.reset()

    @classmethod
    def for_loading(
        cls,
        config: SmolVLAConfig,
        *,
        preprocessor: Normalizer,
        postprocessor: Normalizer,
        **kwargs: Any,
    ) -> SmolVLAPolicy:
        """A policy whose weights are left uninitialized, for a state_dict to fill next.

        Built on the meta device and then given CPU memory, which skips the random
        initialization (seconds at full size); every weight must then be loaded.
        """
        with torch.device("meta"):
            policy = cls(config, preprocessor=preprocessor, postprocessor=postprocessor, **kwargs)
        policy.to_empty(device="cpu")
        policy.model.vlm_with_expert.reset_rotary_buffers()
        return policy

    @property
    def patch_positions(self) -> str:
        """How SigLIP patches map to position embeddings (patches.PATCH_POSITION_RULES).

        "exact" (ids 0 ... n-1), as LeRobot >= 0.5 runs and as LeRobot 0.4 runs a bf16 VLM, is
        the default. "transformers-4.57-float32" reproduces LeRobot 0.4 with a float32 VLM
        (transformers 4.57 shifts boundary patches one cell); set it on a loaded policy for
        that parity. It is not a config.json field: LeRobot refuses configs with unknown keys.
        """
        return self.model.vlm_with_expert.patch_position_rule

    @patch_positions.setter
    def patch_positions(self, rule: str) -> None:
        self.model.vlm_with_expert.patch_position_rule = rule

    # --- tokenizer --------------------------------------------------------------------------

    def set_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Use `tokenizer` for tasks; its ids must fit the VLM's vocabulary."""
        vocab = self.model.vlm_with_expert.text_model.config.vocab_size
        if len(tokenizer) > vocab:
            raise ValueError(
                f"the tokenizer has {len(tokenizer)} tokens but the VLM's vocabulary has {vocab}"
            )
        if self.config.add_image_special_tokens:
            self.model.image_token_ids = image_special_token_ids(tokenizer)
        self.tokenizer = tokenizer

    def tokenize(self, tasks: str | Sequence[str]) -> tuple[Tensor, Tensor]:
        """Task(s) -> (ids int64[B, L], mask bool[B, L]) as LeRobot's preprocessor makes them."""
        if self.tokenizer is None:
            raise RuntimeError(f"SmolVLA cannot tokenize the task: {self.tokenizer_error}")
        tasks = [tasks] if isinstance(tasks, str) else list(tasks)
        settings = self.task_tokens
        return tokenize_tasks(self.tokenizer, tasks, settings.max_length, settings.padding)

    # --- batch preparation -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget queued actions; call at the start of every episode."""
        self._action_queue: deque[Tensor] = deque(maxlen=self.config.n_action_steps)

    def prepare_images(self, batch: Mapping[str, Any]) -> tuple[list[Tensor], list[Tensor]]:
        """Cameras present in the batch, in config order -> SigLIP inputs and bool[B] masks.

        Up to `empty_cameras` missing cameras become all -1 images with a False mask, as in
        LeRobot; a `<key>_padding_mask` entry, if given, masks a camera out.
        """
        keys = list(self.config.image_features)
        present = [k for k in keys if k in batch]
        if not present:
            raise KeyError(f"the batch has none of the cameras {keys}; it has {sorted(batch)}")
        missing = [k for k in keys if k not in batch]
        if len(missing) > self.config.empty_cameras:
            raise KeyError(
                f"the batch lacks cameras {missing}; only {self.config.empty_cameras} may be "
                "missing (empty_cameras)"
            )
        images, masks = [], []
        for key in present:
            image = prepare_image(batch[key], self.config.resize_imgs_with_padding)
            if f"{key}_padding_mask" in batch:
                mask = batch[f"{key}_padding_mask"].bool()
            else:
                mask = torch.ones(image.shape[0], dtype=torch.bool, device=image.device)
            images.append(image)
            masks.append(mask)
        for _ in missing:
            images.append(torch.ones_like(images[-1]) * -1)
            masks.append(torch.zeros_like(masks[-1]))
        return images, masks

    def prepare_state(self, batch: Mapping[str, Any]) -> Tensor:
        """float[B, D] (or [B, T, D]: the last step) -> float[B, max_state_dim]."""
        if STATE_KEY not in batch:
            raise KeyError(f"the batch lacks {STATE_KEY!r}; it has {sorted(batch)}")
        state = batch[STATE_KEY]
        state = state[:, -1, :] if state.ndim > 2 else state
        return pad_vector(state, self.config.max_state_dim)

    def prepare_language(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """LeRobot's token keys if present, else the batch's `task` tokenized here."""
        if LANGUAGE_TOKENS_KEY in batch:
            return batch[LANGUAGE_TOKENS_KEY], batch[LANGUAGE_MASK_KEY].bool()
        if TASK_KEY not in batch:
            raise KeyError(
                f"the batch needs {LANGUAGE_TOKENS_KEY!r} + {LANGUAGE_MASK_KEY!r} or a "
                f"{TASK_KEY!r} string; it has {sorted(batch)}"
            )
        tokens, mask = self.tokenize(batch[TASK_KEY])
        device = self.model.state_proj.weight.device
        return tokens.to(device), mask.to(device)

    def prepare_inputs(
        self, batch: Mapping[str, Any]
    ) -> tuple[list[Tensor], list[Tensor], Tensor, Tensor, Tensor]:
        images, masks = self.prepare_images(batch)
        tokens, lang_masks = self.prepare_language(batch)
        return images, masks, tokens, lang_masks, self.prepare_state(batch)

    # --- inference ----------------------------------------------------------------------------

    @torch.no_grad()
    def predict_action_chunk(
        self,
        batch: Mapping[str, Any],
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Normalized batch -> normalized actions float[B, chunk_size, action_dim] (eval mode).

        noise: float[B, chunk_size, max_action_dim], drawn (from `generator`) when None.
        """
        self.eval()
        actions = self.model.sample_actions(
            *self.prepare_inputs(batch), noise=noise, generator=generator
        )
        return actions[:, :, : self.config.action_feature.shape[0]]

    @torch.no_grad()
    def select_action(self, batch: Mapping[str, Any], noise: Tensor | None = None) -> Tensor:
        """One normalized action float[B, A] per call, refilling a queue of n_action_steps."""
        if not self._action_queue:
            chunk = self.predict_action_chunk(batch, noise)[:, : self.config.n_action_steps]
            self._action_queue.extend(chunk.transpose(0, 1))
        return self._action_queue.popleft()

    # --- training -----------------------------------------------------------------------------

    def forward(
        self,
        batch: Mapping[str, Any],
        noise: Tensor | None = None,
        time: Tensor | None = None,
        reduction: str = "mean",
    ) -> tuple[Tensor, dict[str, float]]:
        """Flow-matching loss on a normalized batch with `action` float[B, chunk_size, A].

        As LeRobot >= 0.5: over the A real action dims only (not the max_action_dim padding),
        and where the batch has `action_is_pad` bool[B, chunk_size], over the in-episode steps
        only (a mean over the valid (step, dim) entries). reduction="none" gives per-sample
        losses float[B]. (LeRobot 0.4 averaged all max_action_dim dims and every step; the
        unreduced `self.model(...)` output still gives that mean.)
        """
        if ACTION_KEY not in batch:
            raise KeyError(f"the batch lacks {ACTION_KEY!r}; it has {sorted(batch)}")
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        actions = pad_vector(batch[ACTION_KEY], self.config.max_action_dim)
        losses = self.model(*self.prepare_inputs(batch), actions, noise, time)
        losses = losses[:, :, : self.config.action_feature.shape[0]]
        info = {"losses_after_forward": losses.detach().mean().item()}
        is_pad = batch.get(ACTION_PAD_KEY)
        if is_pad is None:
            valid = torch.ones(losses.shape[:2], dtype=losses.dtype, device=losses.device)
        else:
            valid = (~is_pad.bool()).to(losses.dtype)
        losses = losses * valid[:, :, None]
        dims = losses.shape[-1]
        if reduction == "none":
            loss = losses.sum(dim=(1, 2)) / (valid.sum(dim=1) * dims).clamp_min(1)
        else:
            loss = losses.sum() / (valid.sum() * dims).clamp_min(1)
        info["loss"] = loss.detach().mean().item()
        return loss, info

    def optim_param_groups(self) -> list[dict[str, Any]]:
        """One AdamW group with every trainable parameter (LeRobot's get_optim_params)."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]
