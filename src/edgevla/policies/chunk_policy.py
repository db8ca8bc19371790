"""A torch policy as a ChunkPolicy (DESIGN §3): observation dict in, joint-target chunk out.

One adapter for every registered policy type (ACT, SmolVLA). Preprocessing is LeRobot's
inference path: rename keys (the checkpoint's rename_map), images uint8[H, W, 3] ->
float32[1, 3, H, W] in [0, 1], vectors -> float32[1, D], normalize; then the policy's chunk is
un-normalized and returned whole (float32[chunk_size, A]); the runtime, not the policy,
decides how many of its actions to execute. What a type needs besides tensors comes from its
registry entry: the `task` string for a VLA, and for a flow-matching policy its noise, drawn
from a generator seeded at every `reset` (when a seed is given) so an episode's chunks repeat.

Images are NOT resized: ACT's encoder sees one token per backbone pixel and SmolVLA pads to
its square input, so another size would silently change the model's input. An image whose
size differs from the config's is an error; render or crop the cameras at the trained size.
Placeholder cameras (SmolVLA's `empty_cameras`) are not read from observations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from edgevla.contracts import (
    ACTION_PREFIX,
    ACTION_RANGE,
    ActionChunk,
    Observation,
    PolicySpec,
    checked_image,
    checked_vector,
)
from edgevla.features import (
    ACTION_KEY,
    ACTION_PREFIX_KEY,
    IMAGE_KEY_PREFIX,
    JOINT_NAMES,
    TASK_KEY,
    camera_of,
)
from edgevla.policies.registry import get_policy_type
from edgevla.policies.types import FeatureType


class TorchChunkPolicy:
    """Wraps a policy with `config`, `preprocessor`, `postprocessor`, `rename_map` and
    `predict_action_chunk(normalized batch) -> float[B, T, A]` (every registered type has them).
    """

    def __init__(self, policy: nn.Module, fps: float = 30.0, seed: int | None = None) -> None:
        self.policy = policy
        config = policy.config  # type: ignore[attr-defined]
        self._type = get_policy_type(config.type)
        source_of = {new: old for old, new in (getattr(policy, "rename_map", {}) or {}).items()}
        cameras = getattr(config, "camera_features", config.image_features)
        # policy input key -> (observation key it is read from, feature)
        self._inputs = {
            key: (source_of.get(key, key), feature)
            for key, feature in config.input_features.items()
            if feature.type is not FeatureType.VISUAL or key in cameras
        }
        self.spec = _spec(config, fps, self._inputs, policy.postprocessor.stats)  # type: ignore[union-attr]
        self.seed = seed
        self._generator: torch.Generator | None = None
        self.reset()

    def fork(self) -> TorchChunkPolicy:
        """Another adapter on the same weights with its own episode state (the noise
        generator): what a server gives each session. `predict_chunk` only reads the module."""
        return TorchChunkPolicy(self.policy, self.spec.fps, self.seed)

    def reset(self) -> None:
        self.policy.reset()  # type: ignore[operator]
        if self._type.stochastic and self.seed is not None:
            self._generator = torch.Generator(device=self._device()).manual_seed(self.seed)

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        """-> actions float32[chunk_size, A] for the observation taken at tick `timestep`."""
        batch = self.to_batch(observation)
        noise = {"generator": self._generator} if self._type.stochastic else {}
        with torch.inference_mode():
            batch = self.policy.preprocessor.normalize(batch)  # type: ignore[union-attr]
            if ACTION_PREFIX in self.spec.extra:
                prefix = self._prefix(observation).unsqueeze(0).to(self._device())
                batch[ACTION_PREFIX_KEY] = self.policy.normalize_prefix(prefix)  # type: ignore[operator]
            actions = self.policy.predict_action_chunk(batch, **noise)  # type: ignore[operator]
            actions = self.policy.postprocessor.unnormalize_action(actions)  # type: ignore[union-attr]
        return ActionChunk(actions[0].to("cpu", torch.float32).numpy(), timestep)

    def to_batch(self, observation: Observation) -> dict[str, Any]:
        """Observation -> un-normalized float32 tensors with a batch dim, keyed as the policy's
        (plus `task`: [str] for a policy that reads the instruction)."""
        device = self._device()
        batch: dict[str, Any] = {}
        for key, (source, feature) in self._inputs.items():
            if source not in observation:
                have = sorted(k for k in observation if k != TASK_KEY)
                raise KeyError(f"observation lacks {source!r} needed by the policy; it has {have}")
            if feature.type is FeatureType.VISUAL:
                tensor = image_tensor(source, observation[source], feature.shape)
            else:
                tensor = vector_tensor(source, observation[source], feature.shape)
            batch[key] = tensor.unsqueeze(0).to(device)
        if self._type.reads_task:
            task = observation.get(TASK_KEY)
            if not isinstance(task, str):
                raise KeyError(
                    f"observation needs {TASK_KEY!r}: the instruction string, got {task!r}"
                )
            batch[TASK_KEY] = [task]
        return batch

    def _prefix(self, observation: Observation) -> Tensor:
        """The committed actions float32[k, A] (none when the observation has no such key),
        at most the policy's `max_prefix` of them: the rest it would not read anyway."""
        value = observation.get(ACTION_PREFIX_KEY)
        dim = self.spec.action_dim
        if value is None:
            return torch.zeros((0, dim))
        array = np.asarray(value)
        if array.ndim != 2 or array.shape[1] != dim or not np.issubdtype(array.dtype, np.number):
            raise ValueError(
                f"{ACTION_PREFIX_KEY}: expected float32[k, {dim}], got "
                f"{array.dtype}{list(array.shape)}"
            )
        return torch.from_numpy(array[: self.spec.extra[ACTION_PREFIX]].astype(np.float32))

    def _device(self) -> torch.device:
        return next(self.policy.parameters()).device


def _action_range(stats: Any) -> dict[str, list[float]] | None:
    """{"min": [...], "max": [...]} of the action column in the training data, if stored."""
    action = (stats or {}).get(ACTION_KEY, {})
    if "min" not in action or "max" not in action:
        return None
    return {k: [float(v) for v in action[k].reshape(-1).tolist()] for k in ("min", "max")}


def _spec(
    config: Any, fps: float, inputs: dict[str, tuple[str, Any]], policy_stats: Any = None
) -> PolicySpec:
    """What the wrapped policy reads and plans, in the vocabulary every loop speaks."""
    cameras = tuple(
        camera_of(source)
        for source, feature in inputs.values()
        if feature.type is FeatureType.VISUAL and source.startswith(IMAGE_KEY_PREFIX)
    )
    images = [f.shape for _, f in inputs.values() if f.type is FeatureType.VISUAL]
    action_dim = config.action_feature.shape[0]
    state = config.robot_state_feature
    extra = {"n_action_steps": config.n_action_steps}
    if getattr(config, "num_steps", None) is not None:
        extra["num_steps"] = config.num_steps  # flow-matching steps per chunk
    action_range = _action_range(policy_stats)
    if action_range is not None:
        extra[ACTION_RANGE] = action_range  # the training data's, for the server's guard
    if getattr(config, "max_prefix", None) is not None:
        extra[ACTION_PREFIX] = config.max_prefix  # reads the committed actions
    return PolicySpec(
        chunk_size=config.chunk_size,
        fps=fps,
        cameras=cameras,
        image_shape=tuple(images[0][1:]) if images else None,
        action_names=JOINT_NAMES
        if action_dim == len(JOINT_NAMES)
        else tuple(f"action_{i}" for i in range(action_dim)),
        state_dim=state.shape[0] if state is not None else 0,
        name=config.type,
        extra=extra,
    )


def image_tensor(key: str, image: Any, shape: tuple[int, ...]) -> Tensor:
    """uint8[H, W, 3] -> float32[3, H, W] in [0, 1], after checking it against (3, H, W)."""
    channels, height, width = shape
    image = checked_image(key, image, (height, width, channels))
    return (
        torch.from_numpy(np.ascontiguousarray(image)).float().div(255).permute(2, 0, 1).contiguous()
    )


def vector_tensor(key: str, value: Any, shape: tuple[int, ...]) -> Tensor:
    return torch.from_numpy(checked_vector(key, value, shape))
