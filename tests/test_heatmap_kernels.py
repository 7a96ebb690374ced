"""generation/heatmaps.py's compiled kernels against their NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

from generation.heatmaps import colorize, colorize_reference, heatmap_from_maps, heatmap_reference


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
