"""The simulated SO-101's calibration, in LeRobot's calibration-file form.

A real follower arm has a calibration JSON per robot; the sim has one too, so the recorder
stamps every episode with a calibration hash whether it records the sim or a real arm.
"""

from __future__ import annotations

import hashlib
import json

from edgevla.features import JOINT_NAMES
from edgevla.sim.geometry import JOINT_LIMITS

# LeRobot's Feetech motors count 4096 steps per turn, 2048 at the middle of the range.
_STEPS_PER_RAD = 4096 / (2 * 3.141592653589793)


def sim_calibration() -> dict[str, dict[str, int]]:
    """{motor: {id, drive_mode, homing_offset, range_min, range_max}} like LeRobot writes."""
    out = {}
    for i, joint in enumerate(JOINT_NAMES):
        lo, hi = JOINT_LIMITS[joint]
        if joint == "gripper":  # a slide in the sim: map its range onto a quarter turn
            lo, hi = 0.0, 1.57
        out[joint] = {
            "id": i + 1,
            "drive_mode": 0,
            "homing_offset": 0,
            "range_min": int(round(2048 + lo * _STEPS_PER_RAD)),
            "range_max": int(round(2048 + hi * _STEPS_PER_RAD)),
        }
    return out


def sim_calibration_sha256() -> str:
    text = json.dumps(sim_calibration(), sort_keys=True, indent=4)
    return hashlib.sha256(text.encode()).hexdigest()
