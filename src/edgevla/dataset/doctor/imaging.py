"""Image measurements on small float images: sub-pixel phase correlation, chromaticity."""

from __future__ import annotations

import numpy as np


def grey(image: np.ndarray) -> np.ndarray:
    """uint8[h, w, 3] -> float32[h, w]."""
    return image.astype(np.float32).mean(axis=-1)


def phase_shift(
    reference: np.ndarray, moved: np.ndarray, keep_ratio: float = 0.5
) -> tuple[float, float]:
    """(dy, dx): how far `moved` is shifted against `reference` (float[h, w] each), by phase
    correlation on Hann-windowed gradient images (edges of the static scene dominate; uniform
    areas and the lighting level do not). A moving arm adds a second peak at its own motion;
    while the correlation at zero shift stays above `keep_ratio` of the highest peak, the
    static scene is still where it was and the answer is (0, 0)."""
    h, w = reference.shape
    corr = _correlation(reference, moved)
    py, px = np.unravel_index(int(np.argmax(corr)), corr.shape)
    if corr[0, 0] >= keep_ratio * corr[py, px]:
        return 0.0, 0.0
    dy = py + _subpixel(corr[(py - 1) % h, px], corr[py, px], corr[(py + 1) % h, px])
    dx = px + _subpixel(corr[py, (px - 1) % w], corr[py, px], corr[py, (px + 1) % w])
    dy = dy - h if dy > h / 2 else dy
    dx = dx - w if dx > w / 2 else dx
    return float(dy), float(dx)


def rotation(
    reference: np.ndarray, moved: np.ndarray, max_deg: float = 4.0, step: float = 1.0
) -> float:
    """Degrees `moved` is rolled against `reference` about the image centre: the angle whose
    back-rotation gives the highest phase-correlation peak (any shift allowed), refined by a
    parabola; 0 unless it beats no rotation clearly (a peak 10 % higher)."""
    angles = np.arange(-max_deg, max_deg + step / 2, step)
    ref = _spectrum(reference)
    peaks = np.array([_correlation_with(ref, rotate(moved, -a)).max() for a in angles])
    best = int(np.argmax(peaks))
    zero = int(np.argmin(np.abs(angles)))
    if peaks[best] < 1.1 * peaks[zero] or best in (0, len(angles) - 1):
        return 0.0
    return float(angles[best] + step * _subpixel(peaks[best - 1], peaks[best], peaks[best + 1]))


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """float[h, w] rotated counter-clockwise about its centre (bilinear, edges repeated)."""
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    a = np.radians(degrees)
    # where each output pixel comes from in the input
    sx = np.cos(a) * (xx - cx) - np.sin(a) * (yy - cy) + cx
    sy = np.sin(a) * (xx - cx) + np.cos(a) * (yy - cy) + cy
    sx, sy = np.clip(sx, 0, w - 1), np.clip(sy, 0, h - 1)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = sx - x0, sy - y0
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _correlation(reference: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """Phase correlation surface of two float[h, w] images (peak at the shift)."""
    return _correlation_with(_spectrum(reference), moved)


def _spectrum(image: np.ndarray) -> np.ndarray:
    h, w = image.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    return np.fft.rfft2(_edges(image) * window)


def _correlation_with(reference: np.ndarray, moved: np.ndarray) -> np.ndarray:
    cross = _spectrum(moved) * np.conj(reference)
    cross /= np.abs(cross) + 1e-9
    return np.fft.irfft2(cross, s=moved.shape)


def _edges(image: np.ndarray) -> np.ndarray:
    gy, gx = np.gradient(image.astype(np.float32))
    return np.hypot(gx, gy)


def _subpixel(left: float, centre: float, right: float) -> float:
    """Vertex of the parabola through three samples of a peak."""
    denom = left - 2 * centre + right
    return 0.0 if abs(denom) < 1e-12 else float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))


def chromaticity(mean_rgb: np.ndarray) -> np.ndarray:
    """float[..., 3] -> r, g, b shares (colour balance independent of brightness)."""
    total = mean_rgb.sum(axis=-1, keepdims=True)
    return mean_rgb / np.maximum(total, 1e-6)
