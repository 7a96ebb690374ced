"""Perspective cameras orbiting a target, and the pixel conventions every renderer stage shares.

World space is the project's head frame (millimetres; +x subject's left, +y up, +z out of the
face). View space is OpenCV-like: +x image right, +y image down, +z forward along the optical
axis, so a visible point has positive view depth. Pixel (row i, column j) covers
[j, j+1) x [i, i+1) and is sampled at its centre (j + 0.5, i + 0.5).

Orbit convention: at yaw = pitch = 0 the camera sits on +z looking at the target (a frontal
portrait, the subject's left on image right). Positive yaw moves the camera round the +y axis
towards +x, the subject's LEFT side: the subject's left cheek turns towards the camera and the
nose tip moves to image LEFT. Positive pitch moves the camera up (looking down at the face).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

# Points at or behind this view depth (mm) cannot be projected; the rasterizer drops
# triangles that touch them instead of clipping (a head never comes this close).
NEAR_MM = 1.0


@dataclass(frozen=True)
class PerspectiveCamera:
    """A pinhole camera on a sphere of radius ``distance`` (mm) around ``target``.

    fov_deg is the vertical field of view; image_size is an int (square) or (height, width).
    """

    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    distance: float = 500.0
    fov_deg: float = 25.0
    image_size: int | tuple[int, int] = 256
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        h, w = self.height, self.width
        if h <= 0 or w <= 0:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        if not 0.0 < self.fov_deg < 180.0:
            raise ValueError(f"fov_deg must be in (0, 180), got {self.fov_deg}")
        if self.distance <= NEAR_MM:
            raise ValueError(f"distance must exceed {NEAR_MM} mm, got {self.distance}")
        if abs(self.pitch_deg) >= 90.0:
            raise ValueError(f"pitch_deg must be in (-90, 90), got {self.pitch_deg}")
        if len(self.target) != 3:
            raise ValueError(f"target must have 3 coordinates, got {len(self.target)}")

    @property
    def height(self) -> int:
        """Image height in pixels."""
        s = self.image_size
        return int(s) if np.isscalar(s) else int(s[0])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        s = self.image_size
        return int(s) if np.isscalar(s) else int(s[1])

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (square pixels), from the vertical field of view."""
        return 0.5 * self.height / np.tan(np.radians(self.fov_deg) / 2.0)

    @property
    def principal_point(self) -> tuple[float, float]:
        """(px, py) where the optical axis meets the image: the image centre."""
        return 0.5 * self.width, 0.5 * self.height

    @property
    def position(self) -> np.ndarray:
        """(3,) float64 camera centre in world space (mm)."""
        yaw, pitch = np.radians(self.yaw_deg), np.radians(self.pitch_deg)
        offset = np.array(
            [np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)]
        )
        return np.asarray(self.target, dtype=np.float64) + self.distance * offset

    def rotation_translation(self) -> tuple[np.ndarray, np.ndarray]:
        """(R (3, 3), t (3,)) float64 with x_view = R @ x_world + t; R rows: right, down, forward."""
        # Closed form of right = forward x up (normalised), down = forward x right, with
        # forward = -(sy cp, sp, cy cp) pointing from the camera at the target.
        sy, cy = math.sin(math.radians(self.yaw_deg)), math.cos(math.radians(self.yaw_deg))
        sp, cp = math.sin(math.radians(self.pitch_deg)), math.cos(math.radians(self.pitch_deg))
        rot = np.array(
            [
                [cy, 0.0, -sy],  # right
                [sp * sy, -cp, sp * cy],  # down
                [-sy * cp, -sp, -cy * cp],  # forward
            ]
        )
        return rot, -rot @ self.position

    def world_to_view(self) -> np.ndarray:
        """(4, 4) float64 homogeneous world-to-view matrix (see ``rotation_translation``)."""
        rot, t = self.rotation_translation()
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = rot, t
        return m

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) float32 [pixel x (right), pixel y (down), view depth mm].

        Depth is the distance along the optical axis (view z), not the Euclidean distance.
        Points at or behind the camera get meaningless pixel coordinates and depth <= 0.
        """
        points = np.asarray(points)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"points must have shape (N, 3), got {points.shape}")
        rot, t = self.rotation_translation()
        cx, cy = self.principal_point
        out = np.empty((len(points), 3), dtype=np.float32)
        _project_kernel(np.ascontiguousarray(points), rot, t, self.focal_px, cx, cy, out)
        return out

    def pixel_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """(origin (3,), directions (H, W, 3)) world-space rays through every pixel centre.

        Directions are scaled so that their view-space z is 1 (t along the ray = view depth).
        """
        rot, _ = self.rotation_translation()
        f = self.focal_px
        cx, cy = self.principal_point
        jj, ii = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
        d_view = np.stack([(jj - cx) / f, (ii - cy) / f, np.ones_like(jj)], axis=-1)
        return self.position, d_view @ rot  # rot.T maps view to world; row-vector form


@numba.njit(cache=True, nogil=True)
def _project_kernel(points, rot, t, f, cx, cy, out):  # pragma: no cover - numba
    """out[n] = [f x / z + cx, f y / z + cy, z] of view point (x, y, z) = rot @ points[n] + t."""
    for n in range(points.shape[0]):
        p0, p1, p2 = float(points[n, 0]), float(points[n, 1]), float(points[n, 2])
        x = rot[0, 0] * p0 + rot[0, 1] * p1 + rot[0, 2] * p2 + t[0]
        y = rot[1, 0] * p0 + rot[1, 1] * p1 + rot[1, 2] * p2 + t[1]
        z = rot[2, 0] * p0 + rot[2, 1] * p1 + rot[2, 2] * p2 + t[2]
        zs = z if abs(z) > 1e-12 else 1e-12
        out[n, 0] = f * x / zs + cx
        out[n, 1] = f * y / zs + cy
        out[n, 2] = z


def default_views(n: int) -> tuple[float, ...]:
    """Yaw angles (degrees) for n views: 1 -> (0,), 3 -> (-30, 0, 30), else evenly in [-45, 45]."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n == 1:
        return (0.0,)
    if n == 3:
        return (-30.0, 0.0, 30.0)
    return tuple(float(y) for y in np.linspace(-45.0, 45.0, n))
