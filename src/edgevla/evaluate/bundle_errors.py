"""How far a bundle's numbers are from a reference bundle's (the FP32 one) on the same frames:
the error columns of `edgevla bench accuracy`.

Per block, the block alone: fed the reference's inputs to that block, its output against the
reference block's (what this block's precision changes, not what it inherits). End to end, the
chain: the bundle's normalized chunk against the reference's (the gate's scale, with the
recipe's tolerances, `edgevla.export.parity`), and the un-normalized actions in joint units
(degrees, gripper 0-100), what the arm is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgevla.contracts import Observation
from edgevla.export.parity import compare
from edgevla.export.recipes import Recipe
from edgevla.runtime.bundle import BundlePolicy
from edgevla.runtime.bundle_manifest import ACTIONS_OUTPUT


def errors_vs_reference(
    bundle: BundlePolicy,
    reference: BundlePolicy,
    observations: Sequence[Observation],
    recipe: Recipe,
) -> dict[str, Any]:
    """{"blocks": {name: ParityResult json}, "end_to_end": ParityResult json, "actions":
    {max_abs, mean_abs, max_abs_per_joint}} of `bundle` against `reference`."""
    names = [b.name for b in bundle.manifest.blocks]
    if names != [b.name for b in reference.manifest.blocks]:
        raise ValueError(
            f"bundles with different blocks cannot be compared: {names} vs "
            f"{[b.name for b in reference.manifest.blocks]}"
        )
    if not observations:
        raise ValueError("no frames to compare the bundles on")
    want = [reference.run_blocks(reference.block_inputs(o)) for o in observations]
    blocks = {}
    for spec, session in zip(bundle.manifest.blocks, bundle.sessions, strict=True):
        output = spec.outputs[0].name
        got = [
            session.run([output], {t.name: frame[t.name] for t in spec.inputs})[0] for frame in want
        ]
        tolerance = recipe.block(spec.name).tolerance
        result = compare(spec.name, got, [frame[output] for frame in want], tolerance)
        blocks[spec.name] = result.to_json()
    chained = [bundle.run_blocks(bundle.block_inputs(o))[ACTIONS_OUTPUT] for o in observations]
    end_to_end = compare(
        "end_to_end", chained, [frame[ACTIONS_OUTPUT] for frame in want], recipe.end_to_end
    )
    return {
        "blocks": blocks,
        "end_to_end": end_to_end.to_json(),
        "actions": _actions(bundle, reference, observations),
    }


def _actions(
    bundle: BundlePolicy, reference: BundlePolicy, observations: Sequence[Observation]
) -> dict[str, Any]:
    """The joint-target error: |bundle - reference| over frames and chunk steps, float32[T, A]
    each."""
    got = np.stack([bundle.predict_chunk(o).actions for o in observations]).astype(np.float64)
    want = np.stack([reference.predict_chunk(o).actions for o in observations])
    diff = np.abs(got - want)
    return {
        "max_abs": float(diff.max()),
        "mean_abs": float(diff.mean()),
        "max_abs_per_joint": dict(
            zip(bundle.spec.action_names, diff.max(axis=(0, 1)).tolist(), strict=True)
        ),
    }
