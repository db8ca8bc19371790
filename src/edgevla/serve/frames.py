"""Messages between the server and its worker processes: a JSON header plus raw arrays.

Why not pickle (multiprocessing's way): a worker process runs a policy from a checkpoint,
and nothing that crosses a process boundary here can name code to run. Why raw bytes: an
observation is a few camera frames; they cross as one copy each way, never re-encoded.

Frame: uint32 header length (little-endian) | header JSON | each array's bytes, in the order
of `header["arrays"]` ([key, dtype, shape] per array). Only plain numeric dtypes pass.
"""

from __future__ import annotations

import json
import struct
from typing import BinaryIO

import numpy as np

_LENGTH = struct.Struct("<I")
MAX_HEADER_BYTES = 1 << 20


class FrameError(Exception):
    """A frame that cannot be written or read (closed pipe, bad layout)."""


def write_frame(
    stream: BinaryIO, header: dict, arrays: dict[str, np.ndarray] | None = None
) -> None:
    """Write one frame; `header` must be JSON-able and not use the key "arrays"."""
    arrays = arrays or {}
    layout, parts = [], []
    for key, value in arrays.items():
        array = np.ascontiguousarray(value)
        if array.dtype.hasobject or array.dtype.kind not in "biuf":
            raise FrameError(f"{key}: only numeric arrays cross to a worker, got {array.dtype}")
        layout.append([key, array.dtype.str, list(array.shape)])
        parts.append(memoryview(array).cast("B") if array.size else b"")
    body = json.dumps({**header, "arrays": layout}).encode()
    try:
        _write_all(stream, _LENGTH.pack(len(body)) + body)
        for part in parts:
            _write_all(stream, part)
    except (OSError, ValueError) as e:  # ValueError: the stream was closed
        raise FrameError(f"cannot write to the worker pipe: {e}") from e


def read_frame(stream: BinaryIO) -> tuple[dict, dict[str, np.ndarray]] | None:
    """The next frame as (header, arrays), or None when the other side closed the pipe."""
    raw = _read_exact(stream, _LENGTH.size, allow_eof=True)
    if raw is None:
        return None
    (length,) = _LENGTH.unpack(raw)
    if length > MAX_HEADER_BYTES:
        raise FrameError(f"frame header of {length} bytes exceeds {MAX_HEADER_BYTES}")
    header = json.loads(_read_exact(stream, length))
    arrays: dict[str, np.ndarray] = {}
    for key, dtype, shape in header.pop("arrays"):
        array = np.empty(shape, np.dtype(dtype))
        if array.size:
            _read_exact(stream, array.nbytes, into=memoryview(array).cast("B"))
        arrays[key] = array
    return header, arrays


def _write_all(stream: BinaryIO, data) -> None:
    view = memoryview(data)
    while view:
        written = stream.write(view)
        view = view[written:]
    stream.flush()


def _read_exact(stream: BinaryIO, n: int, *, allow_eof: bool = False, into=None):
    """n bytes (into `into` if given); None at a clean EOF before the first byte if allowed."""
    buffer = into if into is not None else memoryview(bytearray(n))
    got = 0
    while got < n:
        count = stream.readinto(buffer[got:])
        if not count:
            if got == 0 and allow_eof:
                return None
            raise FrameError(f"the worker pipe closed after {got} of {n} bytes")
        got += count
    return bytes(buffer) if into is None else None
