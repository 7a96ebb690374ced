"""Pain-region heatmaps: per-vertex displacement between an identity's neutral and pain meshes.

As in the paper, both the distance between corresponding vertices and their displacement
vectors are kept: the magnitude becomes a float map in [0, 1] (``value = mm / scale_mm``,
clipped), the direction a unit-vector map in view space. Neutral frames have all-zero maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

DEFAULT_SCALE_MM = 10.0  # mm of displacement that maps to heat 1.0

# Control points of the colour map (black -> purple -> red -> orange -> yellow -> white).
_CMAP = np.array(
    [[0, 0, 0], [60, 10, 110], [180, 30, 90], [240, 100, 20], [250, 210, 40], [255, 255, 230]],
    dtype=np.float32,
)


@dataclass(frozen=True)
class Heatmap:
    """heat: (H, W) float32 in [0, 1]; direction: (H, W, 3) float32 unit vectors in view
    space (x right, y up, z towards the camera; zero where heat is 0); scale_mm: mm per unit."""

    heat: np.ndarray
    direction: np.ndarray
    scale_mm: float


def vertex_displacement(neutral: np.ndarray, posed: np.ndarray) -> np.ndarray:
    """(V, 4) float32: displacement magnitude (mm) and the unit displacement direction."""
    d = posed.astype(np.float64) - neutral.astype(np.float64)
    mag = np.linalg.norm(d, axis=1)
    unit = d / np.maximum(mag, 1e-9)[:, None]
    return np.concatenate([mag[:, None], unit], axis=1).astype(np.float32)


def heatmap_from_maps(
    attr_map: np.ndarray, view_rotation: np.ndarray, scale_mm: float = DEFAULT_SCALE_MM
) -> Heatmap:
    """Heatmap from a rendered (H, W, 4) ``vertex_displacement`` attribute map.

    view_rotation: (3, 3) world-to-view rotation of the camera that rendered the map (rows:
    right, down, forward, as ``PerspectiveCamera.rotation_translation``). One pass over the
    pixels (numba; tests/test_heatmap_kernels.py holds the NumPy reference it equals).
    """
    if attr_map.ndim != 3 or attr_map.shape[2] != 4:
        raise ValueError(f"attr_map must have shape (H, W, 4), got {attr_map.shape}")
    heat = np.empty(attr_map.shape[:2], dtype=np.float32)
    direction = np.empty(attr_map.shape[:2] + (3,), dtype=np.float32)
    rotation = np.ascontiguousarray(view_rotation, dtype=np.float32)
    _heatmap_kernel(np.ascontiguousarray(attr_map, dtype=np.float32), rotation, np.float32(scale_mm), heat, direction)
    return Heatmap(heat, direction, float(scale_mm))


@numba.njit(cache=True, nogil=True)
def _heatmap_kernel(attr, rot, scale, heat, direction):  # pragma: no cover - compiled
    h, w = heat.shape
    for y in range(h):
        for x in range(w):
            v = attr[y, x, 0] / scale
            v = min(max(v, np.float32(0.0)), np.float32(1.0))
            heat[y, x] = v
            direction[y, x, 0] = direction[y, x, 1] = direction[y, x, 2] = 0.0
            if v > 0:
                # to view space, then flip (down, forward) to (up, towards the camera)
                d0 = rot[0, 0] * attr[y, x, 1] + rot[0, 1] * attr[y, x, 2] + rot[0, 2] * attr[y, x, 3]
                d1 = -(rot[1, 0] * attr[y, x, 1] + rot[1, 1] * attr[y, x, 2] + rot[1, 2] * attr[y, x, 3])
                d2 = -(rot[2, 0] * attr[y, x, 1] + rot[2, 1] * attr[y, x, 2] + rot[2, 2] * attr[y, x, 3])
                n = np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
                if n > 1e-6:
                    direction[y, x, 0], direction[y, x, 1], direction[y, x, 2] = d0 / n, d1 / n, d2 / n


def colorize(heat: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colour image of a [0, 1] heat map; exactly black where heat is 0.
    One pass over the pixels (numba; tests/test_heatmap_kernels.py holds the NumPy reference)."""
    h = np.ascontiguousarray(heat, dtype=np.float32)
    out = np.empty(h.shape + (3,), dtype=np.uint8)
    _colorize_kernel(h.reshape(-1), _CMAP, out.reshape(-1, 3))
    return out


@numba.njit(cache=True, nogil=True)
def _colorize_kernel(heat, cmap, out):  # pragma: no cover - compiled
    last = cmap.shape[0] - 2
    for k in range(heat.shape[0]):
        v = min(max(heat[k], np.float32(0.0)), np.float32(1.0))
        if not v > 0:  # heat 0 maps to exactly black (and NaN)
            out[k, 0] = out[k, 1] = out[k, 2] = 0
            continue
        pos = v * np.float32(cmap.shape[0] - 1)
        i = min(np.int32(pos), last)
        t = np.float64(pos) - np.float64(i)  # float64 from here, as NumPy promotes float32 - int32
        for c in range(3):
            rgb = np.float64(cmap[i, c]) * (1.0 - t) + np.float64(cmap[i + 1, c]) * t + 0.5
            out[k, c] = np.uint8(min(max(rgb, 0.0), 255.0))


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend the colorized heat over an RGB image where heat > 0 (for previews)."""
    a = (np.clip(heat, 0, 1) ** 0.5 * alpha)[..., None]
    out = image.astype(np.float32) * (1 - a) + colorize(heat).astype(np.float32) * a
    return out.astype(np.uint8)


def encode_heat16(heat: np.ndarray) -> np.ndarray:
    """Lossless storage form: uint16 with 65535 = heat 1.0 (decode: value / 65535)."""
    return np.round(np.clip(heat, 0, 1) * 65535.0).astype(np.uint16)
