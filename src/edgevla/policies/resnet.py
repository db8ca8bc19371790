"""ResNet-18/34 trunk with torchvision's parameter names and frozen batch norm, no torchvision.

LeRobot's ACT builds `torchvision.models.resnet18(norm_layer=FrozenBatchNorm2d)` and keeps the
modules up to `layer4` (IntermediateLayerGetter, returning {"feature_map": layer4 output}).
This module rebuilds exactly that: the same children in the same order (conv1, bn1, relu,
maxpool, layer1..layer4; no avgpool / fc), so a state_dict reads `conv1.weight`,
`layer1.0.bn1.running_var`, `layer2.0.downsample.0.weight`, ... and a LeRobot checkpoint's
`model.backbone.*` tensors load unchanged. Frozen batch norm uses torchvision's arithmetic
(scale = w * rsqrt(var + eps)) so outputs match bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

RESNET_BLOCKS: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
}


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine terms, all stored as buffers (never trained)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # ImageNet weights from a trainable BatchNorm2d carry a counter we have no use for.
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        """x: float[B, C, H, W]."""
        scale = (
            self.weight.reshape(1, -1, 1, 1)
            * (self.running_var.reshape(1, -1, 1, 1) + self.eps).rsqrt()
        )
        shift = self.bias.reshape(1, -1, 1, 1) - self.running_mean.reshape(1, -1, 1, 1) * scale
        return x * scale + shift

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual; `downsample` matches shapes when they change."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = FrozenBatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = FrozenBatchNorm2d(channels)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                FrozenBatchNorm2d(channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNetBackbone(nn.Module):
    """images float[B, 3, H, W] -> {"feature_map": float[B, 512, ceil(H/32), ceil(W/32)]}."""

    def __init__(self, name: str = "resnet18", replace_final_stride_with_dilation: bool = False):
        super().__init__()
        if name not in RESNET_BLOCKS:
            raise ValueError(
                f"vision_backbone must be one of {sorted(RESNET_BLOCKS)}, got {name!r}"
            )
        if replace_final_stride_with_dilation:
            # torchvision refuses dilation in BasicBlock too; say so instead of building a wrong net.
            raise ValueError(
                f"replace_final_stride_with_dilation is not supported by {name} (BasicBlock "
                "has no dilation); set it to false"
            )
        blocks = RESNET_BLOCKS[name]
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._stage(64, 64, blocks[0], stride=1)
        self.layer2 = self._stage(64, 128, blocks[1], stride=2)
        self.layer3 = self._stage(128, 256, blocks[2], stride=2)
        self.layer4 = self._stage(256, 512, blocks[3], stride=2)
        self.out_channels = 512
        for module in self.modules():
            if isinstance(module, nn.Conv2d):  # torchvision's initialization
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(in_channels: int, channels: int, n_blocks: int, stride: int) -> nn.Sequential:
        first = BasicBlock(in_channels, channels, stride)
        return nn.Sequential(
            first, *(BasicBlock(channels, channels, 1) for _ in range(n_blocks - 1))
        )

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return {"feature_map": x}


class _ThawedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d without a batch counter, so its state_dict is FrozenBatchNorm2d's."""

    def __init__(self, num_features: int, eps: float) -> None:
        super().__init__(num_features, eps=eps)
        self.register_buffer("num_batches_tracked", None)  # unused with a fixed momentum

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # A plain dict has no version metadata, and BatchNorm2d would then invent a counter.
        metadata = {**local_metadata, "version": self._version}
        super()._load_from_state_dict(state_dict, prefix, metadata, *args, **kwargs)


def thaw_batch_norm(module: nn.Module) -> int:
    """Replace every FrozenBatchNorm2d in `module` by a trainable BatchNorm2d holding the same
    values; returns how many. For backbones trained from scratch: with no ImageNet statistics
    to freeze, frozen batch norm is the identity and an 18-layer trunk trains slowly without
    any normalization. The state_dict keys stay the same (no batch counter is kept), so a
    checkpoint of the thawed model loads into the frozen one — LeRobot's — unchanged."""
    return _swap_norms(module, FrozenBatchNorm2d, _ThawedBatchNorm2d)


def freeze_batch_norm(module: nn.Module) -> int:
    """The inverse of `thaw_batch_norm`: BatchNorm2d -> FrozenBatchNorm2d with its current
    affine terms and running statistics; returns how many."""
    return _swap_norms(module, nn.BatchNorm2d, FrozenBatchNorm2d)


def _swap_norms(module: nn.Module, old: type[nn.Module], new: type[nn.Module]) -> int:
    """Replace each `old` norm below `module` by a `new` one with the same four tensors."""
    count = 0
    for name, child in list(module.named_children()):
        if not isinstance(child, old):
            count += _swap_norms(child, old, new)
            continue
        replacement = new(child.weight.shape[0], eps=child.eps).to(child.weight.device)
        with torch.no_grad():
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(replacement, key).copy_(getattr(child, key))
        setattr(module, name, replacement)
        count += 1
    return count


def load_torchvision_weights(backbone: ResNetBackbone, state_dict: Mapping[str, Tensor]) -> None:
    """Load a torchvision ResNet state_dict (e.g. ImageNet weights kept as safetensors).

    `fc.*` and `num_batches_tracked` are dropped (the trunk has no classifier); anything else
    missing, extra or of the wrong shape is an error naming the key.
    """
    own = backbone.state_dict()
    tensors = {
        k: v
        for k, v in state_dict.items()
        if not k.startswith("fc.") and "num_batches_tracked" not in k
    }
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"ResNet weights: missing keys {missing[:8]}, unexpected keys {unexpected[:8]}"
        )
    for key, value in tensors.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise ValueError(
                f"ResNet weights: {key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}"
            )
    backbone.load_state_dict(tensors, strict=True)
