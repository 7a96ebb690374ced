"""Small smooth 1-D/2-D primitives used to sculpt the built-in head and the AU rig."""

from __future__ import annotations

import numpy as np


def catmull_rom(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """C1 cubic interpolation through (xp, fp) (xp increasing), flat beyond the ends."""
    xp = np.asarray(xp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    x = np.clip(np.asarray(x, dtype=np.float64), xp[0], xp[-1])
    # Finite-difference tangents (non-uniform Catmull-Rom).
    m = np.empty_like(fp)
    m[1:-1] = (fp[2:] - fp[:-2]) / (xp[2:] - xp[:-2])
    m[0] = (fp[1] - fp[0]) / (xp[1] - xp[0])
    m[-1] = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    k = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    h = xp[k + 1] - xp[k]
    t = (x - xp[k]) / h
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * fp[k]
        + (t3 - 2 * t2 + t) * h * m[k]
        + (-2 * t3 + 3 * t2) * fp[k + 1]
        + (t3 - t2) * h * m[k + 1]
    )


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    """0 below e0, 1 above e1, C1 in between (e0 > e1 reverses the ramp)."""
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def gauss2(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    """Axis-aligned Gaussian bump of height 1."""
    return np.exp(-(((x - cx) / sx) ** 2) - ((y - cy) / sy) ** 2)


def wendland(r: np.ndarray) -> np.ndarray:
    """Compactly supported smooth falloff: 1 at r=0, exactly 0 for r >= 1 (C2)."""
    r = np.clip(np.asarray(r, dtype=np.float64), 0.0, 1.0)
    return (1 - r) ** 4 * (4 * r + 1)


def smin(a: np.ndarray, b: np.ndarray, s: float) -> np.ndarray:
    """Smooth minimum (log-sum-exp) with softness s in the units of a and b."""
    m = np.minimum(a, b)
    return m - s * np.log(np.exp(-(a - m) / s) + np.exp(-(b - m) / s))


def segment_distance(px, py, ax, ay, bx, by) -> np.ndarray:
    """Distance from points (px, py) to the segment a-b in 2-D."""
    vx, vy = bx - ax, by - ay
    t = np.clip(((px - ax) * vx + (py - ay) * vy) / (vx * vx + vy * vy), 0.0, 1.0)
    return np.hypot(px - (ax + t * vx), py - (ay + t * vy))
