"""generation/heatmaps.py's compiled kernels against NumPy references written here."""

from __future__ import annotations

import numpy as np
import pytest

from generation.heatmaps import _CMAP, Heatmap, colorize, heatmap_from_maps


def heatmap_reference(attr_map: np.ndarray, view_rotation: np.ndarray, scale_mm: float) -> Heatmap:
    """``heatmap_from_maps`` in plain NumPy: heat is displacement over scale, clipped to
    [0, 1]; direction is the displacement in the view frame (y and z flipped), unit length."""
    heat = np.clip(attr_map[..., 0] / scale_mm, 0.0, 1.0).astype(np.float32)
    direction = np.zeros(heat.shape + (3,), dtype=np.float32)
    hot = heat > 0
    d = attr_map[hot][:, 1:] @ np.asarray(view_rotation, dtype=np.float32).T
    d = d * np.array([1.0, -1.0, -1.0], dtype=np.float32)
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    direction[hot] = np.where(n > 1e-6, d / np.maximum(n, 1e-6), 0.0)
    return Heatmap(heat, direction, float(scale_mm))


def colorize_reference(heat: np.ndarray) -> np.ndarray:
    """``colorize`` in plain NumPy: linear interpolation in the colour map, exactly black at 0."""
    h = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)
    out = np.zeros(h.shape + (3,), dtype=np.uint8)
    lit = h != 0
    pos = h[lit] * (len(_CMAP) - 1)
    i = np.minimum(pos.astype(np.int32), len(_CMAP) - 2)
    t = (pos - i)[..., None]
    rgb = _CMAP[i] * (1 - t) + _CMAP[i + 1] * t
    out[lit] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return out


def test_colorize_equals_reference_pixel_for_pixel():
    rng = np.random.default_rng(0)
    edges = [0, 1, -1, 2, 1e-9, 0.2, 0.4, 0.6, 0.8, np.nextafter(np.float32(0.2), 0), np.nextafter(np.float32(1), 0)]
    v = np.concatenate([rng.random(200_000, dtype=np.float32), np.linspace(0, 1, 100_001, dtype=np.float32), np.float32(edges)])
    heat = v[: (len(v) // 7) * 7].reshape(-1, 7)  # 2-D, as the generator's maps
    out = colorize(heat)
    assert out.shape == heat.shape + (3,) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, colorize_reference(heat))
    np.testing.assert_array_equal(colorize(np.float32([[0, 1]])), [[[0, 0, 0], [255, 255, 230]]])  # the map's ends


def test_heatmap_equals_reference():
    """Random displacement maps (some pixels cold, some with zero-length directions) under a
    random rotation: the same heat exactly, directions to float32 rounding."""
    rng = np.random.default_rng(1)
    attr = rng.normal(size=(37, 23, 4)).astype(np.float32)
    attr[..., 0] = rng.uniform(-5, 20, size=attr.shape[:2])  # below 0, inside (0, 10) and above 10 mm
    attr[::5, ::3, 1:] = 0  # hot pixels without a direction
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    got, want = heatmap_from_maps(attr, q, 10.0), heatmap_reference(attr, q, 10.0)
    np.testing.assert_array_equal(got.heat, want.heat)
    np.testing.assert_allclose(got.direction, want.direction, atol=1e-6)
    assert got.heat.min() == 0 and got.heat.max() == 1 and got.scale_mm == 10.0
    hot = got.heat > 0
    assert np.all(got.direction[~hot] == 0)


def test_heatmap_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\(H, W, 4\)"):
        heatmap_from_maps(np.zeros((4, 4, 3), np.float32), np.eye(3))
