"""Checkpoint selection by closed-loop success (the NXP rule): every checkpoint of a run is
evaluated on the test and validation sets; the best global accuracy wins, validation accuracy
breaks ties, then the earlier step. The training loss is never consulted."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgevla.evaluate.protocol import ProtocolConfig, ProtocolResult, run_protocol


@dataclass(frozen=True)
class Evaluated:
    step: int
    path: Path
    row: dict[str, Any]


def run_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, checkpoint dir) of every numbered checkpoint, in step order."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        raise FileNotFoundError(f"{run_dir} has no checkpoints/ directory")
    found = sorted((int(p.name), p) for p in root.iterdir() if p.is_dir() and p.name.isdigit())
    if not found:
        raise FileNotFoundError(f"{root} holds no numbered checkpoints")
    return found


def best(evaluated: list[Evaluated]) -> Evaluated:
    def key(e: Evaluated):
        g = e.row.get("global_accuracy") or 0.0
        v = e.row.get("validation_accuracy") or 0.0
        return (g, v, -e.step)

    return max(evaluated, key=key)


def select(
    run_dir: str | Path,
    protocol: ProtocolConfig,
    load: Callable[[Path], Any],
    on_checkpoint: Callable[[int, ProtocolResult], None] | None = None,
    *,
    steps: Collection[int] | None = None,
    workers: int = 1,
) -> tuple[Evaluated, list[Evaluated]]:
    """load(checkpoint_dir) -> ChunkPolicy. `steps`: only these checkpoints (all by default);
    `workers`: processes per evaluation (see `run_protocol`)."""
    found = run_checkpoints(run_dir)
    if steps is not None:
        missing = sorted(set(steps) - {step for step, _ in found})
        if missing:
            have = ", ".join(str(step) for step, _ in found)
            raise FileNotFoundError(
                f"{run_dir} has no checkpoints for steps {missing}; it has {have}"
            )
        found = [(step, path) for step, path in found if step in steps]
    evaluated = []
    for step, path in found:
        result = run_protocol(load(path), protocol, workers=workers, source=str(path))
        evaluated.append(Evaluated(step, path, result.row()))
        if on_checkpoint is not None:
            on_checkpoint(step, result)
    return best(evaluated), evaluated
