"""numpy <-> protobuf `Tensor`: raw little-endian bytes or JPEG, decoded without extra copies.

Decoding trusts nothing: the dtype must be known, the shape sane, and the byte count must be
exactly itemsize x prod(shape) (or the JPEG's own header must agree with the declared shape)
before any array is built. Every failure is a `TensorError` naming what was expected and what
came. Pillow is optional: only JPEG needs it.
"""

from __future__ import annotations

import io
import math

import numpy as np

from edgevla.serve.proto import policy_service_pb2 as pb

MAX_RANK = 8

DTYPES: dict[int, np.dtype] = {
    pb.DTYPE_FLOAT32: np.dtype("<f4"),
    pb.DTYPE_FLOAT64: np.dtype("<f8"),
    pb.DTYPE_FLOAT16: np.dtype("<f2"),
    pb.DTYPE_UINT8: np.dtype("u1"),
    pb.DTYPE_INT32: np.dtype("<i4"),
    pb.DTYPE_INT64: np.dtype("<i8"),
    pb.DTYPE_BOOL: np.dtype("?"),
}
_CODES: dict[str, int] = {dt.str.lstrip("<>|="): code for code, dt in DTYPES.items()}


class TensorError(ValueError):
    """A tensor that cannot be encoded or decoded as declared."""


def dtype_code(dtype: np.dtype) -> int:
    """The wire enum of a numpy dtype; raises for dtypes the wire does not carry."""
    code = _CODES.get(np.dtype(dtype).str.lstrip("<>|="))
    if code is None:
        names = sorted(str(d) for d in DTYPES.values())
        raise TensorError(f"dtype {np.dtype(dtype)} cannot go on the wire; supported: {names}")
    return code


def dtype_name(code: int) -> str:
    """`DTYPE_FLOAT32` -> `float32`, for error messages; unknown codes are shown as numbers."""
    dt = DTYPES.get(code)
    return str(dt.newbyteorder("=")) if dt is not None else f"<unknown dtype {code}>"


def fill_raw(msg: pb.Tensor, array: np.ndarray) -> pb.Tensor:
    """Write `array` into `msg` as raw little-endian C-order bytes (one copy: tobytes)."""
    array = np.asarray(array)
    code = dtype_code(array.dtype)
    little = array.astype(DTYPES[code], copy=False)
    msg.dtype = code
    msg.shape[:] = array.shape
    msg.data = little.tobytes(order="C")
    msg.encoding = pb.ENCODING_RAW
    return msg


def fill_jpeg(msg: pb.Tensor, image: np.ndarray, quality: int) -> pb.Tensor:
    """Write uint8[H, W, 3] `image` into `msg` as a JPEG (lossy; needs Pillow)."""
    image_module = _pillow()
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TensorError(
            f"JPEG needs a uint8[H, W, 3] image, got {image.dtype}{list(image.shape)}"
        )
    buf = io.BytesIO()
    image_module.fromarray(np.ascontiguousarray(image)).save(
        buf, format="JPEG", quality=int(quality)
    )
    msg.dtype = pb.DTYPE_UINT8
    msg.shape[:] = image.shape
    msg.data = buf.getvalue()
    msg.encoding = pb.ENCODING_JPEG
    return msg


def declared(msg: pb.Tensor, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and shape `msg` claims, checked for sanity but before touching its bytes."""
    dt = DTYPES.get(msg.dtype)
    if dt is None:
        raise TensorError(
            f"{name}: unknown dtype code {msg.dtype}; expected one of "
            f"{sorted(dtype_name(c) for c in DTYPES)}"
        )
    shape = tuple(int(s) for s in msg.shape)
    if len(shape) > MAX_RANK or any(s < 0 for s in shape):
        raise TensorError(f"{name}: shape {list(shape)} is not a valid shape (rank <= {MAX_RANK})")
    return dt.newbyteorder("="), shape


def decode(msg: pb.Tensor, name: str, max_bytes: int | None = None) -> np.ndarray:
    """The array `msg` carries; raw data becomes a read-only view of the message's bytes.

    `max_bytes` caps the decoded size, so a small JPEG cannot declare a huge image.
    """
    dt, shape = declared(msg, name)
    size = dt.itemsize * math.prod(shape)
    if max_bytes is not None and size > max_bytes:
        raise TensorError(f"{name}: {dt}{list(shape)} is {size} bytes decoded; limit {max_bytes}")
    if msg.encoding == pb.ENCODING_RAW:
        data = msg.data
        if len(data) != size:
            raise TensorError(
                f"{name}: {dt}{list(shape)} needs {size} bytes of raw data, got {len(data)}"
            )
        return np.frombuffer(data, dtype=DTYPES[msg.dtype]).reshape(shape)
    if msg.encoding == pb.ENCODING_JPEG:
        return _decode_jpeg(msg.data, dt, shape, name)
    raise TensorError(f"{name}: unknown encoding {msg.encoding}; expected RAW (0) or JPEG (1)")


def _decode_jpeg(data: bytes, dt: np.dtype, shape: tuple[int, ...], name: str) -> np.ndarray:
    if dt != np.uint8 or len(shape) != 3 or shape[2] != 3:
        raise TensorError(f"{name}: JPEG must be declared uint8[H, W, 3], got {dt}{list(shape)}")
    image_module = _pillow()
    try:
        with image_module.open(io.BytesIO(data), formats=["JPEG"]) as img:
            # The header is read lazily: check the size before decoding any pixels.
            if (img.height, img.width) != shape[:2]:
                raise TensorError(
                    f"{name}: declared {list(shape)} but the JPEG is {img.height}x{img.width}"
                )
            array = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    except TensorError:
        raise
    except Exception as e:  # Pillow raises many types for corrupt data; all mean "not a JPEG"
        raise TensorError(f"{name}: undecodable JPEG ({len(data)} bytes): {e}") from e
    return array


def _pillow():
    """PIL.Image, or a clear error: JPEG is optional, raw always works."""
    try:
        from PIL import Image
    except ImportError as e:
        raise TensorError("JPEG images need Pillow (pip install pillow); send raw images") from e
    return Image


def jpeg_available() -> bool:
    """Whether this machine can encode/decode JPEG tensors."""
    try:
        _pillow()
    except TensorError:
        return False
    return True
