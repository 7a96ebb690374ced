"""generation/png.py: the heatmaps' PNG encoder, checked against Pillow's decoder."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generation.heatmaps import colorize, encode_heat16
from generation.png import encode_png


def decode(data: bytes) -> np.ndarray:
    im = Image.open(io.BytesIO(data))
    im.load()
    return np.asarray(im)


@pytest.mark.parametrize(
    "shape,dtype,mode",
    [((5, 7), np.uint8, "L"), ((6, 4, 3), np.uint8, "RGB"), ((3, 9, 4), np.uint8, "RGBA"), ((8, 5), np.uint16, "I;16")],
)
def test_round_trip_through_pillow(shape, dtype, mode):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    arr.flat[0], arr.flat[-1] = np.iinfo(dtype).max, 0  # both extremes present
    data = encode_png(arr)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    im = Image.open(io.BytesIO(data))
    assert im.mode == mode and im.size == (shape[1], shape[0])
    np.testing.assert_array_equal(decode(data).astype(dtype), arr)


def test_heatmaps_decode_exactly_and_stay_small():
    """A realistic heatmap (a hot blob on zeros): both stored forms decode to the same values
    and compress about as well as Pillow's own (filter-searching) encoder."""
    yy, xx = np.mgrid[:256, :256]
    heat = np.clip(1.2 - np.hypot(yy - 120, xx - 140) / 40.0, 0, 1).astype(np.float32)
    for arr in (colorize(heat), encode_heat16(heat)):
        data = encode_png(arr)
        np.testing.assert_array_equal(decode(data), arr)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
        assert len(data) < 1.3 * len(buf.getvalue())


def test_chunks_are_valid_and_truncation_is_detected():
    """The chunks carry valid CRCs (Pillow verifies them); a truncated file fails to decode."""
    data = encode_png(np.arange(64, dtype=np.uint8).reshape(8, 8))
    Image.open(io.BytesIO(data)).verify()
    with pytest.raises(Exception):
        decode(data[: len(data) // 2])


@pytest.mark.parametrize("arr", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8), np.zeros(4, np.uint8)])
def test_unsupported_arrays_are_refused(arr):
    with pytest.raises(ValueError, match="encode_png"):
        encode_png(arr)
