"""Pain-region heatmaps: per-vertex displacement between an identity's neutral and pain meshes.

As in the paper, both the distance between corresponding vertices and their displacement
vectors are kept: the magnitude becomes a float map in [0, 1] (``value = mm / scale_mm``,
clipped), the direction a unit-vector map in view space. Neutral frames have all-zero maps.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    right, down, forward, as ``PerspectiveCamera.rotation_translation``).
    """
    if attr_map.ndim != 3 or attr_map.shape[2] != 4:
        raise ValueError(f"attr_map must have shape (H, W, 4), got {attr_map.shape}")
    heat = np.clip(attr_map[..., 0] / scale_mm, 0.0, 1.0).astype(np.float32)
    # Only the hot pixels (typically ~10% of the frame) get a direction; the rest stay 0.
    direction = np.zeros(heat.shape + (3,), dtype=np.float32)
    hot = heat > 0
    # to view space, then flip (down, forward) to (up, towards the camera)
    d = attr_map[hot][:, 1:] @ np.asarray(view_rotation, dtype=np.float32).T
    d = d * np.array([1.0, -1.0, -1.0], dtype=np.float32)
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    direction[hot] = np.where(n > 1e-6, d / np.maximum(n, 1e-6), 0.0)
    return Heatmap(heat, direction, float(scale_mm))


def colorize(heat: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colour image of a [0, 1] heat map; exactly black where heat is 0."""
    h = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)
    out = np.zeros(h.shape + (3,), dtype=np.uint8)  # heat 0 maps to exactly black
    lit = h != 0  # only these need the colour map (most of a frame is cold)
    pos = h[lit] * (len(_CMAP) - 1)
    i = np.minimum(pos.astype(np.int32), len(_CMAP) - 2)
    t = (pos - i)[..., None]
    rgb = _CMAP[i] * (1 - t) + _CMAP[i + 1] * t
    out[lit] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return out


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend the colorized heat over an RGB image where heat > 0 (for previews)."""
    a = (np.clip(heat, 0, 1) ** 0.5 * alpha)[..., None]
    out = image.astype(np.float32) * (1 - a) + colorize(heat).astype(np.float32) * a
    return out.astype(np.uint8)


def encode_heat16(heat: np.ndarray) -> np.ndarray:
    """Lossless storage form: uint16 with 65535 = heat 1.0 (decode: value / 65535)."""
    return np.round(np.clip(heat, 0, 1) * 65535.0).astype(np.uint16)
