"""Slow, obviously correct numpy rasterizer: the yardstick the fast one is tested against.

Same inputs, outputs and rules as ``rasterizer.rasterize`` (pixel-centre sampling, top-left
ties, negative pixel-space area = front-facing, strict depth test in face order), written as
plain per-triangle numpy over the pixels of the triangle's bounding box.
"""

from __future__ import annotations

import numpy as np

from .cameras import NEAR_MM
from .rasterizer import Fragments, check_inputs


def _top_left(dx: float, dy: float) -> bool:
    """Top-left rule for an edge of a positively oriented triangle in y-down pixel space."""
    return dy < 0 or (dy == 0 and dx > 0)


def rasterize_reference(
    screen_verts: np.ndarray,
    faces: np.ndarray,
    height: int,
    width: int,
    cull_backfaces: bool = True,
) -> Fragments:
    """Rasterize like ``rasterize`` but one triangle at a time in numpy (slow, for tests)."""
    sv = np.asarray(screen_verts, dtype=np.float32).astype(np.float64)
    faces = np.asarray(faces, dtype=np.int32)
    check_inputs(sv, faces, height, width)
    face_idx = np.full((height, width), -1, dtype=np.int32)
    depth = np.full((height, width), np.inf, dtype=np.float32)
    bary = np.zeros((height, width, 3), dtype=np.float32)
    for f, tri in enumerate(faces):
        p = sv[tri]  # (3, 3): px, py, depth
        if (p[:, 2] <= NEAR_MM).any():
            continue
        (x0, y0), (x1, y1), (x2, y2) = p[:, :2]
        area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
        if area == 0 or (cull_backfaces and area > 0):
            continue
        if area < 0:  # re-order to positive orientation, remembering where each vertex went
            order = np.array([0, 2, 1])
        else:
            order = np.array([0, 1, 2])
        q = p[order]
        cols = np.arange(width) + 0.5
        rows = np.arange(height) + 0.5
        cols = cols[(cols >= q[:, 0].min()) & (cols <= q[:, 0].max())]
        rows = rows[(rows >= q[:, 1].min()) & (rows <= q[:, 1].max())]
        if not len(cols) or not len(rows):
            continue
        px, py = np.meshgrid(cols, rows)
        inside = np.ones(px.shape, dtype=bool)
        lam = np.empty((3,) + px.shape)
        for k in range(3):  # edge k runs from vertex k+1 to vertex k+2, opposite vertex k
            a, b = q[(k + 1) % 3], q[(k + 2) % 3]
            e = (b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0])
            inside &= (e > 0) | ((e == 0) & _top_left(b[0] - a[0], b[1] - a[1]))
            lam[k] = e
        lam /= lam.sum(axis=0)  # screen-space barycentrics
        w = lam / q[:, 2][:, None, None]  # lambda_k / z_k is linear in screen space
        z = 1.0 / w.sum(axis=0)
        r = (rows[:, None] - 0.5).astype(int) * np.ones_like(px, dtype=int)
        c = (cols[None, :] - 0.5).astype(int) * np.ones_like(px, dtype=int)
        win = inside & (z < depth[r, c])
        r, c = r[win], c[win]
        depth[r, c] = z[win]
        face_idx[r, c] = f
        b = (w * z)[:, win].T  # (n, 3) in the re-ordered vertex order
        bary[r, c, order[0]] = b[:, 0]
        bary[r, c, order[1]] = b[:, 1]
        bary[r, c, order[2]] = b[:, 2]
    return Fragments(face_idx, depth, bary)
