"""The tensor codec: exact raw round trips, JPEG within tolerance, garbage rejected."""

from __future__ import annotations

import numpy as np
import pytest

from edgevla.serve import tensors
from edgevla.serve.proto import policy_service_pb2 as pb

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    "dtype", [np.float32, np.float64, np.float16, np.uint8, np.int32, np.int64, np.bool_]
)
def test_raw_round_trip_is_exact_for_every_dtype(dtype):
    array = (np.arange(24).reshape(2, 3, 4) % 5).astype(dtype)
    msg = pb.Tensor.FromString(tensors.fill_raw(pb.Tensor(), array).SerializeToString())
    out = tensors.decode(msg, "x")
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_raw_bytes_are_little_endian_whatever_the_input_order():
    big = np.array([1.5, -2.0], dtype=">f4")
    msg = tensors.fill_raw(pb.Tensor(), big)
    assert msg.data == np.array([1.5, -2.0], dtype="<f4").tobytes()
    np.testing.assert_array_equal(tensors.decode(msg, "x"), [1.5, -2.0])


def test_unsupported_dtype_is_refused_by_name():
    with pytest.raises(tensors.TensorError, match="complex64"):
        tensors.fill_raw(pb.Tensor(), np.zeros(2, np.complex64))


@pytest.mark.parametrize("n_bytes", [0, 23, 25])
def test_byte_count_must_match_dtype_times_shape(n_bytes):
    msg = pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=[2, 3], data=b"\0" * n_bytes)
    with pytest.raises(tensors.TensorError, match=f"needs 24 bytes.*got {n_bytes}"):
        tensors.decode(msg, "observation.state")


def test_unknown_dtype_negative_shape_and_unknown_encoding_are_refused():
    with pytest.raises(tensors.TensorError, match="unknown dtype code 99"):
        tensors.decode(pb.Tensor(dtype=99, shape=[1], data=b"\0"), "x")
    with pytest.raises(tensors.TensorError, match="not a valid shape"):
        tensors.decode(pb.Tensor(dtype=pb.DTYPE_UINT8, shape=[-1, 4], data=b""), "x")
    with pytest.raises(tensors.TensorError, match="unknown encoding"):
        tensors.decode(pb.Tensor(dtype=pb.DTYPE_UINT8, shape=[1], data=b"\0", encoding=7), "x")


def test_max_bytes_caps_the_declared_size():
    msg = tensors.fill_raw(pb.Tensor(), np.zeros((10, 10), np.uint8))
    with pytest.raises(tensors.TensorError, match="limit 99"):
        tensors.decode(msg, "x", max_bytes=99)
    assert tensors.decode(msg, "x", max_bytes=100).shape == (10, 10)


def _smooth_image(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (h + w)], -1).astype(np.uint8)


def test_jpeg_round_trip_is_close_and_smaller():
    image = _smooth_image()
    msg = tensors.fill_jpeg(pb.Tensor(), image, quality=90)
    assert msg.encoding == pb.ENCODING_JPEG and len(msg.data) < image.nbytes
    out = tensors.decode(msg, "observation.images.top")
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image.astype(int)).mean() < 3


def test_jpeg_whose_header_disagrees_with_the_declared_shape_is_refused():
    msg = tensors.fill_jpeg(pb.Tensor(), _smooth_image(48, 64), quality=80)
    msg.shape[:] = [64, 48, 3]
    with pytest.raises(tensors.TensorError, match=r"declared \[64, 48, 3\] but the JPEG is 48x64"):
        tensors.decode(msg, "cam")


def test_garbage_jpeg_is_refused():
    msg = pb.Tensor(dtype=pb.DTYPE_UINT8, shape=[4, 4, 3], data=b"\xff\xd8not a jpeg", encoding=1)
    with pytest.raises(tensors.TensorError, match="undecodable JPEG"):
        tensors.decode(msg, "cam")


def test_truncated_jpeg_is_refused():
    msg = tensors.fill_jpeg(pb.Tensor(), _smooth_image(), quality=80)
    msg.data = msg.data[: len(msg.data) // 2]
    with pytest.raises(tensors.TensorError, match="undecodable JPEG"):
        tensors.decode(msg, "cam")


def test_jpeg_must_be_declared_as_an_rgb_image():
    msg = tensors.fill_jpeg(pb.Tensor(), _smooth_image(), quality=80)
    msg.dtype = pb.DTYPE_FLOAT32
    with pytest.raises(tensors.TensorError, match=r"uint8\[H, W, 3\]"):
        tensors.decode(msg, "cam")
