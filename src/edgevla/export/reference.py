"""PyTorch's side of the parity gate: the policy's own numbers on the dataset frames.

Per frame: the normalized inputs the bundle's blocks read (`images`, `state`), each block's
torch output on them, and the policy's normalized chunk computed its usual way (every camera
through the backbone on its own call), the end-to-end reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edgevla.contracts import Observation
from edgevla.export.act_blocks import Block
from edgevla.features import STATE_KEY
from edgevla.policies.act import ACTPolicy
from edgevla.policies.chunk_policy import TorchChunkPolicy
from edgevla.runtime.bundle_manifest import IMAGES_INPUT, STATE_INPUT


@dataclass
class Reference:
    """tensors[i]: every block input and output for frame i; chunks[i]: float32[1, T, A]."""

    tensors: list[dict[str, np.ndarray]]
    chunks: list[np.ndarray]

    def feeds(self, block: Block) -> list[dict[str, np.ndarray]]:
        return [{t.name: frame[t.name] for t in block.inputs} for frame in self.tensors]

    def outputs(self, block: Block) -> list[np.ndarray]:
        return [frame[block.outputs[0].name] for frame in self.tensors]


@torch.no_grad()
def compute_reference(
    wrapper: TorchChunkPolicy, blocks: list[Block], observations: list[Observation]
) -> Reference:
    policy: ACTPolicy = wrapper.policy  # type: ignore[assignment]
    cameras = list(policy.config.image_features)
    tensors: list[dict[str, np.ndarray]] = []
    chunks: list[np.ndarray] = []
    for observation in observations:
        batch = policy.preprocessor.normalize(wrapper.to_batch(observation))
        frame = {IMAGES_INPUT: torch.cat([batch[k] for k in cameras])}
        if policy.config.robot_state_feature is not None:
            frame[STATE_INPUT] = batch[STATE_KEY]
        for block in blocks:
            args = [frame[t.name] for t in block.inputs]
            frame[block.outputs[0].name] = block.module(*args)
        tensors.append({k: v.numpy().astype(np.float32) for k, v in frame.items()})
        chunks.append(policy.predict_action_chunk(batch).numpy().astype(np.float32))
    return Reference(tensors, chunks)
