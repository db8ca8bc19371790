"""The contract checked at both ends of the wire: policy specs and observation layouts.

The client checks before sending (fail fast, on the robot), the server checks again after
receiving (never trust the network). Both produce messages that say what was expected and
what came instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np

from edgevla.contracts import FLOAT_FEATURES, PolicySpec
from edgevla.features import IMAGE_KEY_PREFIX, STATE_KEY, image_key
from edgevla.serve.bounds import clip, parse_json_object
from edgevla.serve.proto import policy_service_pb2 as pb

Layout = Mapping[str, tuple[np.dtype, tuple[int, ...]]]
"""feature key -> (dtype, shape) of one observation, as declared or as held in memory."""


def spec_to_proto(spec: PolicySpec, out: pb.PolicySpec | None = None) -> pb.PolicySpec:
    """Fill a wire PolicySpec; `extra` travels as JSON (non-JSON values become strings)."""
    out = out if out is not None else pb.PolicySpec()
    out.name = spec.name
    out.cameras[:] = list(spec.cameras)
    h, w = spec.image_shape if spec.image_shape is not None else (0, 0)
    out.image_height, out.image_width = int(h), int(w)
    out.state_dim = int(spec.state_dim)
    out.action_names[:] = list(spec.action_names)
    out.fps = float(spec.fps)
    out.chunk_size = int(spec.chunk_size)
    out.extra_json = json.dumps(spec.extra, default=str) if spec.extra else ""
    return out


def spec_from_proto(msg: pb.PolicySpec) -> PolicySpec:
    """The PolicySpec a server announced (all fields set)."""
    image_shape = (msg.image_height, msg.image_width) if msg.image_height else None
    extra = parse_json_object(msg.extra_json, "PolicySpec.extra_json") if msg.extra_json else {}
    return PolicySpec(
        chunk_size=int(msg.chunk_size),
        fps=float(msg.fps),
        cameras=tuple(msg.cameras),
        image_shape=image_shape,
        action_names=tuple(msg.action_names),
        state_dim=int(msg.state_dim),
        name=msg.name,
        extra=extra,
    )


def spec_mismatches(expected: pb.PolicySpec, actual: PolicySpec) -> list[str]:
    """Where the loaded policy differs from what the robot expects; zero fields are unchecked.

    Cameras compare as sets (they travel by name); action names compare in order, because
    the order is the meaning of each action column. What the robot sent is clipped; JSON
    beyond the caps raises JsonRejected (edgevla.serve.bounds).
    """
    out: list[str] = []
    if expected.cameras and set(expected.cameras) != set(actual.cameras):
        out.append(
            f"cameras: robot expects {clip(sorted(expected.cameras))}, "
            f"policy uses {sorted(actual.cameras)}"
        )
    if expected.image_height or expected.image_width:
        want = (expected.image_height, expected.image_width)
        if actual.image_shape is not None and tuple(actual.image_shape) != want:
            out.append(
                f"image shape (H, W): robot sends {want}, policy needs {tuple(actual.image_shape)}"
            )
    if expected.state_dim and expected.state_dim != actual.state_dim:
        out.append(f"state_dim: robot sends {expected.state_dim}, policy needs {actual.state_dim}")
    if expected.action_names and tuple(expected.action_names) != tuple(actual.action_names):
        out.append(
            f"action_names: robot expects {clip(list(expected.action_names))}, "
            f"policy produces {list(actual.action_names)}"
        )
    if expected.fps and not math.isclose(expected.fps, actual.fps, rel_tol=1e-6):
        out.append(f"fps: robot runs at {expected.fps:g}, policy was trained at {actual.fps:g}")
    out += _float_feature_mismatch(expected.extra_json, actual)
    if expected.chunk_size and expected.chunk_size != actual.chunk_size:
        out.append(
            f"chunk_size: robot expects {expected.chunk_size}, policy predicts {actual.chunk_size}"
        )
    return out


def _float_feature_mismatch(expected_extra_json: str, actual: PolicySpec) -> list[str]:
    """Checked only when the robot declares its extra float features."""
    if not expected_extra_json:
        return []
    wanted = parse_json_object(expected_extra_json, "expected.extra_json")
    if FLOAT_FEATURES not in wanted:
        return []
    have = actual.extra.get(FLOAT_FEATURES, {})
    if wanted[FLOAT_FEATURES] != have:
        return [
            f"{FLOAT_FEATURES}: robot sends {clip(wanted[FLOAT_FEATURES])}, policy needs {have}"
        ]
    return []


def float_features(spec: PolicySpec) -> dict[str, int]:
    """{key: dim} of the extra float32[dim] inputs the spec declares (see FLOAT_FEATURES)."""
    declared = spec.extra.get(FLOAT_FEATURES, {})
    if not isinstance(declared, Mapping) or not all(
        isinstance(k, str) and k != STATE_KEY and isinstance(d, int) and d > 0
        for k, d in declared.items()
    ):
        raise ValueError(
            f"PolicySpec.extra[{FLOAT_FEATURES!r}] must map feature keys to positive dims, "
            f"got {declared!r}"
        )
    return dict(declared)


def expected_keys(spec: PolicySpec) -> list[str]:
    return [STATE_KEY, *float_features(spec)] + [image_key(c) for c in spec.cameras]


def layout_problems(layout: Layout, spec: PolicySpec) -> list[str]:
    """Everything wrong with an observation's keys, dtypes and shapes for `spec`."""
    want = expected_keys(spec)
    problems: list[str] = []
    missing = [k for k in want if k not in layout]
    unknown = sorted(k for k in layout if k not in want)
    if missing:
        problems.append(f"missing {missing}")
    if unknown:
        cams = [k for k in unknown if k.startswith(IMAGE_KEY_PREFIX)]
        hint = f" (this policy's cameras are {list(spec.cameras)})" if cams else ""
        problems.append(f"unknown keys {clip(unknown)}{hint}")
    if STATE_KEY in layout:
        dt, shape = layout[STATE_KEY]
        if dt != np.float32 or shape != (spec.state_dim,):
            problems.append(
                f"{STATE_KEY}: expected float32[{spec.state_dim}], got {dt}{list(shape)}"
            )
    for key, dim in float_features(spec).items():
        if key in layout and (layout[key][0] != np.float32 or layout[key][1] != (dim,)):
            dt, shape = layout[key]
            problems.append(f"{key}: expected float32[{dim}], got {dt}{list(shape)}")
    for cam in spec.cameras:
        key = image_key(cam)
        if key not in layout:
            continue
        dt, shape = layout[key]
        h, w = spec.image_shape if spec.image_shape is not None else ("H", "W")
        ok = dt == np.uint8 and len(shape) == 3 and shape[2] == 3 and shape[0] > 0 and shape[1] > 0
        if ok and spec.image_shape is not None:
            ok = tuple(shape[:2]) == tuple(spec.image_shape)
        if not ok:
            problems.append(f"{key}: expected uint8[{h}, {w}, 3], got {dt}{list(shape)}")
    return problems


def observation_error(layout: Layout, spec: PolicySpec) -> str | None:
    """One message for all layout problems, or None when the observation fits `spec`."""
    problems = layout_problems(layout, spec)
    if not problems:
        return None
    return f"observation does not match the policy (expected keys {expected_keys(spec)}): " + (
        "; ".join(problems)
    )
