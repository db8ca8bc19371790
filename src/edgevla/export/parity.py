"""The parity gate (DESIGN §7): each block's ONNX output against PyTorch's on real frames.

max_abs = max |onnx - torch| over every element of every frame; max_rel = max_abs / max |torch|
(the error on the scale of the output: element-wise ratios explode where torch is near 0).
A block passes when max_abs <= tolerance.abs + tolerance.rel * max |torch|, numpy's allclose
bound taken over the whole output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edgevla.export.recipes import Tolerance


class ParityError(ValueError):
    """A block (or the whole chain) whose ONNX output is further from PyTorch than allowed."""


@dataclass(frozen=True)
class ParityResult:
    block: str  # a block name, or "end_to_end"
    frames: int
    max_abs: float
    max_rel: float
    ref_max: float
    tolerance_abs: float
    tolerance_rel: float

    @property
    def passed(self) -> bool:
        return self.max_abs <= self.tolerance_abs + self.tolerance_rel * self.ref_max

    def to_json(self) -> dict[str, object]:
        return asdict(self) | {"passed": self.passed}

    def describe(self) -> str:
        return (
            f"{self.block}: max abs {self.max_abs:.3g}, max rel {self.max_rel:.3g} over "
            f"{self.frames} frames (allowed abs {self.tolerance_abs:g} + rel "
            f"{self.tolerance_rel:g} x {self.ref_max:.3g})"
        )


def compare(
    block: str, got: Sequence[np.ndarray], want: Sequence[np.ndarray], tolerance: Tolerance
) -> ParityResult:
    if len(got) != len(want) or not want:
        raise ValueError(f"{block}: {len(got)} outputs to compare with {len(want)} references")
    max_abs = max(
        float(np.max(np.abs(g.astype(np.float64) - w))) for g, w in zip(got, want, strict=True)
    )
    ref_max = max(float(np.max(np.abs(w))) for w in want)
    return ParityResult(
        block=block,
        frames=len(want),
        max_abs=max_abs,
        max_rel=max_abs / max(ref_max, 1e-12),
        ref_max=ref_max,
        tolerance_abs=tolerance.abs,
        tolerance_rel=tolerance.rel,
    )


def check(result: ParityResult, recipe: str) -> None:
    """Refuse the bundle if `result` is outside its tolerance; the message names the block."""
    if not result.passed:
        raise ParityError(
            f"parity gate refused the bundle: block {result.describe()}; recipe {recipe!r}. "
            "Try a recipe that keeps this block at higher precision"
        )
