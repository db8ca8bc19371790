"""A stand-in `torchvision` for running LeRobot inside edgevla's two LeRobot check tools
(tools/check_with_lerobot.py, datasets; tools/check_checkpoint_with_lerobot.py, checkpoints),
ONLY for those.

There is no CPU torchvision build for the project's CPU torch, and LeRobot imports torchvision
at module level (its image transforms, ACT's backbone, video decoding). The parts the checks
exercise are small and documented, so they are written here from torchvision's public API docs:

- `models.resnet18(weights=None, norm_layer=..., replace_stride_with_dilation=...)`: the
  ResNet-18 layout (conv1/bn1/maxpool, layer1..4 of two BasicBlocks, fc) with torchvision's
  parameter names, so a LeRobot ACT built on it saves the keys a real one saves
- `models._utils.IntermediateLayerGetter` (children up to the returned layer, outputs by name)
- `ops.misc.FrozenBatchNorm2d`: edgevla's own (`edgevla.policies.resnet`, torchvision's
  arithmetic and buffers, eps 1e-5; its formula is tested in tests/policies/test_policies_resnet.py),
  so `install()` puts the repository's src/ on `sys.path`
- `io.VideoReader` and `set_video_backend("pyav")`: what torchvision's PyAV backend does (open
  with PyAV, seek backward to the keyframe before a time, decode forward, pts in seconds, frames
  as uint8 CHW tensors); everything above that in LeRobot's video decoding is LeRobot's own code
- `transforms` (and `transforms.v2`, `.functional`): any name is a placeholder class, so the
  modules of LeRobot's other policies and its image transforms import; calling one raises.
  `io.decode_image` / `encode_jpeg` likewise

Not imported by edgevla. `install()` puts it in `sys.modules` unless a working torchvision exists.
Import first whatever records at import time that torchvision is absent (`datasets` for its
video features, `transformers.image_utils` so transformers picks its PIL code paths).

Two transformers 5.5 workarounds for the checkpoint check: its lazy `transformers.models.smolvlm`
reports the PIL SmolVLM image processor as needing torchvision (it does not), so LeRobot's
`AutoProcessor.from_pretrained(vlm)` fails; `expose_smolvlm_pil_processor()` imports that module
directly and exposes the class. And SmolVLMProcessor cannot be built at all without torchvision
(its video processor needs it), while LeRobot's SmolVLA reads only `processor.tokenizer` from it:
`tokenizer_only_processor()` makes LeRobot's module load just the tokenizer from the same folder.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from collections import OrderedDict
from pathlib import Path

import torch
from torch import Tensor, nn

SRC = Path(__file__).resolve().parents[1] / "src"


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


class VideoReader:
    """What torchvision's VideoReader does with backend "pyav"."""

    def __init__(self, src: str, stream: str = "video") -> None:
        import av

        if stream != "video":
            raise RuntimeError(f"torchvision stand-in: VideoReader reads 'video', got {stream!r}")
        self._eof = av.error.EOFError
        self.container = av.open(src, metadata_errors="ignore")
        self._decoder = self.container.decode(video=0)

    def __iter__(self) -> VideoReader:
        return self

    def __next__(self) -> dict[str, object]:
        try:
            frame = next(self._decoder)
        except self._eof:
            raise StopIteration from None
        pts = float(frame.pts * frame.time_base)
        data = torch.from_numpy(frame.to_rgb().to_ndarray()).permute(2, 0, 1)
        return {"data": data, "pts": pts}

    def seek(self, time_s: float, keyframes_only: bool = False) -> VideoReader:
        stream = self.container.streams.video[0]
        offset = int(round(max(time_s, 0.0) / stream.time_base))
        self.container.seek(offset, backward=True, any_frame=False, stream=stream)
        self._decoder = self.container.decode(video=0)
        return self


def set_video_backend(backend: str) -> None:
    if backend != "pyav":
        raise RuntimeError(f"torchvision stand-in: only the 'pyav' video backend, got {backend!r}")


def expose_smolvlm_pil_processor() -> None:
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
    module = importlib.import_module("lerobot.policies.smolvla.smolvlm_with_expert")
    module.AutoProcessor = _TokenizerOnlyProcessor


def _frozen_batch_norm() -> type[nn.Module]:
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    from edgevla.policies.resnet import FrozenBatchNorm2d

    return FrozenBatchNorm2d


def install() -> None:
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
    misc = _module("torchvision.ops.misc", FrozenBatchNorm2d=_frozen_batch_norm())
    ops = _module("torchvision.ops", misc=misc)
    io = _module(
        "torchvision.io",
        VideoReader=VideoReader,
        decode_image=_unavailable,
        encode_jpeg=_unavailable,
    )
    tv = _module(
        "torchvision",
        models=models,
        ops=ops,
        io=io,
        transforms=transforms,
        set_video_backend=set_video_backend,
    )
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
