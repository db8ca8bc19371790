"""Zero false positives: clean recordings of other seeds, resolutions and LeRobot's AV1 codec
pass every check."""

from __future__ import annotations

import pytest


@pytest.mark.slow
@pytest.mark.parametrize(
    ("seed", "width", "height", "codec"),
    [(1, 96, 72, "libx264"), (2, 64, 48, "libsvtav1"), (3, 128, 96, "libsvtav1")],
)
def test_clean_recordings_pass(tmp_path, doctor, recorder, seed, width, height, codec):
    root = recorder(tmp_path / "ds", seed=seed, width=width, height=height, codec=codec)
    for full in (False, True):
        report = doctor(root, full=full)
        failed = {r.name: r.findings[:3] for r in report.results if r.status == "fail"}
        assert failed == {}, f"full={full}: {failed}"
