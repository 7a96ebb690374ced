"""The FACS AU rig: anatomically placed, intensity-scaled, composable deformations.

Each AU is a set of ``Mover``s (a smooth, compactly supported push of skin placed relative to
the face's landmarks, following FACS: AU4 pulls the brows down and together, AU6 raises the
cheeks, AU9 lifts the nasal wings, AU10 the upper lip, ...) plus eyelid rotations about the
eyeball centres (AU43 closes the upper lid; AU6/AU7 raise the lower lid, and a closing upper
lid stops on a raised lower one). Rotating lids about the eyeball centre keeps them on their
shells, so they never pass through the eyeballs.
Works on any ``FaceModel`` (built-in head or FLAME): placement comes from its landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .curves import smoothstep, wendland
from .face_model import FaceModel, skin_mask, vermilion_heights
from .facs import validate_aus


@dataclass(frozen=True)
class Mover:
    """Skin push at full intensity (FACS level E = 5).

    anchor: where the push is centred: (landmark frame, dx, dy) with dx mirrored per side when
    ``bilateral``; radius: (rx, ry) mm of the compact support; shift: (dx, dy, dz) mm, dx
    pointing away from the midline on each side; only: "above"/"below" the lip line, "upper
    vermilion" (the upper lip's red, from the lip line to its border) or None.
    """

    frame: str
    dx: float
    dy: float
    rx: float
    ry: float
    shift: tuple[float, float, float]
    bilateral: bool = True
    only: str | None = None
    ramp: bool = False  # lift the upper lip: weight falls linearly from the lip line to the nose base
    ripple: float = 0.0  # > 0: the push comes in horizontal furrows this many mm apart (wrinkles)


# frames: "eyes" (midpoint of the eyes, dx from the eye centre when bilateral),
# "nose" (nose tip), "mouth" (lip line centre; dx from the lip corner when bilateral).
AU_MOVERS: dict[str, tuple[Mover, ...]] = {
    "AU4": (
        Mover("eyes", -12.0, 14.0, 22.0, 22.0, (-3.0, -6.5, 0.8)),
        Mover("eyes", 4.0, 15.0, 24.0, 20.0, (-1.5, -4.5, 0.0)),
        Mover("eyes", -27.0, 10.0, 3.5, 9.0, (0.0, 0.0, -1.2)),  # glabellar furrows
        Mover("eyes", 0.0, 3.0, 7.0, 6.0, (0.0, -1.0, 1.2), bilateral=False),
    ),
    "AU6": (
        Mover("eyes", 3.0, -21.0, 20.0, 14.0, (0.0, 5.0, 2.0)),
        Mover("eyes", 0.0, -12.0, 15.0, 9.0, (0.0, 2.5, 1.0)),
        Mover("eyes", 17.0, 0.0, 5.0, 9.0, (0.0, 0.0, -0.8)),  # crow's feet
        Mover("eyes", 0.0, -7.0, 14.0, 4.5, (0.0, 0.6, 1.2)),  # the lid-cheek junction bulges up and forward
    ),
    "AU7": (
        Mover("eyes", 0.0, -10.5, 13.0, 8.0, (0.0, 1.6, 1.5)),
        Mover("eyes", 0.0, 8.0, 12.0, 11.0, (0.0, -1.2, 0.0)),
        Mover("eyes", 0.0, -6.5, 12.0, 4.0, (0.0, 0.5, 1.0)),  # the tightened lower lid bunches up
    ),
    "AU9": (
        Mover("nose", 6.0, 22.0, 8.0, 12.0, (0.0, 4.5, 0.5)),
        Mover("nose", 0.0, 26.0, 5.0, 5.0, (0.0, 1.0, -0.8), bilateral=False),
        Mover("nose", 0.0, 20.0, 11.0, 9.0, (0.0, 0.0, -1.0), bilateral=False, ripple=4.0),  # root wrinkles
        Mover("nose", 13.0, -4.0, 10.0, 16.0, (0.0, 4.5, 1.2)),  # alae raised
        Mover("nose", 17.0, -12.0, 5.0, 11.0, (0.0, 2.0, -1.2)),  # nasolabial furrow, upper end
        Mover("nose", 5.0, -5.0, 8.0, 11.0, (0.0, 3.0, 0.0)),  # nostrils raised with the alae
        # the upper lip, raised across its width: the muscle's labial slip inserts beside the alae
        Mover("mouth", 0.0, 5.0, 22.0, 9.0, (0.0, 5.0, 0.5), bilateral=False, only="above", ramp=True),
        Mover("eyes", -12.0, 14.0, 22.0, 22.0, (0.0, -2.0, 0.0)),
    ),
    "AU10": (
        Mover("mouth", 0.0, 4.0, 20.0, 14.0, (0.0, 7.0, 1.5), bilateral=False, only="above", ramp=True),
        Mover("mouth", -8.0, 14.0, 8.0, 10.0, (0.0, 2.5, 1.8)),  # the nasolabial bulge
        Mover("nose", 5.0, -5.0, 8.0, 11.0, (0.0, 1.5, 0.0)),  # nostril wings raised
    ),
    "AU43": (Mover("eyes", 0.0, 8.0, 12.0, 11.0, (0.0, -1.5, 0.0)),),
    "AU1": (Mover("eyes", -12.0, 14.0, 14.0, 14.0, (0.0, 5.0, 0.0)),),
    "AU2": (Mover("eyes", 10.0, 13.0, 14.0, 12.0, (0.0, 5.0, 0.0)),),
    "AU12": (Mover("mouth", 0.0, 0.0, 17.0, 15.0, (3.0, 5.0, -2.0)),),
    "AU15": (Mover("mouth", 0.0, -1.0, 12.0, 10.0, (1.0, -4.0, 0.0)),),
    "AU25": (
        Mover("mouth", 0.0, -5.0, 26.0, 10.0, (0.0, -3.5, 0.0), bilateral=False, only="below"),
        Mover("mouth", 0.0, 3.0, 22.0, 6.0, (0.0, 1.0, 0.0), bilateral=False, only="upper vermilion"),
    ),
    "AU26": (),  # jaw rotation, see JAW_DROP_DEG
}
JAW_DROP_DEG = 9.0  # jaw rotation at AU26 = 5
RAMP_MM = 14.0  # the upper lip's lift ramps up over at least this many mm below the nose
LIP_EVERSION = 0.35  # AU9/AU10: how much less the upper lip's free edge rises than its border


def eyelid_fractions(aus: Mapping[str, float]) -> tuple[float, float]:
    """(upper, lower) fractions of full lid travel for an AU configuration.

    AU43 closes the upper lid; AU6 and AU7 narrow the eye from below. FACS has AU7 lower the upper
    lid only slightly (7.5 % of its travel at AU7 = 5) and AU6 not at all: a lower upper lid reads
    to a landmark tracker as a closing eye, AU43. A lowered brow (AU4) presses it down a little.
    """
    au = lambda k: float(aus.get(k, 0.0))  # noqa: E731
    upper = np.clip(au("AU43") + 0.015 * au("AU7") + 0.02 * au("AU4"), 0.0, 1.0)
    lower = np.clip(0.16 * au("AU7") + 0.15 * au("AU6"), 0.0, 0.9)
    return float(upper), float(lower)


class AURig:
    """Poses an identity of a face model with AU intensities: ``rig(neutral, aus) -> posed``.

    Per identity, call ``bind(neutral_vertices)`` once; the returned ``BoundRig`` holds the
    movers' weights, so posing many expressions of that identity is cheap.
    """

    def __init__(self, model: FaceModel) -> None:
        self.model = model
        self._skin = skin_mask(model)
        # Per eye, the lower lid's full travel over the upper's (at their margins): a raised
        # lower lid stops a closing upper lid that much earlier.
        travel = {(lid.side, lid.kind): float(np.max(lid.closure)) for lid in model.eyelids()}
        self._lid_ratio = {side: travel[(side, "lower")] / travel[(side, "upper")] for side, kind in travel if kind == "upper"}

    def bind(self, neutral: np.ndarray) -> "BoundRig":
        return BoundRig(self, np.asarray(neutral, dtype=np.float32))

    def __call__(self, neutral: np.ndarray, aus: Mapping[str, float]) -> np.ndarray:
        return self.bind(neutral).pose(aus)


class BoundRig:
    """An AURig bound to one identity's neutral vertices."""

    def __init__(self, rig: AURig, neutral: np.ndarray) -> None:
        self.rig = rig
        self.neutral = neutral
        lm = rig.model.landmarks(neutral)
        self.landmarks = lm
        le, re = lm["left_eye"], lm["right_eye"]
        mid = 0.5 * (le + re)
        v = neutral.astype(np.float64)
        x, y, z = v[:, 0] - mid[0], v[:, 1], v[:, 2]
        self._front = smoothstep(mid[2] - 25.0, mid[2] - 10.0, z) * rig._skin
        self._x, self._y = x, y
        self._mid = mid
        self._half = 0.5 * abs(le[0] - re[0])
        mouth_y = lm["mouth_center"][1]
        self._mouth_y = mouth_y
        self._mouth_half = 0.5 * abs(lm["mouth_left"][0] - lm["mouth_right"][0])
        self._lip_top = mouth_y + vermilion_heights(lm)[0]  # upper vermilion border
        # One displacement field per AU at full intensity, made the first time the AU is posed
        # (an identity's expressions use the pain AUs; distractors only when asked for).
        self._fields: dict[str, np.ndarray] = {}
        self._jaw_w = self._jaw_weights()

    def _field(self, movers: tuple[Mover, ...]) -> np.ndarray:
        x, y = self._x, self._y
        lm = self.landmarks
        out = np.zeros((len(x), 3))
        for m in movers:
            if m.frame == "eyes":
                cy0, cx0 = self._mid[1], self._half
            elif m.frame == "nose":
                cy0, cx0 = lm["nose_tip"][1], 0.0
            else:
                cy0, cx0 = self._mouth_y, self._mouth_half
            sides = (1.0, -1.0) if m.bilateral else (1.0,)
            for s in sides:
                cx = s * (cx0 + m.dx) if m.bilateral else m.dx
                if m.ramp:
                    # Full lift from the vermilion border down; the philtrum above stretches.
                    top = lm["nose_tip"][1] - 7.0
                    # Over at least RAMP_MM, so even AU9 + AU10 at full lift (12 mm) cannot
                    # push a row of skin past the one above it.
                    ry = np.clip((top - y) / max(top - self._lip_top, RAMP_MM), 0.0, 1.0)
                    # The raised upper lip everts (turns out): its border rises fully, its free
                    # edge at the lip line by 1 - LIP_EVERSION of that, so more red shows.
                    ev = 1.0 - LIP_EVERSION * np.clip((self._lip_top - y) / max(self._lip_top - self._mouth_y, 1.0), 0.0, 1.0)
                    w = wendland(np.abs(x - cx) / m.rx) * ry * ev * smoothstep(self._mouth_y - 12.0, self._mouth_y - 2.0, y)
                else:
                    r = np.sqrt(((x - cx) / m.rx) ** 2 + ((y - (cy0 + m.dy)) / m.ry) ** 2)
                    w = wendland(r)
                    if m.ripple:
                        w = w * 0.5 * (1.0 + np.cos(2 * np.pi * (y - (cy0 + m.dy)) / m.ripple))
                w = w * self._front
                if m.only in ("above", "upper vermilion"):
                    w = w * smoothstep(self._mouth_y - 0.5, self._mouth_y + 1.0, y)
                if m.only == "upper vermilion":
                    # The red of the upper lip alone: the skin above its border stays, where
                    # AU9's and AU10's lift already ramps up as steeply as it can.
                    w = w * smoothstep(self._lip_top + 1.0, self._lip_top - 1.0, y)
                elif m.only == "below":
                    w = w * smoothstep(self._mouth_y + 0.5, self._mouth_y - 1.0, y)
                sx = m.shift[0] * (s if m.bilateral else 1.0)
                out += w[:, None] * np.array([sx, m.shift[1], m.shift[2]])
        return out

    def _jaw_weights(self) -> np.ndarray:
        x, y = self._x, self._y
        my = self._mouth_y
        # Sharp split at the lip line inside the mouth, softer beyond its corners.
        width = 1.0 + 14.0 * smoothstep(self._mouth_half - 8, self._mouth_half + 12, np.abs(x))
        below = np.clip(0.5 - (y - my) / (2 * width), 0.0, 1.0)
        chin_y = self.landmarks["chin"][1]
        fade = smoothstep(chin_y - 75, chin_y - 5, y)  # the neck stays put
        back = smoothstep(self._mid[2] - 110.0, self._mid[2] - 40.0, self.neutral[:, 2].astype(np.float64))
        return below * fade * back * self.rig._skin

    def pose(self, aus: Mapping[str, float]) -> np.ndarray:
        """(V, 3) float32 vertices of this identity with the given AU intensities."""
        aus = validate_aus(aus)
        v = self.neutral.astype(np.float64).copy()
        for au, movers in AU_MOVERS.items():
            level = aus.get(au, 0.0)
            if level and movers:
                if au not in self._fields:
                    self._fields[au] = self._field(movers)
                scale = level / (1.0 if au == "AU43" else 5.0)
                v += scale * self._fields[au]
        jaw = aus.get("AU26", 0.0)
        if jaw:
            ang = np.radians(JAW_DROP_DEG) * jaw / 5.0 * self._jaw_w
            pivot = np.array([0.0, self._mid[1] - 20.0, self._mid[2] - 85.0])
            p = self.neutral - pivot
            c, s = np.cos(ang), np.sin(ang)
            # Rotate about +x so the chin swings down and back.
            ny = c * p[:, 1] - s * p[:, 2]
            nz = s * p[:, 1] + c * p[:, 2]
            v[:, 1] += ny - p[:, 1]
            v[:, 2] += nz - p[:, 2]
        up, low = eyelid_fractions(aus)
        for lid in self.rig.model.eyelids():
            # Closing lids meet where the lower one is: squeezed shut (AU6/AU7 with AU43), the
            # upper lid stops on the raised lower lid, so the closed eye's lash line sits higher.
            frac = min(up, 1.0 - low * self.rig._lid_ratio[lid.side]) if lid.kind == "upper" else low
            if frac <= 0:
                continue
            centre = self.landmarks[f"{lid.side}_eye"]
            # Elevation a -> a + delta (down for the upper lid, up for the lower one).
            delta = (-1.0 if lid.kind == "upper" else 1.0) * frac * lid.closure.astype(np.float64)
            p = v[lid.indices] - centre
            c, s = np.cos(delta), np.sin(delta)
            y2 = c * p[:, 1] + s * p[:, 2]
            z2 = c * p[:, 2] - s * p[:, 1]
            v[lid.indices, 1] = centre[1] + y2
            v[lid.indices, 2] = centre[2] + z2
        return v.astype(np.float32)
