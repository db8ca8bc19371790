"""A torch policy as a ChunkPolicy (DESIGN §3): observation dict in, joint-target chunk out.

Preprocessing is LeRobot's inference path: rename keys (the checkpoint's rename_map), images
uint8[H, W, 3] -> float32[1, 3, H, W] in [0, 1], vectors -> float32[1, D], normalize; then the
policy's chunk is un-normalized and returned whole (float32[chunk_size, A]); the runtime, not
the policy, decides how many of its actions to execute.

Images are NOT resized: ACT's encoder sees one token per backbone pixel, so another size would
silently change the model's input. An image whose size differs from the config's is an error;
render or crop the cameras at the trained size instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from edgevla.contracts import ActionChunk, Observation, PolicySpec
from edgevla.features import IMAGE_KEY_PREFIX, JOINT_NAMES, camera_of
from edgevla.policies.types import FeatureType


class TorchChunkPolicy:
    """Wraps a policy with `config`, `preprocessor`, `postprocessor`, `rename_map` and
    `predict_action_chunk(normalized batch) -> float[B, T, A]` (ACTPolicy has them)."""

    def __init__(self, policy: nn.Module, fps: float = 30.0) -> None:
        self.policy = policy
        config = policy.config  # type: ignore[attr-defined]
        rename_map: Mapping[str, str] = getattr(policy, "rename_map", {}) or {}
        source_of = {new: old for old, new in rename_map.items()}
        # policy input key -> observation key it is read from
        self._sources = {key: source_of.get(key, key) for key in config.input_features}
        self._features = dict(config.input_features)
        cameras = tuple(
            camera_of(self._sources[k])
            for k, f in self._features.items()
            if f.type is FeatureType.VISUAL and self._sources[k].startswith(IMAGE_KEY_PREFIX)
        )
        image_shapes = [f.shape for f in self._features.values() if f.type is FeatureType.VISUAL]
        action_dim = config.action_feature.shape[0]
        state = config.robot_state_feature
        self.spec = PolicySpec(
            chunk_size=config.chunk_size,
            fps=fps,
            cameras=cameras,
            image_shape=tuple(image_shapes[0][1:]) if image_shapes else None,
            action_names=JOINT_NAMES
            if action_dim == len(JOINT_NAMES)
            else tuple(f"action_{i}" for i in range(action_dim)),
            state_dim=state.shape[0] if state is not None else 0,
            name=config.type,
            extra={"n_action_steps": config.n_action_steps},
        )

    def reset(self) -> None:
        self.policy.reset()  # type: ignore[operator]

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        batch = self.to_batch(observation)
        with torch.inference_mode():
            batch = self.policy.preprocessor.normalize(batch)  # type: ignore[union-attr]
            actions = self.policy.predict_action_chunk(batch)  # type: ignore[operator]
            actions = self.policy.postprocessor.unnormalize_action(actions)  # type: ignore[union-attr]
        return ActionChunk(actions[0].to("cpu", torch.float32).numpy(), timestep)

    def to_batch(self, observation: Observation) -> dict[str, Tensor]:
        """Observation -> un-normalized float32 tensors with a batch dim, keyed as the policy's."""
        device = next(self.policy.parameters()).device
        batch: dict[str, Tensor] = {}
        for key, feature in self._features.items():
            source = self._sources[key]
            if source not in observation:
                have = sorted(k for k in observation if k != "task")
                raise KeyError(f"observation lacks {source!r} needed by the policy; it has {have}")
            if feature.type is FeatureType.VISUAL:
                tensor = image_tensor(source, observation[source], feature.shape)
            else:
                tensor = vector_tensor(source, observation[source], feature.shape)
            batch[key] = tensor.unsqueeze(0).to(device)
        return batch


def image_tensor(key: str, image: Any, shape: tuple[int, ...]) -> Tensor:
    """uint8[H, W, 3] -> float32[3, H, W] in [0, 1], after checking it against (3, H, W)."""
    image = np.asarray(image)
    channels, height, width = shape
    if image.dtype != np.uint8:
        raise ValueError(f"{key}: expected a uint8 image, got dtype {image.dtype}")
    if image.shape != (height, width, channels):
        raise ValueError(
            f"{key}: expected image shape {(height, width, channels)} (H, W, C) as the policy "
            f"was trained, got {image.shape}; images are not resized"
        )
    return (
        torch.from_numpy(np.ascontiguousarray(image)).float().div(255).permute(2, 0, 1).contiguous()
    )


def vector_tensor(key: str, value: Any, shape: tuple[int, ...]) -> Tensor:
    array = np.asarray(value)
    if array.shape != shape or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"{key}: expected float32{list(shape)}, got {array.dtype}{list(array.shape)}"
        )
    return torch.from_numpy(array.astype(np.float32, copy=True))
