"""A dataset laid out as LeRobot's recorder writes it (many episodes per video file, none of
our metadata): the same checks hold, protocol checks that need our metadata say so."""

from __future__ import annotations

import pytest

from edgevla.dataset.doctor import defects
from edgevla.dataset.reader import DatasetReader

TOP = "observation.images.top"


@pytest.fixture(scope="module")
def lerobot_recording(clean_recording, tmp_path_factory):
    return defects.as_lerobot_layout(clean_recording, tmp_path_factory.mktemp("lr") / "ds")


@pytest.fixture
def lerobot_dataset(lerobot_recording, tmp_path):
    import shutil

    shutil.copytree(lerobot_recording, tmp_path / "ds")
    return tmp_path / "ds"


def _failing(report):
    return {r.name: r.findings for r in report.results if r.status == "fail"}


def test_clean_lerobot_layout_passes_and_protocol_says_not_available(lerobot_recording, doctor):
    reader = DatasetReader.open(lerobot_recording)
    assert reader.edgevla_meta is None
    assert len({reader.video_path(e, TOP) for e in range(reader.num_episodes)}) == 1
    report = doctor(lerobot_recording)
    assert _failing(report) == {}
    status = {r.name: r.status for r in report.results}
    for name in (
        "protocol.cluster_size",
        "protocol.recovery",
        "protocol.holdout",
        "protocol.calibration",
    ):
        assert status[name] == "not available", name
    for name in ("protocol.task", "protocol.gripper_camera", "video.frame_count", "camera.drift"):
        assert status[name] == "pass", name


def test_nudge_in_a_shared_file_points_at_its_episode(lerobot_dataset, doctor):
    defects.edit_frames(lerobot_dataset, 3, "top", lambda f: defects.shift(f, -3, 0))
    found = _failing(doctor(lerobot_dataset))
    assert set(found) == {"camera.drift"}
    assert {(f.episode, f.camera) for f in found["camera.drift"]} == {(3, TOP)}


def test_truncated_shared_file_names_the_last_episodes(lerobot_dataset, doctor):
    path = DatasetReader.open(lerobot_dataset).video_path(0, TOP)
    defects.truncate_file(path, 0.7)
    found = _failing(doctor(lerobot_dataset, checks=("video",)))
    assert "video.frame_count" in found and "video.decode" in found
    assert all(f.camera == TOP for f in found["video.decode"])


def test_episodes_not_contiguous_in_their_file(lerobot_dataset, doctor):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = lerobot_dataset / "meta/episodes/chunk-000/file-000.parquet"
    rows = pq.read_table(path).to_pylist()
    for r in rows[2:]:  # a gap of half a second before episode 2
        r[f"videos/{TOP}/from_timestamp"] += 0.5
        r[f"videos/{TOP}/to_timestamp"] += 0.5
    pq.write_table(pa.Table.from_pylist(rows), path)
    found = _failing(doctor(lerobot_dataset, checks=("video.frame_count",)))
    assert any(f.episode == 2 and "starts at" in f.message for f in found["video.frame_count"])
