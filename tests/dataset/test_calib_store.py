"""Calibration backups: backup -> change -> verify -> restore -> verify, and the CLI."""

from __future__ import annotations

import json

import pytest

from edgevla.cli import main as cli_main
from edgevla.dataset.calibration import (
    CHANGED,
    MISSING,
    NEVER,
    OK,
    CalibrationStore,
    hash_files,
)


@pytest.fixture
def calib(tmp_path):
    """A LeRobot-like calibration tree: robots/<type>/<id>.json and teleoperators/..."""
    follower = tmp_path / "calibration/robots/so101_follower/arm.json"
    leader = tmp_path / "calibration/teleoperators/so101_leader/arm.json"
    for path, offset in ((follower, 10), (leader, 20)):
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"shoulder_pan": {"homing_offset": offset}}))
    return follower, leader


def test_backup_change_verify_restore_round_trip(tmp_path, calib):
    follower, leader = calib
    store = CalibrationStore(tmp_path / "store")
    original = follower.read_bytes()
    results = store.backup([follower, leader])
    assert [r.created for r in results] == [True, True]
    assert {c.status for c in store.verify([follower, leader])} == {OK}

    follower.write_text('{"shoulder_pan": {"homing_offset": 99}}')
    checks = {c.path: c.status for c in store.verify([follower, leader])}
    assert checks == {str(follower): CHANGED, str(leader): OK}

    backup_id = store.list(follower)[0].id
    restored = store.restore(backup_id)
    assert restored.target == follower and follower.read_bytes() == original
    assert restored.saved_first is not None  # the changed file was kept, not lost
    assert {c.status for c in store.verify([follower, leader])} == {OK}
    history = [b.sha256 for b in store.list(follower)]
    assert history[0] == history[2] != history[1]  # original, changed, original again
    changed_copy = store.restore(restored.saved_first.id, to=tmp_path / "copy.json")
    assert changed_copy.target.read_text() == '{"shoulder_pan": {"homing_offset": 99}}'


def test_backup_records_only_changes_and_index_is_json(tmp_path, calib):
    follower, _ = calib
    store = CalibrationStore(tmp_path / "store")
    first = store.backup([follower])[0]
    again = store.backup([follower])[0]
    assert not again.created and again.backup == first.backup
    index = json.loads((tmp_path / "store/index.json").read_text())
    entry = index["backups"][0]
    assert entry["path"] == str(follower) and entry["time"].endswith("+00:00")
    assert len(entry["sha256"]) == 64 and entry["size"] == follower.stat().st_size
    blob = tmp_path / "store/objects" / entry["sha256"][:2] / entry["sha256"]
    assert blob.read_bytes() == follower.read_bytes()


def test_directories_missing_and_never_backed_up(tmp_path, calib):
    follower, leader = calib
    root = follower.parents[2]
    store = CalibrationStore(tmp_path / "store")
    store.backup([root])
    assert {c.status for c in store.verify([root])} == {OK}
    leader.unlink()
    (root / "robots/so101_follower/new.json").write_text("{}")
    status = {c.path: c.status for c in store.verify([root])}
    assert status[str(leader)] == MISSING
    assert status[str(root / "robots/so101_follower/new.json")] == NEVER
    assert status[str(follower)] == OK


def test_restore_unknown_or_ambiguous_id(tmp_path, calib):
    store = CalibrationStore(tmp_path / "store")
    with pytest.raises(KeyError, match="no calibration backup with id 'deadbeef'"):
        store.restore("deadbeef")
    store.backup(list(calib))
    ident = store.list()[0].id
    assert store.find(ident[:6]).id == ident
    with pytest.raises(KeyError, match="no calibration backup"):
        store.find(ident[:3])  # prefixes need at least 4 characters


def test_hash_files_is_stable_and_sensitive(tmp_path, calib):
    follower, leader = calib
    h = hash_files([follower, leader])
    assert h == hash_files([leader, follower]) == hash_files([follower.parents[2]])
    moved = tmp_path / "elsewhere"
    for src in (follower, leader):
        dst = moved / src.relative_to(tmp_path / "calibration")
        dst.parent.mkdir(parents=True)
        dst.write_bytes(src.read_bytes())
    assert hash_files([moved]) == h  # same tree elsewhere, same hash
    leader.write_text("{}")
    assert hash_files([follower, leader]) != h
    with pytest.raises(FileNotFoundError, match="no such file"):
        hash_files([tmp_path / "nope.json"])


def test_cli(tmp_path, calib, capsys, monkeypatch):
    follower, _ = calib
    monkeypatch.setenv("EDGEVLA_CALIB_STORE", str(tmp_path / "env-store"))
    assert cli_main(["calib", "backup", str(follower)]) == 0
    assert (tmp_path / "env-store/index.json").exists()  # default store from the env var
    store = ["--store", str(tmp_path / "store")]
    assert cli_main(["calib", *store, "backup", str(follower)]) == 0
    assert cli_main(["calib", "verify", *store, str(follower)]) == 0
    follower.write_text("{}")
    capsys.readouterr()
    assert cli_main(["calib", *store, "verify", str(follower)]) == 1
    assert "CHANGED" in capsys.readouterr().out
    ident = CalibrationStore(tmp_path / "store").list()[0].id
    assert cli_main(["calib", *store, "restore", ident]) == 0
    assert cli_main(["calib", *store, "verify", str(follower)]) == 0
    assert cli_main(["calib", *store, "list"]) == 0
    assert ident in capsys.readouterr().out
    assert cli_main(["calib", *store, "restore", "0000ffff"]) == 2
    assert "no calibration backup with id '0000ffff'" in capsys.readouterr().err
    assert cli_main(["calib", "hash", str(follower)]) == 0
    assert capsys.readouterr().out.strip() == hash_files([follower])
