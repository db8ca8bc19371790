"""A stand-in `torchvision` for running LeRobot's ACT and SmolVLA in a check tool, ONLY for that.

There is no CPU torchvision build for the project's CPU torch, and LeRobot imports torchvision
at module level (its image transforms, ACT's backbone). The parts a checkpoint check exercises
are small and documented, so they are written here from torchvision's public API docs:

- `models.resnet18(weights=None, norm_layer=..., replace_stride_with_dilation=...)`: the
  ResNet-18 layout (conv1/bn1/maxpool, layer1..4 of two BasicBlocks, fc) with torchvision's
  parameter names, so a LeRobot ACT built on it saves the keys a real one saves
- `models._utils.IntermediateLayerGetter` (children up to the returned layer, outputs by name)
- `ops.misc.FrozenBatchNorm2d` (batch norm with fixed buffers, eps 1e-5)
- `transforms` (and `transforms.v2`, `.functional`): any name is a placeholder class, so the
  modules of LeRobot's other policies and its image transforms import; calling one raises.
  `io.decode_image` / `encode_jpeg` likewise

Not imported by edgevla. `install()` puts it in `sys.modules` unless a working torchvision exists.
It also works around transformers 5.5 without torchvision: its lazy `transformers.models.smolvlm`
reports the PIL SmolVLM image processor as needing torchvision (it does not), so LeRobot's
`AutoProcessor.from_pretrained(vlm)` fails; importing that module directly and exposing the class
fixes it. Call `install()` after importing `transformers.image_utils`, which records torchvision
as absent (so transformers picks its PIL code paths). And SmolVLMProcessor cannot be built at all
without torchvision (its video processor needs it), while LeRobot's SmolVLA reads only
`processor.tokenizer` from it: `tokenizer_only_processor()` makes LeRobot's module load just the
tokenizer from the same folder.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections import OrderedDict

import torch
from torch import Tensor, nn


class FrozenBatchNorm2d(nn.Module):
    """y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, all buffers."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


class _BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int, norm_layer: type) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = norm_layer(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), norm_layer(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class _ResNet18(nn.Module):
    def __init__(self, norm_layer: type) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = norm_layer(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for i, (inplanes, planes, stride) in enumerate(widths, start=1):
            blocks = [
                _BasicBlock(inplanes, planes, stride, norm_layer),
                _BasicBlock(planes, planes, 1, norm_layer),
            ]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 1000)


def resnet18(
    *, weights: object = None, norm_layer: type = nn.BatchNorm2d, replace_stride_with_dilation=None
) -> nn.Module:
    if weights is not None:
        raise RuntimeError("torchvision stand-in: no pretrained weights (nothing downloads here)")
    if replace_stride_with_dilation and any(replace_stride_with_dilation):
        raise RuntimeError("torchvision stand-in: BasicBlock does not support dilation")
    return _ResNet18(norm_layer)


class IntermediateLayerGetter(nn.ModuleDict):
    """The model's children up to the last layer named in `return_layers`; forward returns
    {new name: output} for those layers."""

    def __init__(self, model: nn.Module, return_layers: dict[str, str]) -> None:
        wanted = dict(return_layers)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        remaining = set(wanted)
        for name, module in model.named_children():
            layers[name] = module
            remaining.discard(name)
            if not remaining:
                break
        super().__init__(layers)
        self.return_layers = wanted

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        out: OrderedDict[str, Tensor] = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


def _unavailable(*args: object, **kwargs: object) -> None:
    raise RuntimeError("torchvision stand-in: not available in this check")


class _Placeholder(nn.Module):
    """Any transforms name: a class to subclass or refer to at import time; never to run."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__()

    def forward(self, *args: object, **kwargs: object) -> None:
        _unavailable()


def _module(name: str, permissive: bool = False, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__doc__ = "edgevla check tool stand-in, not torchvision"
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attrs)
    if permissive:

        def placeholder(attr: str) -> type:
            if attr.startswith("__"):
                raise AttributeError(attr)
            return type(attr, (_Placeholder,), {})

        module.__getattr__ = placeholder  # type: ignore[method-assign]
    return module


def _expose_smolvlm_pil_processor() -> None:
    import importlib

    smolvlm = importlib.import_module("transformers.models.smolvlm")
    try:
        pil = importlib.import_module("transformers.models.smolvlm.image_processing_pil_smolvlm")
    except ModuleNotFoundError:  # a transformers without the split (4.x): nothing to fix
        return
    smolvlm.SmolVLMImageProcessorPil = pil.SmolVLMImageProcessorPil


class _TokenizerOnlyProcessor:
    """What LeRobot's SmolVLMWithExpertModel uses of AutoProcessor: `.tokenizer`."""

    def __init__(self, tokenizer: object) -> None:
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, name_or_path: str, **kwargs: object) -> _TokenizerOnlyProcessor:
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(name_or_path, **kwargs))


def tokenizer_only_processor() -> None:
    import importlib

    module = importlib.import_module("lerobot.policies.smolvla.smolvlm_with_expert")
    module.AutoProcessor = _TokenizerOnlyProcessor


def install() -> None:
    _expose_smolvlm_pil_processor()
    if "torchvision" in sys.modules:
        return
    try:
        import torchvision  # noqa: F401  (a real, working torchvision wins)

        return
    except Exception:
        sys.modules.pop("torchvision", None)
    functional = _module("torchvision.transforms.functional", permissive=True)
    v2 = _module("torchvision.transforms.v2", permissive=True, functional=functional)
    transforms = _module("torchvision.transforms", permissive=True, v2=v2, functional=functional)
    utils = _module("torchvision.models._utils", IntermediateLayerGetter=IntermediateLayerGetter)
    models = _module("torchvision.models", resnet18=resnet18, _utils=utils)
    misc = _module("torchvision.ops.misc", FrozenBatchNorm2d=FrozenBatchNorm2d)
    ops = _module("torchvision.ops", misc=misc)
    io = _module("torchvision.io", decode_image=_unavailable, encode_jpeg=_unavailable)
    tv = _module("torchvision", models=models, ops=ops, io=io, transforms=transforms)
    sys.modules.update(
        {
            "torchvision": tv,
            "torchvision.models": models,
            "torchvision.models._utils": utils,
            "torchvision.ops": ops,
            "torchvision.ops.misc": misc,
            "torchvision.io": io,
            "torchvision.transforms": transforms,
            "torchvision.transforms.v2": v2,
            "torchvision.transforms.v2.functional": functional,
            "torchvision.transforms.functional": functional,
        }
    )
