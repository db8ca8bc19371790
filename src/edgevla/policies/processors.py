"""LeRobot's processor pipeline files: `<name>.json` plus one safetensors file per stateful step.

A pipeline JSON looks like
    {"name": "policy_preprocessor",
     "steps": [{"registry_name": "normalizer_processor", "config": {...},
                "state_file": "policy_preprocessor_step_3_normalizer_processor.safetensors"}, ...]}
and the state file of step i is named `<sanitized name>_step_<i>_<registry_name>.safetensors`.
This module reads and writes that form without knowing what any step does; the policies pick
the steps they need (the normalizer, a tokenizer...) by registry name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from edgevla.policies.errors import CheckpointError

PREPROCESSOR_NAME = "policy_preprocessor"
POSTPROCESSOR_NAME = "policy_postprocessor"
NORMALIZER_STEP = "normalizer_processor"
UNNORMALIZER_STEP = "unnormalizer_processor"


@dataclass(frozen=True)
class ProcessorStep:
    """One pipeline step: its JSON entry (minus `state_file`) and its tensors, if any."""

    registry_name: str | None
    config: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Tensor] | None = None
    class_path: str | None = None  # LeRobot's fallback for steps without a registry name

    @property
    def label(self) -> str:
        return self.registry_name or self.class_path or "<unnamed step>"


@dataclass(frozen=True)
class ProcessorPipeline:
    name: str
    steps: tuple[ProcessorStep, ...]

    @property
    def file_stem(self) -> str:
        return re.sub(r"[^a-zA-Z0-9_]", "_", self.name.lower())

    @property
    def json_name(self) -> str:
        return f"{self.file_stem}.json"

    def state_file_name(self, index: int) -> str:
        step = self.steps[index]
        suffix = f"_{step.registry_name}" if step.registry_name else ""
        return f"{self.file_stem}_step_{index}{suffix}.safetensors"

    def find(self, registry_name: str, source: Path | str | None = None) -> ProcessorStep:
        """The step registered as `registry_name`; an error names the file when it is absent."""
        for step in self.steps:
            if step.registry_name == registry_name:
                return step
        present = [s.label for s in self.steps]
        raise CheckpointError(
            source or self.json_name,
            f"pipeline {self.name!r} has no {registry_name!r} step (steps: {present})",
            key="steps",
        )


def save_pipeline(pipeline: ProcessorPipeline, directory: str | Path) -> list[Path]:
    """Write the JSON (LeRobot's form: indent 2, no trailing newline) and the state files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    written: list[Path] = []
    for index, step in enumerate(pipeline.steps):
        entry: dict[str, Any] = {}
        if step.registry_name:
            entry["registry_name"] = step.registry_name
        else:
            entry["class"] = step.class_path
        entry["config"] = step.config
        if step.state:
            state_name = pipeline.state_file_name(index)
            tensors = {k: v.detach().cpu().contiguous().clone() for k, v in step.state.items()}
            save_file(tensors, str(directory / state_name))
            entry["state_file"] = state_name
            written.append(directory / state_name)
        entries.append(entry)
    json_path = directory / pipeline.json_name
    json_path.write_text(json.dumps({"name": pipeline.name, "steps": entries}, indent=2))
    written.append(json_path)
    return written


def load_pipeline(directory: str | Path, name: str) -> ProcessorPipeline:
    """Read `<directory>/<name>.json` and its steps' state files; errors name file and key."""
    directory = Path(directory)
    stem = re.sub(r"[^a-zA-Z0-9_]", "_", name.lower())
    path = directory / f"{stem}.json"
    if not path.is_file():
        raise CheckpointError(
            path,
            "processor config not found (it holds the normalization stats; checkpoints from "
            "LeRobot < 0.4 keep them in model.safetensors and need LeRobot's "
            "migrate_policy_normalization first)",
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(path, f"not valid JSON ({e})") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("steps"), list):
        raise CheckpointError(path, "expected {'name': ..., 'steps': [...]}", key="steps")
    steps = tuple(_load_step(directory, path, i, e) for i, e in enumerate(data["steps"]))
    return ProcessorPipeline(name=str(data.get("name", name)), steps=steps)


def _load_step(directory: Path, path: Path, index: int, entry: Any) -> ProcessorStep:
    key = f"steps[{index}]"
    if not isinstance(entry, Mapping) or not ("registry_name" in entry or "class" in entry):
        raise CheckpointError(
            path, f"expected a step with 'registry_name' or 'class', got {entry!r}", key
        )
    config = entry.get("config", {})
    if not isinstance(config, Mapping):
        raise CheckpointError(path, f"step config should be a mapping, got {config!r}", key)
    state = None
    if "state_file" in entry:
        state_path = directory / str(entry["state_file"])
        if not state_path.is_file():
            raise CheckpointError(state_path, f"state file named by {path.name} {key} not found")
        try:
            state = load_file(str(state_path))
        except (SafetensorError, OSError) as e:
            raise CheckpointError(state_path, f"not a readable safetensors file ({e})") from None
    return ProcessorStep(
        registry_name=entry.get("registry_name"),
        config=dict(config),
        state=state,
        class_path=entry.get("class"),
    )
