"""The three parquet tables of a v3.0 dataset, written with pyarrow alone (no pandas, no
HF `datasets`) but byte-compatible with what LeRobot's loaders expect.

- data: one row per frame; a float32[D] feature is `fixed_size_list<float>[D]`, scalars are
  plain columns, and the schema carries the `huggingface` metadata `datasets` writes.
- tasks: index = task string, column `task_index`; written with the `pandas` metadata that makes
  `pandas.read_parquet` restore the index, as LeRobot reads it.
- episodes: one row per episode, types as `pyarrow.Table.from_pylist` infers them (as LeRobot).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from edgevla.dataset.layout import DatasetFormatError, atomic_write

_ARROW_SCALARS = {
    "float32": pa.float32(),
    "float64": pa.float64(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "int16": pa.int16(),
    "int8": pa.int8(),
    "uint8": pa.uint8(),
    "bool": pa.bool_(),
    "string": pa.string(),
}


def _arrow_type(feature: Mapping[str, Any]) -> tuple[pa.DataType, dict[str, Any]]:
    """Arrow type and HF `datasets` feature description of one non-video feature."""
    dtype, shape = feature["dtype"], list(feature["shape"])
    if dtype not in _ARROW_SCALARS:
        raise ValueError(
            f"unsupported feature dtype {dtype!r}; supported: {sorted(_ARROW_SCALARS)}"
        )
    value = _ARROW_SCALARS[dtype]
    hf_value = {"dtype": dtype, "_type": "Value"}
    if shape == [1]:
        return value, hf_value
    if len(shape) == 1:
        return pa.list_(value, shape[0]), {
            "feature": hf_value,
            "length": shape[0],
            "_type": "Sequence",
        }
    raise ValueError(f"only [1] and [D] feature shapes can be written, got {shape}")


def data_schema(features: Mapping[str, Mapping[str, Any]]) -> pa.Schema:
    """Schema of data/*.parquet for the non-video features, in info.json's order."""
    fields, hf = [], {}
    for key, ft in features.items():
        if ft["dtype"] == "video":
            continue
        arrow, hf[key] = _arrow_type(ft)
        fields.append(pa.field(key, arrow))
    meta = {"huggingface": json.dumps({"info": {"features": hf}})}
    return pa.schema(fields, metadata=meta)


def write_data(path: Path, columns: Mapping[str, np.ndarray], schema: pa.Schema) -> None:
    """Write one episode's frames. columns: name -> [N] or [N, D] arrays. Not atomic itself."""
    arrays = []
    for field in schema:
        values = np.ascontiguousarray(columns[field.name])
        if pa.types.is_fixed_size_list(field.type):
            flat = pa.array(values.reshape(-1), type=field.type.value_type)
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, field.type.list_size))
        else:
            arrays.append(pa.array(values.reshape(-1), type=field.type))
    table = pa.Table.from_arrays(arrays, schema=schema)
    pq.write_table(table, path, compression="snappy", use_dictionary=True)


def read_parquet(path: Path, **kwargs: Any) -> pa.Table:
    """Read a parquet file; a missing or corrupt file is an error naming it."""
    try:
        return pq.read_table(path, **kwargs)
    except FileNotFoundError:
        raise DatasetFormatError(f"missing dataset file: {path}") from None
    except (pa.ArrowException, OSError) as e:
        raise DatasetFormatError(f"cannot read parquet file {path}: {e}") from None


def write_tasks(path: Path, tasks: Sequence[str]) -> None:
    """tasks[i] has task_index i. Atomic."""
    pandas_meta = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None,
                "field_name": "__index_level_0__",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    schema = pa.schema(
        [pa.field("task_index", pa.int64()), pa.field("__index_level_0__", pa.string())],
        metadata={"pandas": json.dumps(pandas_meta)},
    )
    table = pa.Table.from_arrays(
        [pa.array(range(len(tasks)), pa.int64()), pa.array(list(tasks), pa.string())], schema=schema
    )
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_tasks(path: Path) -> list[str]:
    """Task strings in task_index order, from any LeRobot-written tasks.parquet."""
    table = read_parquet(path)
    names = table.column_names
    if "task_index" not in names:
        raise DatasetFormatError(f"{path}: no 'task_index' column (columns: {names})")
    text_column = None
    meta = table.schema.metadata or {}
    if b"pandas" in meta:
        for col in json.loads(meta[b"pandas"]).get("index_columns", []):
            if isinstance(col, str) and col in names:
                text_column = col
    if text_column is None and "task" in names:
        text_column = "task"
    if text_column is None:
        raise DatasetFormatError(f"{path}: cannot find the task strings (columns: {names})")
    indices = table.column("task_index").to_pylist()
    texts = table.column(text_column).to_pylist()
    if sorted(indices) != list(range(len(indices))):
        raise DatasetFormatError(f"{path}: task_index must be 0..{len(indices) - 1}, got {indices}")
    ordered = [""] * len(indices)
    for i, text in zip(indices, texts, strict=True):
        ordered[i] = text
    return ordered


def write_episodes(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rewrite one episodes file with `rows` (dicts with the same keys). Atomic."""
    table = pa.Table.from_pylist([dict(r) for r in rows])
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="snappy"))


def read_episodes(root: Path) -> list[dict[str, Any]]:
    """All rows of meta/episodes/*/*.parquet, sorted by episode_index."""
    paths = sorted((root / "meta" / "episodes").glob("*/*.parquet"))
    if not paths:
        raise DatasetFormatError(f"missing dataset files: no {root}/meta/episodes/*/*.parquet")
    rows: list[dict[str, Any]] = []
    for path in paths:
        table = read_parquet(path)
        if "episode_index" not in table.column_names:
            raise DatasetFormatError(f"{path}: no 'episode_index' column")
        rows.extend(table.to_pylist())
    rows.sort(key=lambda r: r["episode_index"])
    return rows
