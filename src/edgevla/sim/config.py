"""Configs of the sim workcell: what the scene looks like and how it is controlled.

Frozen dataclasses (saved beside every recording) so a dataset says exactly which scene made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgevla.features import CAMERAS

RGBA = tuple[float, float, float, float]


@dataclass(frozen=True)
class CameraOffset:
    """A perturbation of a camera's nominal pose: metres and degrees (roll, pitch, yaw)."""

    dx: float = 0.0
    dy: float = 0.0
    dz: float = 0.0
    droll: float = 0.0
    dpitch: float = 0.0
    dyaw: float = 0.0


@dataclass(frozen=True)
class Palette:
    """Colours of the scene; `high_contrast` is the default, `white_on_white` and
    `black_arm_on_black_table` the defects."""

    table: RGBA = (0.22, 0.30, 0.38, 1.0)
    arm: RGBA = (0.95, 0.55, 0.10, 1.0)
    jaw: RGBA = (0.15, 0.15, 0.15, 1.0)
    tea_bag: RGBA = (0.93, 0.88, 0.70, 1.0)
    tag: RGBA = (0.85, 0.10, 0.10, 1.0)
    mug: RGBA = (0.10, 0.45, 0.85, 1.0)
    floor: RGBA = (0.35, 0.33, 0.30, 1.0)


PALETTES: dict[str, Palette] = {
    "high_contrast": Palette(),
    # Everything near-white: the recording defect the NXP report warns about.
    "white_on_white": Palette(
        table=(0.92, 0.92, 0.92, 1.0),
        arm=(0.95, 0.95, 0.95, 1.0),
        jaw=(0.90, 0.90, 0.90, 1.0),
        tea_bag=(0.96, 0.96, 0.94, 1.0),
        tag=(0.94, 0.94, 0.94, 1.0),
        mug=(0.97, 0.97, 0.97, 1.0),
        floor=(0.90, 0.90, 0.90, 1.0),
    ),
    # Only the arm is hard to tell from the table (black PLA on a black desk); the tea bag
    # still stands out.
    "black_arm_on_black_table": Palette(
        table=(0.10, 0.10, 0.10, 1.0),
        arm=(0.09, 0.09, 0.09, 1.0),
        jaw=(0.08, 0.08, 0.08, 1.0),
    ),
}


@dataclass(frozen=True)
class Lighting:
    """One directional key light plus ambient; `intensity` scales both (dim / bright scenes)."""

    intensity: float = 1.0
    ambient: float = 0.35
    direction: tuple[float, float, float] = (0.3, 0.2, -1.0)


@dataclass(frozen=True)
class SceneConfig:
    width: int = 640
    height: int = 480
    cameras: tuple[str, ...] = CAMERAS
    palette: str = "high_contrast"
    lighting: Lighting = field(default_factory=Lighting)
    camera_offsets: dict[str, CameraOffset] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if self.palette not in PALETTES:
            raise ValueError(f"unknown palette {self.palette!r}; known: {sorted(PALETTES)}")
        unknown = [c for c in self.cameras if c not in CAMERAS]
        if unknown:
            raise ValueError(f"unknown cameras {unknown}; the workcell has top, gripper, left")
        bad = sorted(set(self.camera_offsets) - set(CAMERAS))
        if bad:
            raise ValueError(f"camera_offsets for unknown cameras {bad}")


@dataclass(frozen=True)
class WorkcellConfig:
    scene: SceneConfig = field(default_factory=SceneConfig)
    fps: float = 30.0
    physics_timestep: float = 0.002
    render: bool = True
    # Ticks the tea bag must stay in the mug before `success` is reported (no flicker on a
    # bag that bounces off the rim).
    success_hold_ticks: int = 3


def parse_resolution(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480); the error says what form is expected."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"resolution must be WIDTHxHEIGHT like 640x480, got {text!r}")
    width, height = (int(p) for p in parts)
    if width < 16 or height < 16 or width > 4096 or height > 4096:
        raise ValueError(f"resolution must be between 16 and 4096 per side, got {text!r}")
    return width, height
