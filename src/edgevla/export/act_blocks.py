"""ACT cut into blocks (DESIGN §7): image backbone | transformer -> chunk.

backbone     images float32[C, 3, H, W] (normalized, cameras as the batch) -> features
             float32[C, 512, h, w], one graph for every camera (they share the ResNet)
transformer  state float32[1, S] (normalized), features -> actions float32[1, T, A]
             (normalized): projections, encoder, decoder and action head, the latent 0

The torch modules here are the reference each ONNX block is checked against; they call the
policy's own modules (`ACTModel.chunk_from_features`), so nothing of ACT is re-spelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edgevla.features import STATE_KEY
from edgevla.policies.act import ACTPolicy
from edgevla.runtime.bundle_manifest import ACTIONS_OUTPUT, IMAGES_INPUT, STATE_INPUT, TensorSpec


class BackboneBlock(nn.Module):
    def __init__(self, policy: ACTPolicy) -> None:
        super().__init__()
        self.backbone = policy.model.backbone

    def forward(self, images: Tensor) -> Tensor:
        return self.backbone(images)["feature_map"]


class TransformerBlock(nn.Module):
    def __init__(self, policy: ACTPolicy) -> None:
        super().__init__()
        self.model = policy.model
        self.has_state = policy.config.robot_state_feature is not None

    def forward(self, *inputs: Tensor) -> Tensor:
        state, features = inputs if self.has_state else (None, inputs[0])
        latent = torch.zeros([1, self.model.config.latent_dim], dtype=torch.float32)
        batch = {STATE_KEY: state} if state is not None else {}
        per_camera = list(features.split(1))  # [1, C, h, w] each, camera order
        return self.model.chunk_from_features(batch, latent, per_camera)


@dataclass
class Block:
    """A block to export: its torch reference and the tensors it reads and writes."""

    name: str
    module: nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def act_blocks(policy: ACTPolicy) -> list[Block]:
    """The blocks of `policy` at its static shapes (batch 1, its cameras and image size)."""
    config = policy.config
    if config.env_state_feature is not None:
        raise ValueError(
            "export: ACT reading observation.environment_state is not exportable (privileged "
            "sim state; learned policies for the board read cameras and state only)"
        )
    cameras = list(config.image_features)
    if not cameras:
        raise ValueError("export: this ACT has no cameras; the ACT blocks start at the backbone")
    shapes = {tuple(config.image_features[k].shape) for k in cameras}
    if len(shapes) != 1:
        raise ValueError(
            f"export: cameras of different sizes {sorted(shapes)} cannot share one backbone batch"
        )
    channels, height, width = shapes.pop()
    images = TensorSpec(IMAGES_INPUT, "float32", (len(cameras), channels, height, width))
    backbone = BackboneBlock(policy).eval()
    with torch.no_grad():
        feature_shape = tuple(backbone(torch.zeros(images.shape)).shape)
    features = TensorSpec("features", "float32", feature_shape)
    inputs = [features]
    if config.robot_state_feature is not None:
        inputs.insert(
            0, TensorSpec(STATE_INPUT, "float32", (1, config.robot_state_feature.shape[0]))
        )
    actions = TensorSpec(
        ACTIONS_OUTPUT, "float32", (1, config.chunk_size, config.action_feature.shape[0])
    )
    return [
        Block("backbone", backbone, (images,), (features,)),
        Block("transformer", TransformerBlock(policy).eval(), tuple(inputs), (actions,)),
    ]
