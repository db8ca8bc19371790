"""A tiny clean sim recording, shared by the doctor's tests; each test injects its defect
into a copy."""

from __future__ import annotations

import shutil

import pytest

from edgevla.dataset.doctor import DoctorConfig, run_doctor
from edgevla.dataset.recording import RecordConfig, RecordingSession

# 2 clusters (the second held out) x (2 episodes + 1 recovery), 64x64, ~9 s each.
SMALL = dict(
    clusters=(1, 2),
    holdout=2,
    episodes_per_cluster=2,
    recovery_per_cluster=1,
    width=64,
    height=64,
    codec="libx264",
    max_seconds=10.0,
)
# The protocol's real minimums do not fit a 6-episode fixture.
SMALL_PROTOCOL = {
    "protocol.cluster_size": {"min_episodes": 2},
    "protocol.recovery": {"min_share": 0.1, "max_share": 0.5},
}


def record(root, **overrides):
    session = RecordingSession(root, RecordConfig(**{**SMALL, **overrides}), progress=False)
    summary = session.run()
    assert summary.recorded > 0 and not summary.failed
    return root


@pytest.fixture(scope="session")
def clean_recording(tmp_path_factory):
    return record(tmp_path_factory.mktemp("doctor") / "clean")


@pytest.fixture
def dataset(clean_recording, tmp_path):
    """A fresh copy of the clean recording to damage."""
    root = tmp_path / "ds"
    shutil.copytree(clean_recording, root)
    return root


@pytest.fixture
def doctor():
    """run_doctor with the fixture's protocol thresholds: doctor(root, checks=..., ...)."""

    def run(root, **config):
        thresholds = {**SMALL_PROTOCOL, **config.pop("thresholds", {})}
        return run_doctor(root, DoctorConfig(thresholds=thresholds, progress=False, **config))

    return run


@pytest.fixture
def recorder():
    """recorder(root, **RecordConfig overrides): a small sim recording."""
    return record
