"""Builds the workcell's MJCF from a SceneConfig: table, SO-101-like arm, tea bag, mug, cameras.

Generated rather than a static XML file because lighting, colours, camera offsets and the
offscreen buffer size are scene options that tests vary to make recordings with known defects.
"""

from __future__ import annotations

import math

import numpy as np

from edgevla.sim.config import PALETTES, CameraOffset, SceneConfig
from edgevla.sim.geometry import (
    FOREARM,
    GRASP_LATERAL,
    GRASP_OFFSET,
    JOINT_LIMITS,
    MUG_BOTTOM,
    MUG_HEIGHT,
    MUG_INNER_RADIUS,
    MUG_POS,
    MUG_WALL,
    SHOULDER_HEIGHT,
    TEA_BAG_HALF,
    TEA_BAG_MASS,
    UPPER_ARM,
    WRIST_LINK,
)

MUG_SEGMENTS = 16

# Nominal fixed camera poses: position, the point they look at, vertical field of view (deg).
# The top camera frames the workspace and mug tightly so small images still show the bag.
FIXED_CAMERAS = {
    "top": ((0.10, 0.05, 0.80), (0.10, 0.05, 0.0), 42.0),
    "left": ((0.16, 0.62, 0.34), (0.13, 0.0, 0.03), 52.0),
}


def _rgba(c: tuple[float, ...]) -> str:
    return " ".join(f"{v:.3f}" for v in c)


def _rot(axis: str, deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def look_at(pos: np.ndarray, target: np.ndarray, offset: CameraOffset) -> tuple[np.ndarray, str]:
    """Camera position and MJCF `xyaxes` looking from pos at target, then perturbed by offset.

    MuJoCo cameras look along their -z axis with +y up in the image.
    """
    forward = target - pos
    forward = forward / np.linalg.norm(forward)
    up_hint = np.array([0.0, 0.0, 1.0]) if abs(forward[2]) < 0.99 else np.array([1.0, 0.0, 0.0])
    right = np.cross(forward, up_hint)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    basis = np.stack([right, up, -forward], axis=1)  # columns: camera x, y, z in world
    # Offsets rotate the camera about its own axes: yaw about up, pitch about right, roll about view.
    basis = basis @ _rot("y", offset.dyaw) @ _rot("x", offset.dpitch) @ _rot("z", offset.droll)
    new_pos = pos + np.array([offset.dx, offset.dy, offset.dz])
    xyaxes = " ".join(f"{v:.5f}" for v in np.concatenate([basis[:, 0], basis[:, 1]]))
    return new_pos, xyaxes


def _range(joint: str) -> str:
    lo, hi = JOINT_LIMITS[joint]
    return f"{lo} {hi}"


def _mug_xml(rgba: str) -> str:
    r_mid = MUG_INNER_RADIUS + MUG_WALL / 2
    half_len = math.pi * r_mid / MUG_SEGMENTS * 1.08
    half_h = (MUG_HEIGHT - MUG_BOTTOM) / 2
    walls = []
    for i in range(MUG_SEGMENTS):
        a = 2 * math.pi * i / MUG_SEGMENTS
        walls.append(
            f'<geom name="mug_wall{i}" type="box" size="{MUG_WALL / 2} {half_len:.4f} {half_h}" '
            f'pos="{r_mid * math.cos(a):.4f} {r_mid * math.sin(a):.4f} {MUG_BOTTOM + half_h}" '
            f'euler="0 0 {a:.4f}" rgba="{rgba}" class="mug"/>'
        )
    r_out = MUG_INNER_RADIUS + MUG_WALL
    handle = (
        f'<geom name="mug_handle_top" type="capsule" size="0.006" '
        f'fromto="{r_out - 0.002} 0 0.070 {r_out + 0.028} 0 0.066" rgba="{rgba}" class="mug"/>'
        f'<geom name="mug_handle_side" type="capsule" size="0.006" '
        f'fromto="{r_out + 0.028} 0 0.066 {r_out + 0.028} 0 0.030" rgba="{rgba}" class="mug"/>'
        f'<geom name="mug_handle_bottom" type="capsule" size="0.006" '
        f'fromto="{r_out + 0.028} 0 0.030 {r_out - 0.002} 0 0.026" rgba="{rgba}" class="mug"/>'
    )
    bottom = (
        f'<geom name="mug_bottom" type="cylinder" size="{r_out} {MUG_BOTTOM / 2}" '
        f'pos="0 0 {MUG_BOTTOM / 2}" rgba="{rgba}" class="mug"/>'
    )
    # Handle points away from the arm so it never blocks the drop.
    return (
        f'<body name="mug" pos="{MUG_POS[0]} {MUG_POS[1]} 0" euler="0 0 -1.2">'
        + bottom
        + "".join(walls)
        + handle
        + "</body>"
    )


def build_mjcf(scene: SceneConfig) -> str:
    """The whole workcell as an MJCF string."""
    pal = PALETTES[scene.palette]
    light = scene.lighting
    diffuse = min(1.0, 0.7 * light.intensity)
    ambient = min(1.0, light.ambient * light.intensity)
    cams = []
    for name, (pos, target, fovy) in FIXED_CAMERAS.items():
        p, xy = look_at(
            np.array(pos), np.array(target), scene.camera_offsets.get(name, CameraOffset())
        )
        cams.append(
            f'<camera name="{name}" pos="{p[0]:.4f} {p[1]:.4f} {p[2]:.4f}" xyaxes="{xy}" fovy="{fovy}"/>'
        )
    g = scene.camera_offsets.get("gripper", CameraOffset())
    # Gripper camera: on the back of the palm, looking along the jaws (body +x), tilted 25 deg toward them.
    grip_pos = np.array([0.034, 0.0, 0.03])
    grip_target = grip_pos + np.array(
        [math.cos(math.radians(25)), 0.0, -math.sin(math.radians(25))]
    )
    gp, gxy = look_at(grip_pos, grip_target, g)
    tb = TEA_BAG_HALF
    return f"""
<mujoco model="edgevla_teabag_workcell">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual>
    <global offwidth="{max(scene.width, 64)}" offheight="{max(scene.height, 64)}"/>
    <quality shadowsize="0" offsamples="0"/>
    <headlight ambient="{ambient:.3f} {ambient:.3f} {ambient:.3f}" diffuse="0.25 0.25 0.25" specular="0 0 0"/>
  </visual>
  <default>
    <joint armature="0.01" damping="0.05"/>
    <geom friction="1.0 0.005 0.0001" solref="0.004 1" condim="3"/>
    <default class="arm"><geom rgba="{_rgba(pal.arm)}" density="600" contype="2" conaffinity="1"/></default>
    <default class="jaw"><geom rgba="{_rgba(pal.jaw)}" friction="1.6 0.01 0.001" condim="4" density="800" contype="2" conaffinity="1"/></default>
    <default class="mug"><geom condim="3"/></default>
  </default>
  <worldbody>
    <light name="key" directional="true" castshadow="false" pos="0 0 2"
           dir="{light.direction[0]} {light.direction[1]} {light.direction[2]}"
           diffuse="{diffuse:.3f} {diffuse:.3f} {diffuse:.3f}" specular="0.1 0.1 0.1"/>
    <geom name="floor" type="plane" size="2 2 0.1" pos="0 0 -0.75" rgba="{_rgba(pal.floor)}"/>
    <geom name="table" type="box" size="0.42 0.55 0.02" pos="0.12 0.0 -0.02" rgba="{_rgba(pal.table)}"/>
    {"".join(cams)}
    <body name="base" pos="0 0 0">
      <geom name="base" type="cylinder" size="0.05 0.02" pos="0 0 0.02" class="arm"/>
      <body name="turntable" pos="0 0 0.04" gravcomp="1">
        <joint name="shoulder_pan" axis="0 0 1" range="{_range("shoulder_pan")}"/>
        <geom type="cylinder" size="0.032 0.035" pos="0 0 0.035" class="arm"/>
        <body name="upper_arm" pos="0 0 {SHOULDER_HEIGHT - 0.04}" gravcomp="1">
          <joint name="shoulder_lift" axis="0 1 0" range="{_range("shoulder_lift")}"/>
          <geom type="capsule" fromto="0 0 0 0 0 {UPPER_ARM}" size="0.021" class="arm"/>
          <body name="forearm" pos="0 0 {UPPER_ARM}" gravcomp="1">
            <joint name="elbow_flex" axis="0 1 0" range="{_range("elbow_flex")}"/>
            <geom type="capsule" fromto="0 0 0 {FOREARM} 0 0" size="0.017" class="arm"/>
            <body name="wrist" pos="{FOREARM} 0 0" gravcomp="1">
              <joint name="wrist_flex" axis="0 1 0" range="{_range("wrist_flex")}"/>
              <geom type="capsule" fromto="0 0 0 {WRIST_LINK} 0 0" size="0.016" class="arm"/>
              <body name="gripper" pos="{WRIST_LINK} 0 0" gravcomp="1">
                <joint name="wrist_roll" axis="1 0 0" range="{_range("wrist_roll")}"/>
                <geom name="palm" type="box" size="0.016 0.024 0.02" pos="0.016 0 0" class="arm"/>
                <geom name="fixed_jaw" type="box" size="0.032 0.004 0.011" pos="0.062 0.007 0" class="jaw"/>
                <site name="grasp" pos="{GRASP_OFFSET} {GRASP_LATERAL} 0" size="0.004" rgba="1 0 0 0"/>
                <camera name="gripper" pos="{gp[0]:.4f} {gp[1]:.4f} {gp[2]:.4f}" xyaxes="{gxy}" fovy="75"/>
                <body name="moving_jaw" pos="0 -0.003 0" gravcomp="1">
                  <joint name="gripper" type="slide" axis="0 -1 0" range="{_range("gripper")}" damping="0.5"/>
                  <geom name="moving_jaw" type="box" size="0.032 0.004 0.011" pos="0.062 -0.004 0" class="jaw"/>
                  <geom name="moving_jaw_rail" type="box" size="0.006 0.004 0.008" pos="0.026 -0.004 0" class="jaw"/>
                </body>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>
    <body name="tea_bag" pos="0.2 0.0 {tb[2]}">
      <freejoint name="tea_bag"/>
      <geom name="tea_bag" type="box" size="{tb[0]} {tb[1]} {tb[2]}" mass="{TEA_BAG_MASS}"
            rgba="{_rgba(pal.tea_bag)}" condim="4" friction="1.0 0.01 0.001"/>
      <geom name="tea_tag" type="box" size="{tb[0] * 0.45} {tb[1] * 0.5} 0.0005" pos="0 0 {tb[2]}"
            mass="0.0001" rgba="{_rgba(pal.tag)}" contype="0" conaffinity="0"/>
    </body>
    {_mug_xml(_rgba(pal.mug))}
  </worldbody>
  <actuator>
    <position name="shoulder_pan" joint="shoulder_pan" kp="60" kv="3" ctrlrange="{_range("shoulder_pan")}"/>
    <position name="shoulder_lift" joint="shoulder_lift" kp="90" kv="4.5" ctrlrange="{_range("shoulder_lift")}"/>
    <position name="elbow_flex" joint="elbow_flex" kp="60" kv="2.5" ctrlrange="{_range("elbow_flex")}"/>
    <position name="wrist_flex" joint="wrist_flex" kp="25" kv="0.8" ctrlrange="{_range("wrist_flex")}"/>
    <position name="wrist_roll" joint="wrist_roll" kp="10" kv="0.3" ctrlrange="{_range("wrist_roll")}"/>
    <position name="gripper" joint="gripper" kp="400" kv="4" forcerange="-8 8" ctrlrange="{_range("gripper")}"/>
  </actuator>
</mujoco>
"""
