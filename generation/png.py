"""A minimal PNG encoder for the generator's heatmaps: unfiltered scanlines + zlib.

The dataset stores two PNGs per pain frame (colour heatmap, 16-bit heat). Pillow's encoder
tries every PNG filter on every row, which costs about 1 ms per 256² image; heatmaps are mostly
exactly zero, so unfiltered rows compress as well (within a few per cent) at a third of the
time. The files are ordinary PNGs (PNG 1.2: IHDR, one IDAT, IEND) that any decoder reads.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)
ZLIB_LEVEL = 1


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(arr: np.ndarray, level: int = ZLIB_LEVEL) -> bytes:
    """PNG bytes of ``arr``: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA, uint8 or uint16
    (16-bit samples are stored big-endian, as PNG requires); decodes to exactly ``arr``."""
    arr = np.asarray(arr)
    if arr.dtype not in (np.uint8, np.uint16) or arr.ndim not in (2, 3):
        raise ValueError(f"encode_png needs an (H, W[, C]) uint8 or uint16 array, got {arr.dtype} {arr.shape}")
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    if channels not in COLOUR_TYPES:
        raise ValueError(f"encode_png needs 1, 3 or 4 channels, got {channels}")
    h, w = arr.shape[:2]
    depth = 8 * arr.dtype.itemsize
    rows = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder(">")).view(np.uint8).reshape(h, -1)
    lines = np.zeros((h, rows.shape[1] + 1), np.uint8)  # first byte of each line: filter 0 (none)
    lines[:, 1:] = rows
    header = struct.pack(">IIBBBBB", w, h, depth, COLOUR_TYPES[channels], 0, 0, 0)
    idat = zlib.compress(lines.tobytes(), level)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


__all__ = ["encode_png"]
