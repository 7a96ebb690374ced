"""Fast z-buffer triangle rasterizer (numba) producing per-pixel fragments.

Sampling: one sample per pixel at its centre (j + 0.5, i + 0.5). Ties (a centre exactly on an
edge) follow the top-left rule of Direct3D: a centre on a shared edge belongs to exactly one of
the two triangles; a pixel-aligned rectangle [x0, x1) x [y0, y1) covers the centres c with
x0 <= c < x1 and y0 <= c < y1. Edge functions of a shared edge are evaluated in one canonical
vertex order, so the two triangles see bitwise-opposite values (no cracks, no double hits).

Winding: mesh faces are counter-clockwise seen from outside. Because pixel y points down, a
face turned towards the camera has NEGATIVE signed area
``(x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)`` in pixel coordinates (it still looks
counter-clockwise on the displayed image). With ``cull_backfaces`` faces with non-negative
signed area are dropped. Triangles with any vertex at view depth <= NEAR_MM are dropped (no
clipping). Depth is interpolated perspective-correctly (1/z is linear in screen space), and
the depth test is strict (<): on exactly equal depth the earlier face wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .cameras import NEAR_MM


@dataclass(frozen=True)
class Fragments:
    """What the rasterizer found at each pixel; the contract between rasterizer and shaders.

    face_idx: (H, W) int32 index of the nearest visible face; -1 where the pixel is empty.
    depth: (H, W) float32 view depth (mm along the optical axis) of that face at the pixel
        centre; +inf where empty.
    bary: (H, W, 3) float32 perspective-correct barycentric weights of the face's three
        vertices (sum to 1); 0 where empty.
    """

    face_idx: np.ndarray
    depth: np.ndarray
    bary: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool, True where a face covers the pixel centre."""
        return self.face_idx >= 0

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return self.face_idx.shape


def check_inputs(screen_verts: np.ndarray, faces: np.ndarray, height: int, width: int) -> None:
    """Raise ValueError with expected and actual shapes when rasterizer inputs are malformed."""
    if screen_verts.ndim != 2 or screen_verts.shape[1] != 3:
        raise ValueError(f"screen_verts must have shape (V, 3), got {screen_verts.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(screen_verts)):
        raise ValueError(
            f"faces index vertices in [0, {len(screen_verts)}), got [{faces.min()}, {faces.max()}]"
        )
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got ({height}, {width})")


def rasterize(
    screen_verts: np.ndarray,
    faces: np.ndarray,
    height: int,
    width: int,
    cull_backfaces: bool = True,
) -> Fragments:
    """Rasterize (V, 3) [px, py, depth] vertices and (F, 3) faces into (height, width) fragments."""
    screen_verts = np.ascontiguousarray(screen_verts, dtype=np.float32)
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    check_inputs(screen_verts, faces, height, width)
    face_idx = np.empty((height, width), dtype=np.int32)
    depth = np.empty((height, width), dtype=np.float32)
    bary = np.empty((height, width, 3), dtype=np.float32)
    _rasterize_kernel(screen_verts, faces, bool(cull_backfaces), face_idx, depth, bary)
    return Fragments(face_idx, depth, bary)


@numba.njit(cache=True, inline="always")
def _is_top_left(dx: float, dy: float) -> bool:
    """Top-left rule for an edge direction of a positively oriented (y-down) triangle."""
    return dy < 0.0 or (dy == 0.0 and dx > 0.0)


@numba.njit(cache=True, inline="always")
def _canonical_edge(vx, vy, ia, ib, sign):
    """(s, ax, ay, dx, dy) of edge ia -> ib with its endpoints in ascending index order."""
    if ia < ib:
        return sign, vx[ia], vy[ia], vx[ib] - vx[ia], vy[ib] - vy[ia]
    return -sign, vx[ib], vy[ib], vx[ia] - vx[ib], vy[ia] - vy[ib]


@numba.njit(cache=True, nogil=True)
def _rasterize_kernel(sv, faces, cull, face_idx, depth, bary):  # pragma: no cover - numba
    """Fill face_idx/depth/bary in place; see the module docstring for the rules."""
    h, w = face_idx.shape
    for i in range(h):
        for j in range(w):
            face_idx[i, j] = -1
            depth[i, j] = np.inf
            bary[i, j, 0] = 0.0
            bary[i, j, 1] = 0.0
            bary[i, j, 2] = 0.0
    nv = sv.shape[0]
    vx = np.empty(nv, dtype=np.float64)
    vy = np.empty(nv, dtype=np.float64)
    for v in range(nv):
        vx[v] = sv[v, 0]
        vy[v] = sv[v, 1]
    for f in range(faces.shape[0]):
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        z0, z1, z2 = sv[i0, 2], sv[i1, 2], sv[i2, 2]
        if z0 <= NEAR_MM or z1 <= NEAR_MM or z2 <= NEAR_MM:
            continue
        x0, y0, x1, y1, x2, y2 = vx[i0], vy[i0], vx[i1], vy[i1], vx[i2], vy[i2]
        area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
        if area == 0.0 or (cull and area > 0.0) or not np.isfinite(area):
            continue
        sign = 1.0 if area > 0.0 else -1.0
        # Pixel columns/rows whose centres can lie inside the bounding box.
        # Clamped as floats first so far-off vertices cannot overflow the int conversion.
        xmin = int(max(np.ceil(min(x0, x1, x2) - 0.5), 0.0))
        xmax = int(min(np.floor(max(x0, x1, x2) - 0.5), w - 1.0))
        ymin = int(max(np.ceil(min(y0, y1, y2) - 0.5), 0.0))
        ymax = int(min(np.floor(max(y0, y1, y2) - 0.5), h - 1.0))
        if xmin > xmax or ymin > ymax:
            continue
        # Tie rule per edge, in the triangle's positive orientation. Edge k is opposite vertex k.
        tl0 = _is_top_left(sign * (x2 - x1), sign * (y2 - y1))
        tl1 = _is_top_left(sign * (x0 - x2), sign * (y0 - y2))
        tl2 = _is_top_left(sign * (x1 - x0), sign * (y1 - y0))
        # Each edge a -> b is evaluated as s * ((bx - ax) (py - ay) - (by - ay) (px - ax)) with
        # (a, b) in canonical order (smaller vertex index first) and s = +-1 undoing the swap
        # and the orientation: a shared edge yields bitwise-opposite values in its two faces.
        s0, ax0, ay0, dx0, dy0 = _canonical_edge(vx, vy, i1, i2, sign)
        s1, ax1, ay1, dx1, dy1 = _canonical_edge(vx, vy, i2, i0, sign)
        s2, ax2, ay2, dx2, dy2 = _canonical_edge(vx, vy, i0, i1, sign)
        iz0, iz1, iz2 = 1.0 / z0, 1.0 / z1, 1.0 / z2
        for i in range(ymin, ymax + 1):
            py = i + 0.5
            r0, r1, r2 = dx0 * (py - ay0), dx1 * (py - ay1), dx2 * (py - ay2)
            for j in range(xmin, xmax + 1):
                px = j + 0.5
                e0 = s0 * (r0 - dy0 * (px - ax0))
                if e0 < 0.0 or (e0 == 0.0 and not tl0):
                    continue
                e1 = s1 * (r1 - dy1 * (px - ax1))
                if e1 < 0.0 or (e1 == 0.0 and not tl1):
                    continue
                e2 = s2 * (r2 - dy2 * (px - ax2))
                if e2 < 0.0 or (e2 == 0.0 and not tl2):
                    continue
                w0, w1, w2 = e0 * iz0, e1 * iz1, e2 * iz2
                s = w0 + w1 + w2
                if s <= 0.0:
                    continue
                z = (e0 + e1 + e2) / s
                if z < depth[i, j]:
                    depth[i, j] = z
                    face_idx[i, j] = f
                    inv = 1.0 / s
                    bary[i, j, 0] = w0 * inv
                    bary[i, j, 1] = w1 * inv
                    bary[i, j, 2] = w2 * inv
