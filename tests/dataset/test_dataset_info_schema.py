"""A malformed meta/info.json fails on open, naming the field (every command reads through it)."""

from __future__ import annotations

import json

import pytest

from edgevla.dataset.layout import DatasetFormatError
from edgevla.dataset.reader import DatasetReader
from edgevla.dataset.synthetic import write_synthetic_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("info") / "ds"
    write_synthetic_dataset(root, lengths=(5, 6), cameras={"top": (16, 16)})
    return root


def _with_info(dataset, tmp_path, edit):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(dataset, root)
    info = json.loads((root / "meta/info.json").read_text())
    edit(info)
    (root / "meta/info.json").write_text(json.dumps(info))
    return root


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda i: i.update(features=[]), r"field 'features' must be a non-empty object.*got \[\]"),
        (lambda i: i.update(fps="thirty"), r"field 'fps' must be a positive number.*'thirty'"),
        (lambda i: i.update(fps=0), r"field 'fps' must be a positive"),
        (lambda i: i.update(fps=29.97), r"field 'fps' must be a whole number"),
        (lambda i: i.update(total_frames="11"), r"field 'total_frames' must be a non-negative"),
        (lambda i: i.update(total_episodes=None), r"field 'total_episodes'"),
        (lambda i: i.update(data_path=3), r"field 'data_path' must be a path template"),
        (lambda i: i.update(video_path=None), r"field 'video_path' must be a path template"),
        (lambda i: i.update(splits=["0:2"]), r"field 'splits'"),
        (lambda i: i["features"].update(action=[6]), r"features\['action'\] must be an object"),
        (
            lambda i: i["features"]["action"].update(shape="6"),
            r"features\['action'\]\['shape'\] must be a list of positive integers",
        ),
        (
            lambda i: i["features"]["observation.images.top"].update(shape=[16, 16]),
            r"\['shape'\] of a camera must be \[height, width, channels\]",
        ),
        (
            lambda i: i["features"]["action"].pop("dtype"),
            r"features\['action'\]\['dtype'\] must be a type name",
        ),
        (
            lambda i: i["features"].pop("timestamp"),
            r"lacks LeRobot's frame columns \['timestamp'\]",
        ),
    ],
)
def test_bad_info_fails_on_open_naming_the_field(dataset, tmp_path, edit, message):
    root = _with_info(dataset, tmp_path, edit)
    with pytest.raises(DatasetFormatError, match=message) as err:
        DatasetReader.open(root)
    assert "meta/info.json" in str(err.value)


def test_a_long_bad_value_is_echoed_bounded(dataset, tmp_path):
    root = _with_info(dataset, tmp_path, lambda i: i.update(fps="x" * 10_000))
    with pytest.raises(DatasetFormatError) as err:
        DatasetReader.open(root)
    assert len(str(err.value)) < 300


def test_a_good_info_still_opens(dataset):
    reader = DatasetReader.open(dataset)
    assert reader.fps == 30 and reader.num_episodes == 2
