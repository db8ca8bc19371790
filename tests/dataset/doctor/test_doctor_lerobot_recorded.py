"""A dataset that LeRobot's own recorder wrote: lerobot 0.4.4's LeRobotDataset.create /
add_frame / save_episode / finalize, 8 episodes in one data file and one AV1 file per camera,
none of our metadata; a front camera that stalls in episode 3 and a wrist camera that goes
dark in episode 6 (injected in the frames LeRobot encoded). data/lerobot_v30.json says what was
injected where and what LeRobot's own loader reports of the dataset. Made by
tools/make_lerobot_fixture.py in a scratch LeRobot venv; neither LeRobot nor that script is
needed here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgevla.cli import main
from edgevla.dataset.doctor import DoctorConfig, run_doctor
from edgevla.dataset.reader import DatasetReader

DATA = Path(__file__).parent / "data"
ROOT = DATA / "lerobot_v30"
MANIFEST = json.loads((DATA / "lerobot_v30.json").read_text())
VIEW = MANIFEST["lerobot_view"]
DEFECTS = {d["kind"]: d for d in MANIFEST["defects"]}
NEEDS_OUR_META = (
    "protocol.cluster_size",
    "protocol.recovery",
    "protocol.holdout",
    "protocol.calibration",
)


def _failing(report) -> dict:
    return {r.name: r.findings for r in report.results if r.status == "fail"}


@pytest.fixture(scope="module")
def sampled():
    return run_doctor(ROOT, DoctorConfig(progress=False))


@pytest.fixture(scope="module")
def full():
    return run_doctor(ROOT, DoctorConfig(progress=False, full=True))


def test_fixture_is_what_lerobot_wrote():
    assert MANIFEST["writer"].startswith("lerobot 0.4.4 ")
    assert not (ROOT / "meta/edgevla.json").exists()
    size = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    assert size < 1_000_000


def test_reader_agrees_with_lerobots_loader():
    reader = DatasetReader.open(ROOT)
    assert reader.edgevla_meta is None
    assert (reader.num_episodes, reader.num_frames, reader.fps) == (
        VIEW["num_episodes"],
        VIEW["num_frames"],
        VIEW["fps"],
    )
    assert reader.camera_keys == VIEW["camera_keys"] and reader.tasks == VIEW["tasks"]
    for ep in VIEW["episodes"]:
        e, meta = ep["episode_index"], reader.episode_meta(ep["episode_index"])
        for k in ("length", "dataset_from_index", "dataset_to_index", "tasks"):
            assert meta[k] == ep[k], (e, k)
        for key in VIEW["camera_keys"]:
            assert str(reader.video_path(e, key).relative_to(ROOT)) == ep[key]["file"]
            for k in ("from_timestamp", "to_timestamp"):
                assert meta[f"videos/{key}/{k}"] == ep[key][k], (e, key, k)
    # many episodes per file: one video file per camera, one data file
    for key in reader.camera_keys:
        assert len({reader.video_path(e, key) for e in range(reader.num_episodes)}) == 1
    # frames decoded at their from_timestamp in the shared file are the ones LeRobot decodes
    decoded = {e: reader.episode(e) for e in range(reader.num_episodes)}
    for where, rgb in VIEW["frame_mean_rgb"].items():
        e, key, frame = where.rsplit("/", 2)
        mine = decoded[int(e)][key][int(frame)].reshape(-1, 3).mean(axis=0)
        assert np.abs(mine - np.asarray(rgb)).max() < 0.5, where


@pytest.mark.parametrize("mode", ["sampled", "full"])
def test_the_two_defects_are_found_where_they_were_put_and_nothing_else(mode, request):
    report = request.getfixturevalue(mode)
    found = _failing(report)
    assert set(found) == {"video.frozen", "video.black"}, sorted(found)
    for kind, check in (("frozen", "video.frozen"), ("black", "video.black")):
        d = DEFECTS[kind]
        for f in found[check]:
            assert (f.episode, f.camera) == (d["episode"], d["camera"]), f
            assert d["first_frame"] <= f.frame <= d["last_frame"], f
    if mode == "full":  # every frame read: the stall is found from its first frame to the end
        (stall,) = found["video.frozen"]
        d = DEFECTS["frozen"]
        assert stall.frame == d["first_frame"]
        assert f"frames {d['first_frame']}-{d['last_frame']} identical" in stall.message
        assert found["video.black"][0].frame == DEFECTS["black"]["first_frame"]


def test_checks_that_need_our_metadata_say_so_and_the_rest_run(sampled):
    by_name = {r.name: r for r in sampled.results}
    for name in NEEDS_OUR_META:
        assert by_name[name].status == "not available", name
        assert "edgevla" in by_name[name].summary, by_name[name].summary
    ran = {r.name for r in sampled.results if r.status != "not available"}
    assert ran == set(by_name) - set(NEEDS_OUR_META)  # motion, image, video checks all ran
    assert by_name["protocol.gripper_camera"].summary.endswith("observation.images.wrist")


def test_cli_gates_on_the_warnings_and_writes_the_report(tmp_path, capsys):
    args = ["doctor", str(ROOT), "--no-progress", "--json", str(tmp_path / "r.json")]
    assert main([*args, "--fail-on", "error"]) == 0  # a stall and a blackout are warnings
    assert main([*args, "--fail-on", "warn", "--html", str(tmp_path / "html")]) == 1
    out = capsys.readouterr().out
    assert "episode 3, observation.images.front" in out
    assert "episode 6, observation.images.wrist" in out
    data = json.loads((tmp_path / "r.json").read_text())
    failed = {r["name"] for r in data["results"] if r["status"] == "fail"}
    assert failed == {"video.frozen", "video.black"}
    page = (tmp_path / "html/index.html").read_text()
    assert page.count("data:image/png;base64,") >= 2  # thumbnails of both flagged frames
