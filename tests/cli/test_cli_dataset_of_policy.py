"""The dataset a checkpoint names: edgevla's train_config.json holds its path, LeRobot's a
{"repo_id", "root", ...} object (lerobot-train's DatasetConfig)."""

from __future__ import annotations

import json

from edgevla.cli.split_args import dataset_of_policy


def _checkpoint(tmp_path, dataset) -> str:
    (tmp_path / "train_config.json").write_text(json.dumps({"dataset": dataset}))
    return str(tmp_path)


def test_edgevla_path(tmp_path):
    assert dataset_of_policy(_checkpoint(tmp_path, "data/teabag")) == "data/teabag"


def test_lerobot_root_wins(tmp_path):
    dataset = {"repo_id": "user/teabag", "root": "/data/teabag", "episodes": None}
    assert dataset_of_policy(_checkpoint(tmp_path, dataset)) == "/data/teabag"


def test_lerobot_repo_id_is_under_lerobot_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_LEROBOT_HOME", str(tmp_path / "home"))
    dataset = {"repo_id": "user/teabag", "root": None}
    assert dataset_of_policy(_checkpoint(tmp_path, dataset)) == str(tmp_path / "home/user/teabag")
    monkeypatch.delenv("HF_LEROBOT_HOME")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert dataset_of_policy(_checkpoint(tmp_path, dataset)) == str(
        tmp_path / "hf/lerobot/user/teabag"
    )


def test_lerobot_dataset_list_names_no_single_directory(tmp_path):
    dataset = {"repo_id": "['user/a', 'user/b']", "root": None}
    assert dataset_of_policy(_checkpoint(tmp_path, dataset)) is None
    assert dataset_of_policy(_checkpoint(tmp_path, [{"repo_id": "user/a"}])) is None
