"""SmolVLA as a ChunkPolicy (DESIGN §3): observation dict in, joint-target chunk out.

Like `edgevla.policies.chunk_policy.TorchChunkPolicy` (LeRobot's inference path: rename keys,
images uint8[H, W, 3] -> float32[1, 3, H, W] in [0, 1], normalize, predict, un-normalize), plus
what SmolVLA needs besides: the `task` string (tokenized by the policy) and the flow-matching
noise, drawn from a generator seeded at every `reset` when a seed is given, so an episode's
chunks are reproducible. Placeholder cameras (`empty_cameras`) are not read from observations.
Camera images must have the size in the config (SmolVLA pads them to its square input, so a
different aspect ratio would silently change what the model sees).
"""

from __future__ import annotations

from typing import Any

import torch

from edgevla.contracts import ActionChunk, Observation, PolicySpec
from edgevla.features import IMAGE_KEY_PREFIX, JOINT_NAMES, STATE_KEY, TASK_KEY, camera_of
from edgevla.policies.chunk_policy import image_tensor, vector_tensor
from edgevla.policies.smolvla.policy import SmolVLAPolicy


class SmolVLAChunkPolicy:
    def __init__(self, policy: SmolVLAPolicy, fps: float = 30.0, seed: int | None = None) -> None:
        self.policy = policy
        config = policy.config
        source_of = {new: old for old, new in policy.rename_map.items()}
        inputs = {**config.camera_features}
        if config.robot_state_feature is not None:
            inputs[STATE_KEY] = config.robot_state_feature
        # policy input key -> (observation key it is read from, feature)
        self._inputs = {key: (source_of.get(key, key), f) for key, f in inputs.items()}
        cameras = tuple(
            camera_of(source)
            for key, (source, _) in self._inputs.items()
            if key in config.camera_features and source.startswith(IMAGE_KEY_PREFIX)
        )
        first_camera = next(iter(config.camera_features.values()))
        action_dim = config.action_feature.shape[0]
        self.spec = PolicySpec(
            chunk_size=config.chunk_size,
            fps=fps,
            cameras=cameras,
            image_shape=tuple(first_camera.shape[1:]),
            action_names=JOINT_NAMES
            if action_dim == len(JOINT_NAMES)
            else tuple(f"action_{i}" for i in range(action_dim)),
            state_dim=config.robot_state_feature.shape[0],
            name=config.type,
            extra={"n_action_steps": config.n_action_steps, "num_steps": config.num_steps},
        )
        self.seed = seed
        self._generator: torch.Generator | None = None
        self.reset()

    def reset(self) -> None:
        self.policy.reset()
        if self.seed is not None:
            device = self.policy.model.state_proj.weight.device
            self._generator = torch.Generator(device=device).manual_seed(self.seed)

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        """-> actions float32[chunk_size, A] for the observation taken at tick `timestep`."""
        batch = self.to_batch(observation)
        with torch.inference_mode():
            batch = self.policy.preprocessor.normalize(batch)
            actions = self.policy.predict_action_chunk(batch, generator=self._generator)
            actions = self.policy.postprocessor.unnormalize_action(actions)
        return ActionChunk(actions[0].to("cpu", torch.float32).numpy(), timestep)

    def to_batch(self, observation: Observation) -> dict[str, Any]:
        """Observation -> un-normalized float32 tensors with a batch dim, plus `task`: [str]."""
        device = self.policy.model.state_proj.weight.device
        batch: dict[str, Any] = {}
        for key, (source, feature) in self._inputs.items():
            if source not in observation:
                have = sorted(k for k in observation if k != TASK_KEY)
                raise KeyError(f"observation lacks {source!r} needed by the policy; it has {have}")
            if key in self.policy.config.camera_features:
                tensor = image_tensor(source, observation[source], feature.shape)
            else:
                tensor = vector_tensor(source, observation[source], feature.shape)
            batch[key] = tensor.unsqueeze(0).to(device)
        task = observation.get(TASK_KEY)
        if not isinstance(task, str):
            raise KeyError(f"observation needs {TASK_KEY!r}: the instruction string, got {task!r}")
        batch[TASK_KEY] = [task]
        return batch
