"""The one vocabulary (DESIGN §3): feature keys, joint order and camera names.

Pure Python on purpose: the sim, the dataset, the policies, the runtime and the wire all
import these names, and the device side must not pull anything heavy to get them.
"""

from __future__ import annotations

STATE_KEY = "observation.state"
ACTION_KEY = "action"
TASK_KEY = "task"
# Training batches: true where an action chunk runs past its episode's end (LeRobot's name).
ACTION_PAD_KEY = "action_is_pad"
# Joint targets float32[k, 6] the arm will execute from the observation's tick on, while the
# chunk asked for is computed (the queue's head): an input of prefix-conditioned policies.
ACTION_PREFIX_KEY = "observation.action_prefix"
ACTION_PREFIX_PAD_KEY = "observation.action_prefix_is_pad"  # bool[k]: True = no action
IMAGE_KEY_PREFIX = "observation.images."
# Privileged sim state (tea bag x, y, z, yaw; mug x, y; held) for the scripted expert only:
# datasets never record it, learned policies never receive it.
ENV_STATE_KEY = "observation.environment_state"
ENV_STATE_DIM = 7  # float32[7]: tea bag x, y, z, yaw; mug x, y; held
ENV_STATE_HELD = 6  # index of the held flag (0/1) in the environment state above
# The sim's privileged joint velocities (scripted continuous mode only).
JOINT_VELOCITY_KEY = "observation.joint_velocity"

# SO-101 joint order; every float32[6] state or action uses it.
JOINT_NAMES: tuple[str, ...] = (
    "shoulder_pan",
    "shoulder_lift",
    "elbow_flex",
    "wrist_flex",
    "wrist_roll",
    "gripper",
)
# LeRobot's SO-101 follower names its motors "<joint>.pos" in the dataset's feature names.
MOTOR_NAMES: tuple[str, ...] = tuple(f"{j}.pos" for j in JOINT_NAMES)
NUM_JOINTS = len(JOINT_NAMES)
# LeRobot's two units for the arm joints (the gripper is 0..100 in both): `use_degrees=True`,
# or the calibrated range mapped onto -100..100. Ours are degrees (DESIGN §3); the recorder
# stamps the unit into every episode's meta under JOINT_UNITS_META.
DEGREES, RANGE_M100_100 = "degrees", "range_m100_100"
JOINT_UNITS = DEGREES
JOINT_UNITS_META = "joint_units"

CAMERAS: tuple[str, ...] = ("top", "gripper", "left")
DEFAULT_TASK = "Put the tea bag in the mug"


def image_key(camera: str) -> str:
    """`top` -> `observation.images.top`."""
    return f"{IMAGE_KEY_PREFIX}{camera}"


def camera_of(key: str) -> str:
    """`observation.images.top` -> `top`; raises on a key that is not an image key."""
    if not key.startswith(IMAGE_KEY_PREFIX):
        raise ValueError(f"expected a key starting with {IMAGE_KEY_PREFIX!r}, got {key!r}")
    return key[len(IMAGE_KEY_PREFIX) :]
