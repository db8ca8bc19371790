"""Load and save policies in LeRobot's `pretrained_model` layout (safetensors and JSON only).

    <run>/checkpoints/<step, 6+ digits>/pretrained_model/
        config.json                     policy config, "type" picks the policy
        model.safetensors               weights, LeRobot's key names
        train_config.json               (written by training; not read here)
        policy_preprocessor.json        + policy_preprocessor_step_<i>_normalizer_processor.safetensors
        policy_postprocessor.json       + policy_postprocessor_step_<i>_unnormalizer_processor.safetensors
    <run>/checkpoints/<step>/training_state/   optimizer, scheduler, rng, training_step.json
    <run>/checkpoints/last -> <step>           relative symlink to the newest checkpoint

`load_policy` accepts the pretrained_model directory, a step directory, `last`, or the run
directory. Every failure is a CheckpointError naming the file and, where there is one, the key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from edgevla.policies.errors import CheckpointError
from edgevla.policies.processors import (
    POSTPROCESSOR_NAME,
    PREPROCESSOR_NAME,
    load_pipeline,
    save_pipeline,
)
from edgevla.policies.registry import get_policy_type

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TRAIN_CONFIG_NAME = "train_config.json"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT_LINK = "last"
PRETRAINED_MODEL_DIR = "pretrained_model"
TRAINING_STATE_DIR = "training_state"


def resolve_pretrained_dir(path: str | Path) -> Path:
    """The directory holding config.json: `path` itself, its pretrained_model/, or the run's last."""
    path = Path(path)
    candidates = [
        path,
        path / PRETRAINED_MODEL_DIR,
        path / CHECKPOINTS_DIR / LAST_CHECKPOINT_LINK / PRETRAINED_MODEL_DIR,
    ]
    for candidate in candidates:
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    if not path.exists():
        raise CheckpointError(path, "checkpoint directory does not exist")
    looked = ", ".join(str(c / CONFIG_NAME) for c in candidates)
    raise CheckpointError(path / CONFIG_NAME, f"policy config not found (looked for {looked})")


def read_config_json(directory: Path) -> dict:
    path = directory / CONFIG_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(path, "policy config not found") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(path, f"not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(path, f"expected a JSON object, got {type(data).__name__}")
    if "type" not in data:
        raise CheckpointError(path, "no policy type", key="type")
    return data


def load_config(path: str | Path, policy_type: str | None = None):  # type: ignore[no-untyped-def]
    """The policy config of a checkpoint, parsed by the class its "type" names.

    With `policy_type`, a checkpoint of another type is an error (naming config.json "type").
    """
    directory = resolve_pretrained_dir(path)
    data = read_config_json(directory)
    config_path = directory / CONFIG_NAME
    if policy_type is not None and data["type"] != policy_type:
        raise CheckpointError(
            config_path, f"policy type is {data['type']!r}, expected {policy_type!r}", key="type"
        )
    try:
        kind = get_policy_type(str(data["type"]))
    except KeyError as e:
        raise CheckpointError(config_path, str(e.args[0]), key="type") from None
    try:
        return kind.config_from_json(data, str(config_path))
    except ValueError as e:
        raise CheckpointError(config_path, str(e).removeprefix(f"{config_path}: ")) from None


def load_policy(
    path: str | Path, device: str | torch.device = "cpu", policy_type: str | None = None
) -> nn.Module:
    """Policy with weights and normalization stats from a LeRobot-layout checkpoint, in eval mode.

    The config's "type" picks the policy class; pass `policy_type` to insist on one.
    """
    directory = resolve_pretrained_dir(path)
    config = load_config(directory, policy_type)
    kind = get_policy_type(config.type)
    pre = load_pipeline(directory, PREPROCESSOR_NAME)
    post = load_pipeline(directory, POSTPROCESSOR_NAME)
    policy = kind.from_pipelines(config, pre, post, directory)
    load_weights(policy, directory / WEIGHTS_NAME)
    return policy.to(device).eval()


def load_weights(module: nn.Module, path: str | Path, may_lack: tuple[str, ...] = ()) -> None:
    """Load a safetensors state_dict strictly: every key present, none extra, shapes equal.

    may_lack: key prefixes the file may lack (a variant started from its base type's
    checkpoint); those tensors keep the module's own values."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "model weights not found")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(path, f"not a readable safetensors file ({e})") from None
    expected = module.state_dict()
    missing = [k for k in expected if k not in tensors and not k.startswith(may_lack)]
    unexpected = sorted(k for k in tensors if k not in expected)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CheckpointError(path, f"missing tensor {missing[0]}{more}", key=missing[0])
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise CheckpointError(
            path, f"unexpected tensor {unexpected[0]}{more}: not in this policy", key=unexpected[0]
        )
    tensors = {**{k: v for k, v in expected.items() if k not in tensors}, **tensors}
    for key, want in expected.items():
        got = tensors[key]
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(
                path, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}", key=key
            )
        if got.dtype != want.dtype:
            if not (got.is_floating_point() and want.is_floating_point()):
                raise CheckpointError(path, f"dtype {got.dtype}, expected {want.dtype}", key=key)
            tensors[key] = got.to(want.dtype)
    module.load_state_dict(tensors, strict=True)


def save_pretrained(policy: nn.Module, directory: str | Path) -> Path:
    """Write config.json, model.safetensors and both processor pipelines, as LeRobot does."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = policy.config  # type: ignore[attr-defined]
    kind = get_policy_type(config.type)
    (directory / CONFIG_NAME).write_text(json.dumps(config.to_json(), indent=4))
    state = {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_NAME))
    for pipeline in kind.pipelines(policy):
        save_pipeline(pipeline, directory)
    return directory


WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def copy_pretrained(source: str | Path, target: str | Path, dtype: str | None = None) -> Path:
    """Copy a pretrained_model directory (every file) to `target`, optionally storing the
    weights' floating tensors as `dtype` — float16 halves a checkpoint for shipping; loading
    casts back to the model's dtype (ours and LeRobot's `load_state_dict` alike)."""
    import shutil

    source = resolve_pretrained_dir(source)
    target = Path(target)
    if dtype is not None and dtype not in WEIGHT_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(WEIGHT_DTYPES)}, got {dtype!r}")
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists and is not empty")
    target.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.iterdir()):
        if item.is_file() and item.name != WEIGHTS_NAME:
            shutil.copy2(item, target / item.name)
    weights = source / WEIGHTS_NAME
    if dtype is None:
        shutil.copy2(weights, target / WEIGHTS_NAME)
    else:
        try:
            tensors = load_file(str(weights))
        except (SafetensorError, OSError) as e:
            raise CheckpointError(weights, f"cannot read weights: {e}") from None
        cast = WEIGHT_DTYPES[dtype]
        tensors = {k: v.to(cast) if v.is_floating_point() else v for k, v in tensors.items()}
        save_file(tensors, str(target / WEIGHTS_NAME))
    return target


def step_checkpoint_dir(output_dir: str | Path, step: int, total_steps: int) -> Path:
    """<output_dir>/checkpoints/<step zero-padded to max(6, digits of total_steps)>."""
    digits = max(6, len(str(total_steps)))
    return Path(output_dir) / CHECKPOINTS_DIR / f"{step:0{digits}d}"


def update_last_checkpoint(step_dir: str | Path) -> Path:
    """Point checkpoints/last at `step_dir` with a relative symlink, replaced atomically."""
    step_dir = Path(step_dir)
    link = step_dir.parent / LAST_CHECKPOINT_LINK
    tmp = step_dir.parent / f".{LAST_CHECKPOINT_LINK}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(step_dir.name)
    os.replace(tmp, link)
    return link
