"""Each check fires on a sim recording with its defect injected, pointing at the episode and
camera where it was put, and no other check fires; the clean recording passes everything."""

from __future__ import annotations

import numpy as np
import pytest

from edgevla.dataset.doctor import defects
from edgevla.dataset.reader import DatasetReader
from edgevla.features import JOINT_NAMES, MOTOR_NAMES

TOP, LEFT, GRIPPER = (f"observation.images.{c}" for c in ("top", "left", "gripper"))


def failing(report) -> dict:
    """check name -> its findings, for the checks that failed."""
    return {r.name: r.findings for r in report.results if r.status == "fail"}


def test_the_clean_recording_passes_every_check(clean_recording, doctor):
    report = doctor(clean_recording)
    assert failing(report) == {}
    statuses = {r.name: r.status for r in report.results}
    assert statuses["protocol.holdout"] == "pass" and statuses["camera.drift"] == "pass"
    assert failing(doctor(clean_recording, full=True)) == {}


def _only(report, check, episode, camera=None, also=()):
    """`check` fails, every finding at `episode` (and `camera`); nothing outside `also` fails."""
    failed = failing(report)
    assert check in failed, f"{check} did not fire; failing: {sorted(failed)}"
    assert set(failed) <= {check, *also}, f"unexpected: {sorted(set(failed) - {check, *also})}"
    for f in failed[check]:
        assert f.episode == episode, f
        if camera is not None:
            assert f.camera == camera, f
    return failed[check]


def test_camera_nudged_between_episodes(dataset, doctor):
    defects.edit_frames(dataset, 3, "left", lambda f: defects.shift(f, 3, -2))
    found = _only(doctor(dataset), "camera.drift", 3, LEFT)
    assert 3.0 < found[0].value < 4.5  # hypot(3, 2) = 3.6 px


def test_camera_rolled_between_episodes(dataset, doctor):
    defects.edit_frames(dataset, 2, "top", lambda f: defects.roll(f, 3.0))
    # bilinear resampling at 64x64 softens the frames too: focus.blur may see it
    found = _only(doctor(dataset), "camera.drift", 2, TOP, also={"focus.blur"})
    roll = float(found[0].message.split(" and ")[1].split()[0])
    assert 1.5 < roll < 4.5, found[0].message  # 3 degrees, within a 64x64 image's precision


def test_camera_nudged_mid_episode(dataset, doctor):
    def nudge(frames):
        frames[150:] = defects.shift(frames[150:], 0, 3)
        return frames

    defects.edit_frames(dataset, 1, "top", nudge)
    found = _only(doctor(dataset), "camera.drift", 1, TOP)
    assert found[0].frame is not None and found[0].frame >= 150 - 8


def test_lamp_changed_between_episodes(dataset, doctor):
    for cam in ("top", "left", "gripper"):
        defects.edit_frames(dataset, 2, cam, lambda f: defects.gain(f, 1.35))
    found = _only(doctor(dataset), "lighting.level", 2)
    assert {f.camera for f in found} == {TOP, LEFT}  # the gripper camera is not compared
    assert all(f.reference[0] != 2 for f in found)  # shown beside a usual episode


def test_flickering_lamp(dataset, doctor):
    def flicker(frames):
        return defects.gain(frames, np.where(np.arange(len(frames)) % 2 == 0, 1.0, 0.75))

    defects.edit_frames(dataset, 1, "top", flicker)
    _only(doctor(dataset), "lighting.flicker", 1, TOP, also={"lighting.level"})


def test_blurred_camera(dataset, doctor):
    defects.edit_frames(dataset, 4, "left", defects.blur)
    _only(doctor(dataset), "focus.blur", 4, LEFT)


def test_frozen_camera(dataset, doctor):
    defects.edit_frames(dataset, 0, "gripper", lambda f: defects.freeze(f, 40))
    found = _only(doctor(dataset), "video.frozen", 0, GRIPPER, also={"focus.blur"})
    assert all(f.frame >= 40 for f in found)


def test_black_frames(dataset, doctor):
    def darken(frames):
        frames[100:112] = 0
        return frames

    defects.edit_frames(dataset, 5, "left", darken)
    # 12 black frames fall between the default windows; --full decodes every frame
    assert "video.black" not in failing(doctor(dataset, checks=("video.black",)))
    report = doctor(dataset, full=True)
    found = _only(report, "video.black", 5, LEFT, also={"video.frozen", "lighting.flicker"})
    assert all(f.episode == 5 for f in failing(report).get("lighting.flicker", ()))  # a blackout
    assert 100 <= found[0].frame < 112


def test_dropped_frames(dataset, doctor):
    def gap(cols):
        cols["timestamp"][60:] += np.float32(2 / 30)  # two frames missing after frame 59

    defects.edit_columns(dataset, 2, gap)
    found = _only(doctor(dataset), "video.timestamps", 2, also={"video.decode"})
    assert found[0].frame == 60


def test_truncated_video(dataset, doctor):
    path = DatasetReader.open(dataset).video_path(4, TOP)
    defects.truncate_file(path, 0.6)
    report = doctor(dataset)
    for check in ("video.decode", "video.frame_count"):
        for f in failing(report)[check]:
            assert (f.episode, f.camera) == (4, TOP), f


def test_held_out_episode_put_in_training(dataset, doctor):
    defects.edit_episode_meta(dataset, lambda e, m: m.update(split="train") if e == 4 else None)
    _only(doctor(dataset), "protocol.holdout", 4)


def test_mixed_calibration_hashes(dataset, doctor):
    defects.edit_episode_meta(
        dataset, lambda e, m: m.update(calibration_sha256="0" * 64) if e == 1 else None
    )
    _only(doctor(dataset), "protocol.calibration", 1)


def test_no_recovery_episodes(dataset, doctor):
    defects.edit_episode_meta(dataset, lambda e, m: m.update(recovery=False))
    found = failing(doctor(dataset))
    assert set(found) == {"protocol.recovery"} and found["protocol.recovery"][0].value == 0.0


@pytest.mark.parametrize(
    ("check", "edit"),
    [
        ("motion.jumps", lambda c: c["action"].__setitem__((100, 1), c["action"][100, 1] + 40)),
        ("motion.gripper", lambda c: c["action"].__setitem__((slice(None), 5), 80.0)),
        (
            "motion.idle",
            lambda c: c["observation.state"].__setitem__(slice(0, 90), c["observation.state"][0]),
        ),
    ],
)
def test_motion_defects(dataset, doctor, check, edit):
    defects.edit_columns(dataset, 1, edit)
    _only(doctor(dataset, checks=("motion",)), check, 1)


def _palette_recording(recorder, tmp_path, palette):
    """Two clean episodes of cluster 1 in the sim painted with `palette`."""
    return recorder(
        tmp_path / palette,
        clusters=(1,),
        holdout=None,
        episodes_per_cluster=2,
        recovery_per_cluster=0,
        palette=palette,
    )


def test_white_tea_bag_on_a_white_table(tmp_path, doctor, recorder):
    root = _palette_recording(recorder, tmp_path, "white_on_white")
    found = failing(doctor(root, checks=("contrast.object",)))
    assert {f.episode for f in found["contrast.object"]} == {0, 1}


# An arm calibrated over full turns (as LeRobot calibrates the SO-101's wrist_roll): there
# degrees are 1.8 x -100..100; the sim's own calibration makes the two units nearly alike.
FULL_TURN = {m: {"range_min": 0, "range_max": 4095, "drive_mode": 0} for m in JOINT_NAMES}
ARM = set(MOTOR_NAMES) - {"gripper.pos"}
MOVED = {"motion.jumps", "motion.saturation"}  # 1.8 x degrees also pass the SO-101's limits


def _joint(finding) -> str:
    return finding.message.split()[0]


def test_one_episode_declared_in_the_other_unit(dataset, doctor):
    defects.convert_units(dataset, 1, "range_m100_100")
    defects.edit_episode_meta(
        dataset, lambda e, m: m.update(joint_units="range_m100_100") if e == 1 else None
    )
    found = _only(doctor(dataset, checks=("motion",)), "motion.units", 1)
    assert "recorded in range_m100_100, the other episodes in degrees" in found[0].message


def test_degrees_in_a_dataset_declared_minus_100_to_100(dataset, doctor):
    defects.edit_episode_meta(dataset, lambda e, m: m.update(joint_units="range_m100_100"))
    defects.convert_units(dataset, 4, "degrees", FULL_TURN)
    found = _only(doctor(dataset, checks=("motion",)), "motion.units", 4, also=MOVED)
    beyond = [f for f in found if "outside the -100..100" in f.message]
    assert len(beyond) == 1 and _joint(beyond[0]) in ARM and abs(beyond[0].value) > 100
    scaled = {_joint(f) for f in found if "the scale of the other episodes" in f.message}
    assert scaled and scaled <= ARM
    assert all(1.5 < f.value < 2.2 for f in found if "the scale" in f.message), found


def test_one_episode_in_the_other_unit_without_our_metadata(dataset, tmp_path, doctor):
    defects.convert_units(dataset, 3, "range_m100_100", FULL_TURN)
    root = defects.as_lerobot_layout(dataset, tmp_path / "lerobot")
    (units,) = doctor(root, checks=("motion.units",)).results
    assert units.status == "fail" and {f.episode for f in units.findings} == {3}
    assert {_joint(f) for f in units.findings} <= ARM
    assert all(0.45 < f.value < 0.65 for f in units.findings), units.findings  # 1 / 1.8
    assert units.metrics["unit"] is None and "no declared unit" in units.metrics["not_checked"][0]


@pytest.mark.parametrize("factor", [1.45, -1.0])
def test_one_joint_moving_elsewhere_is_the_task_not_a_unit(dataset, doctor, factor):
    """Real recordings vary per joint (an object on the other side of the pan axis, a wider
    sweep): one joint on another scale, or mirrored, is no unit mix."""
    pan = MOTOR_NAMES.index("shoulder_pan.pos")

    def edit(columns):
        for key in ("observation.state", "action"):
            columns[key][:, pan] *= factor

    defects.edit_columns(dataset, 2, edit)
    (units,) = doctor(dataset, checks=("motion.units",)).results
    assert units.status == "pass", units.findings


def test_clean_recording_declares_degrees_and_the_units_that_would_not_show(
    clean_recording, doctor
):
    (units,) = doctor(clean_recording, checks=("motion.units",)).results
    assert units.status == "pass" and units.metrics["unit"] == "degrees"
    # the sim's calibrated ranges make degrees within 10 % of -100..100 but on wrist_roll
    assert "would not show on shoulder_pan.pos (the units differ x1.10" in units.summary


def test_black_arm_on_a_black_table(tmp_path, doctor, recorder):
    root = _palette_recording(recorder, tmp_path, "black_arm_on_black_table")
    for full in (False, True):
        found = failing(doctor(root, checks=("contrast.object", "contrast.arm"), full=full))
        assert set(found) == {"contrast.arm"}, sorted(found)  # the tea bag still stands out
        assert {f.camera for f in found["contrast.arm"]} == {TOP, LEFT}
        assert all(f.value < 35 for f in found["contrast.arm"])
