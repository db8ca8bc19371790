import numpy as np
import pytest

from edgevla.features import image_key
from edgevla.sim.config import CameraOffset, SceneConfig, WorkcellConfig, parse_resolution
from edgevla.sim.workcell import TeaBagPose, TeaBagWorkcell


def _images(scene: SceneConfig) -> dict[str, np.ndarray]:
    with TeaBagWorkcell(WorkcellConfig(scene=scene)) as cell:
        obs = cell.reset(tea_bag=TeaBagPose(0.2, 0.05, 0.3))
        return {k: v for k, v in obs.items() if k.startswith("observation.images.")}


@pytest.mark.parametrize("size", [(96, 96), (320, 240)])
def test_all_three_cameras_render_at_the_requested_size(size):
    width, height = size
    images = _images(SceneConfig(width=width, height=height))
    assert sorted(images) == sorted(image_key(c) for c in ("top", "gripper", "left"))
    for img in images.values():
        assert img.shape == (height, width, 3) and img.dtype == np.uint8
        assert img.std() > 5, "a camera rendered a flat image"
    top, left = images[image_key("top")], images[image_key("left")]
    assert np.abs(top.astype(int) - left.astype(int)).mean() > 10, "top and left see the same view"


def test_gripper_camera_moves_with_the_wrist_and_the_top_camera_does_not():
    with TeaBagWorkcell(WorkcellConfig(scene=SceneConfig(width=96, height=96))) as cell:
        before = cell.reset(tea_bag=TeaBagPose(0.2, 0.05, 0.0))
        action = before["observation.state"].copy()
        action[3] -= 50.0  # lift the wrist: the gripper camera looks up from the table
        for _ in range(20):
            after, _ = cell.step(action)

    def change(cam):
        return np.abs(after[image_key(cam)].astype(int) - before[image_key(cam)]).mean()

    assert change("gripper") > 5
    assert change("top") < change("gripper") / 3


def test_white_on_white_scene_has_less_contrast():
    normal = _images(SceneConfig(width=96, height=96))[image_key("top")]
    white = _images(SceneConfig(width=96, height=96, palette="white_on_white"))[image_key("top")]
    assert white.mean() > normal.mean() + 40
    assert white.std() < normal.std()


def test_camera_offset_and_lighting_change_the_picture():
    base = _images(SceneConfig(width=96, height=96))[image_key("top")].astype(int)
    moved = _images(
        SceneConfig(width=96, height=96, camera_offsets={"top": CameraOffset(dx=0.05, dyaw=5)})
    )
    assert np.abs(moved[image_key("top")] - base).mean() > 3
    from edgevla.sim.config import Lighting

    dim = _images(SceneConfig(width=96, height=96, lighting=Lighting(intensity=0.4)))
    assert dim[image_key("top")].mean() < base.mean() - 10


def test_bad_scene_options_are_clear_errors():
    with pytest.raises(ValueError, match="unknown cameras"):
        SceneConfig(cameras=("top", "wrist"))
    with pytest.raises(ValueError, match="unknown palette"):
        SceneConfig(palette="neon")
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_resolution("640*480")
    assert parse_resolution("640x480") == (640, 480)
