"""Training state beside the weights, in LeRobot's file names, so a run resumes exactly:
optimizer (safetensors + param groups JSON), scheduler (JSON), RNG states (safetensors),
training step (JSON). No pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

TRAINING_STATE_DIR = "training_state"
OPTIMIZER_STATE = "optimizer_state.safetensors"
OPTIMIZER_GROUPS = "optimizer_param_groups.json"
SCHEDULER_STATE = "scheduler_state.json"
RNG_STATE = "rng_state.safetensors"
TRAINING_STEP = "training_step.json"
# Param-group entries that pick an optimizer implementation (a CUDA run saves foreach, ours
# fused): the resuming optimizer keeps its own.
IMPLEMENTATION_KEYS = ("foreach", "fused")


def save_training_state(
    directory: Path,
    step: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    sampler: torch.Generator,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    opt = optimizer.state_dict()
    flat: dict[str, torch.Tensor] = {}
    for pid, values in opt["state"].items():
        for name, value in values.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            flat[f"state.{pid}.{name}"] = tensor.detach().cpu().contiguous()
    save_file(flat, str(directory / OPTIMIZER_STATE))
    (directory / OPTIMIZER_GROUPS).write_text(json.dumps(opt["param_groups"], indent=2))
    if scheduler is not None:
        (directory / SCHEDULER_STATE).write_text(json.dumps(_jsonable(scheduler.state_dict())))
    save_file(
        {"torch": torch.get_rng_state(), "sampler": sampler.get_state()},
        str(directory / RNG_STATE),
    )
    (directory / TRAINING_STEP).write_text(json.dumps({"step": step}))


def load_training_state(
    directory: Path,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    sampler: torch.Generator,
) -> int:
    """Restore everything `save_training_state` wrote; returns the step to continue from."""
    for name in (OPTIMIZER_STATE, OPTIMIZER_GROUPS, RNG_STATE, TRAINING_STEP):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"cannot resume: {directory / name} is missing")
    flat = load_file(str(directory / OPTIMIZER_STATE))
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in flat.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = tensor
    groups = json.loads((directory / OPTIMIZER_GROUPS).read_text())
    for group in groups:  # how the step is computed is this machine's choice, not saved state
        for key in IMPLEMENTATION_KEYS:
            if key in optimizer.defaults:
                group[key] = optimizer.defaults[key]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    if scheduler is not None and (directory / SCHEDULER_STATE).is_file():
        scheduler.load_state_dict(json.loads((directory / SCHEDULER_STATE).read_text()))
    rng = load_file(str(directory / RNG_STATE))
    torch.set_rng_state(rng["torch"])
    sampler.set_state(rng["sampler"])
    return int(json.loads((directory / TRAINING_STEP).read_text())["step"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if torch.is_tensor(value):
        return value.tolist()
    return value
