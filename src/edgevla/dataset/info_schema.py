"""Types and required fields of `meta/info.json`, checked when a dataset is opened.

Every command reads a dataset through `layout.read_info`, so a malformed info.json (say
`features: []` or `fps: "thirty"`) fails there, naming the field, instead of as an
AttributeError deep in a reader or, worse, a dataset that opens and trains on nonsense.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgevla.dataset.layout import DEFAULT_FEATURES, DatasetFormatError

_ECHO = 60  # characters of a bad value echoed in an error


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _ECHO else text[: _ECHO - 3] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_info(info: dict[str, Any], path: Path) -> None:
    """Raise DatasetFormatError naming the first field of `info` that LeRobot v3.0 would not
    accept (type, range or a missing required entry)."""

    def fail(field: str, expected: str) -> None:
        raise DatasetFormatError(
            f"{path}: field {field!r} must be {expected}, got {_show(info.get(field))}"
        )

    fps = info.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not fps > 0:
        fail("fps", "a positive number of frames per second")
    if isinstance(fps, float) and not fps.is_integer():
        fail("fps", "a whole number of frames per second")
    for field in ("total_episodes", "total_frames"):
        if not _is_int(info.get(field)) or info[field] < 0:
            fail(field, "a non-negative integer")
    for field in ("total_tasks", "chunks_size"):
        if field in info and (not _is_int(info[field]) or info[field] < 0):
            fail(field, "a non-negative integer")
    if not isinstance(info.get("data_path"), str):
        fail("data_path", "a path template string")
    if "splits" in info and not (
        isinstance(info["splits"], dict)
        and all(isinstance(v, str) for v in info["splits"].values())
    ):
        fail("splits", "an object of 'start:end' strings")
    features = info.get("features")
    if not isinstance(features, dict) or not features:
        fail("features", "a non-empty object {feature key: {dtype, shape, ...}}")
    for key, feature in features.items():
        _validate_feature(key, feature, path)
    missing = [k for k in DEFAULT_FEATURES if k not in features]
    if missing:
        raise DatasetFormatError(f"{path}: 'features' lacks LeRobot's frame columns {missing}")
    if any(ft["dtype"] == "video" for ft in features.values()) and not isinstance(
        info.get("video_path"), str
    ):
        fail("video_path", "a path template string (the dataset has video features)")


def _validate_feature(key: str, feature: Any, path: Path) -> None:
    where = f"{path}: features[{key!r}]"
    if not isinstance(feature, dict):
        raise DatasetFormatError(f"{where} must be an object, got {_show(feature)}")
    dtype, shape = feature.get("dtype"), feature.get("shape")
    if not isinstance(dtype, str) or not dtype:
        raise DatasetFormatError(f"{where}['dtype'] must be a type name, got {_show(dtype)}")
    if (
        not isinstance(shape, list | tuple)
        or not shape
        or not all(_is_int(d) and d > 0 for d in shape)
    ):
        raise DatasetFormatError(
            f"{where}['shape'] must be a list of positive integers, got {_show(shape)}"
        )
    if dtype in ("video", "image") and len(shape) != 3:
        raise DatasetFormatError(
            f"{where}['shape'] of a camera must be [height, width, channels], got {_show(shape)}"
        )
