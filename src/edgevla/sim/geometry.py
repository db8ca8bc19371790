"""Fixed geometry of the workcell, in metres and radians; one place for every dimension.

The arm is SO-101-like: same joint names, order and limits, about its reach (0.13 m upper arm,
0.14 m forearm, 0.105 m wrist-to-grasp). Its zero pose: upper arm vertical, forearm
horizontal forward, gripper in line with the forearm, jaws closed.
"""

from __future__ import annotations

import math

import numpy as np

from edgevla.features import JOINT_NAMES

SHOULDER_HEIGHT = 0.11  # shoulder_lift axis above the table
UPPER_ARM = 0.13
FOREARM = 0.14
WRIST_LINK = 0.03  # wrist_flex axis -> wrist_roll / gripper body
GRASP_OFFSET = 0.075  # gripper body origin -> grasp point between the jaws
# Only one jaw moves, so the grasp point sits off-centre, in the middle of the open gap: a bag
# centred there is pushed against the fixed jaw as the gripper closes.
GRASP_LATERAL = -0.02
FIXED_JAW_FACE = 0.003  # inner face of the fixed jaw, gripper frame y

# SO-101 joint limits (radians), from its URDF, rounded.
JOINT_LIMITS: dict[str, tuple[float, float]] = {
    "shoulder_pan": (-1.92, 1.92),
    "shoulder_lift": (-1.75, 1.75),
    "elbow_flex": (-1.69, 1.69),
    "wrist_flex": (-1.66, 1.66),
    "wrist_roll": (-2.74, 2.84),
    # The jaw is a parallel slide here (metres of opening beyond the closed gap): a hinged jaw
    # wedges a rigid sim tea bag out of the grasp. Users only see 0..100 % either way.
    "gripper": (-0.004, 0.062),
}
LOWER = np.array([JOINT_LIMITS[j][0] for j in JOINT_NAMES])
UPPER = np.array([JOINT_LIMITS[j][1] for j in JOINT_NAMES])

TEA_BAG_HALF = (0.024, 0.016, 0.006)  # long, wide, thick (half extents)
TEA_BAG_MASS = 0.004
MUG_POS = (0.06, -0.18)  # on the table, right of the arm
MUG_INNER_RADIUS = 0.043
MUG_WALL = 0.007
MUG_HEIGHT = 0.09
MUG_BOTTOM = 0.008

# Rest pose (radians): upper arm leaning back, forearm folded forward-down, jaws closed.
REST_POSE = np.array([0.0, -0.9, 1.4, 0.5, 0.0, 0.0])


def radians_to_action(q: np.ndarray) -> np.ndarray:
    """Joint positions -> the action/state units we record: degrees, gripper 0 (closed) .. 100.

    LeRobot's SO-101 follower reports degrees for the arm joints and 0..100 for the gripper.
    """
    q = np.asarray(q, dtype=np.float64)
    out = np.degrees(q)
    lo, hi = JOINT_LIMITS["gripper"]
    out[..., 5] = (q[..., 5] - lo) / (hi - lo) * 100.0
    return out.astype(np.float32)


def action_to_radians(a: np.ndarray) -> np.ndarray:
    """Inverse of `radians_to_action`."""
    a = np.asarray(a, dtype=np.float64)
    q = np.radians(a)
    lo, hi = JOINT_LIMITS["gripper"]
    q[..., 5] = lo + a[..., 5] / 100.0 * (hi - lo)
    return q


def gripper_percent(radians: float) -> float:
    lo, hi = JOINT_LIMITS["gripper"]
    return (radians - lo) / (hi - lo) * 100.0


def yaw_matrix(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
