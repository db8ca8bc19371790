"""LeRobot's two units for SO-101 joints and how a calibration relates them.

The follower reports its arm joints in `degrees` (`use_degrees=True`) or in `range_m100_100`
(the default: the calibrated range mapped onto -100..100); the gripper is 0..100 in both.
Both are centred on the middle of the calibrated range, so one is the other scaled per joint
(LeRobot's motors bus): degrees = normalized * (range_max - range_min) / 200 * 360 / 4095,
with the sign flipped for a motor in drive_mode 1 (only the normalized reading flips).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgevla.features import DEGREES
from edgevla.features import RANGE_M100_100 as NORMALIZED

UNITS = (DEGREES, NORMALIZED)
STEPS_PER_TURN = 4095  # the STS3215's resolution minus one, as LeRobot divides
GRIPPER = "gripper"


def joint(name: str) -> str:
    """'shoulder_pan.pos' -> 'shoulder_pan' (calibration files name motors, datasets .pos)."""
    return name.removesuffix(".pos")


def degrees_per_unit(calibration: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """{motor: degrees per normalized unit} of each arm motor of a calibration in LeRobot's
    form ({motor: {range_min, range_max, drive_mode, ...}}); negative for drive_mode 1."""
    out = {}
    for motor, c in calibration.items():
        if motor == GRIPPER:
            continue
        span = float(c["range_max"]) - float(c["range_min"])
        if span <= 0:
            raise ValueError(f"calibration of {motor!r}: range_max must exceed range_min")
        sign = -1.0 if int(c.get("drive_mode", 0)) else 1.0
        out[motor] = sign * span / 200 * 360 / STEPS_PER_TURN
    return out


def convert(
    values: np.ndarray, names: Sequence[str], ratios: Mapping[str, float], to: str
) -> np.ndarray:
    """values float[N, J] (columns `names`) in the other unit -> `to`; the gripper and
    joints the calibration does not name are left as they are."""
    if to not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {to!r}")
    out = np.asarray(values, dtype=np.float64).copy()
    for j, name in enumerate(names):
        r = ratios.get(joint(name))
        if r is not None:
            out[:, j] = out[:, j] * r if to == DEGREES else out[:, j] / r
    return out
