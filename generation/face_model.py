"""The contract between a face model (built-in head, FLAME, ...) and the AU rig.

A face model turns identity parameters into a neutral mesh and tells the rig where the
anatomy is: named landmarks (3D points) and the eyelids (which vertices rotate about the
eyeball centre, and by how much, to close the eye).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .mesh import Mesh

# Landmarks every face model returns from ``landmarks(vertices)``; millimetres, (3,) each.
LANDMARK_NAMES = (
    "left_eye",  # eyeball centre, subject's left (+x)
    "right_eye",
    "nose_root",  # deepest point of the nasal bridge, between the eyes
    "nose_tip",
    "mouth_center",  # centre of the lip line
    "mouth_left",  # lip corner, subject's left (+x)
    "mouth_right",
    "chin",
)


# Where an eyeball's colours change, as polar angles from its gaze axis (radians): pupil to
# iris, the iris's darker inner ring, iris to limbal ring, limbal ring to sclera. The texture
# paints by them; a mesh that puts a vertex ring tight on either side of each (the built-in
# head does) renders each edge as a circle, where rings between them drew the pupil as a star.
EYE_COLOUR_EDGES = (0.17, 0.3, 0.45, 0.5)


@dataclass(frozen=True)
class Eyelid:
    """One eyelid as a set of vertices that rotate about the eyeball centre.

    side: "left" or "right"; kind: "upper" or "lower".
    indices: (K,) int32 mesh vertex indices of the lid.
    closure: (K,) float32 radians; rotating vertex k about the eye's horizontal axis
        (+x through the eyeball centre) by ``closure[k]`` (upper lid: downwards, lower lid:
        upwards) brings it to where it sits when the eye is fully closed. 0 where the lid
        joins the brow or cheek, largest at the lid margin.
    """

    side: str
    kind: str
    indices: np.ndarray
    closure: np.ndarray


@runtime_checkable
class FaceModel(Protocol):
    """What the rig, the appearance and the generator need from a face model."""

    name: str
    n_shape: int  # length of the identity parameter vector

    def template(self) -> Mesh:
        """Topology, regions and components (vertex positions of the mean identity)."""
        ...

    def identity(
        self, shape: np.ndarray, age: float = 0.0, gender: float = 0.0, ethnicity: str | None = None
    ) -> np.ndarray:
        """(V, 3) float32 neutral vertices for identity parameters ``shape`` (n_shape,).

        age in [0, 1] (0 young, 1 elderly); gender in [-1, 1] (-1 man, +1 woman); ethnicity one
        of ``generation.demographics.ETHNICITIES`` or None. Models without such controls may
        ignore them.
        """
        ...

    def landmarks(self, vertices: np.ndarray) -> dict[str, np.ndarray]:
        """Named (3,) points for ``vertices``; at least ``LANDMARK_NAMES`` plus
        ``eye_radius`` (a float, millimetres)."""
        ...

    def eyelids(self) -> list[Eyelid]:
        """The four eyelids (left/right x upper/lower)."""
        ...

    def sample_shape(self, rng: np.random.Generator) -> np.ndarray:
        """Identity parameters drawn from the model's prior."""
        ...


def skin_mask(model: FaceModel) -> np.ndarray:
    """(V,) bool: the vertices that are skin, i.e. not an eyeball or an eyelid (those move rigidly)."""
    tmpl = model.template()
    rigid = np.zeros(len(tmpl.vertices), dtype=bool)
    for lid in model.eyelids():
        rigid[lid.indices] = True
    for name, idx in list(tmpl.regions.items()) + list(tmpl.components.items()):
        if name.endswith("eyeball"):
            rigid[idx] = True
    return ~rigid


def vermilion_heights(landmarks: dict[str, np.ndarray]) -> tuple[float, float]:
    """(upper, lower) mm from the lip line to the upper and lower vermilion borders.

    Twice the height of the lips' most protruding midline points (``upper_lip``, ``lower_lip``)
    when the model gives them, else typical adult values. The one place the rig, the lip paint
    and the beard's lip gap take the lips' extent from.
    """
    mouth = float(landmarks["mouth_center"][1])
    upper = 2.0 * (float(landmarks["upper_lip"][1]) - mouth) if "upper_lip" in landmarks else 7.0
    lower = 2.0 * (mouth - float(landmarks["lower_lip"][1])) if "lower_lip" in landmarks else 9.0
    return upper, lower


def vermilion_outline(x: np.ndarray, landmarks: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) mm from the lip line to the vermilion borders at lateral offsets ``x`` (mm
    from the face's midline): a Cupid's bow on the upper lip, both tapering to 0 at the corners
    and beyond. The lip paint and the moustache's lower edge follow the same curve."""
    up_h, lo_h = vermilion_heights(landmarks)
    ax = np.abs(x)
    half = abs(float(landmarks["mouth_left"][0]) - float(landmarks["mouth_right"][0])) / 2 + 1.5
    taper = np.sqrt(np.clip(1 - (ax / half) ** 2, 0, 1))
    bow = 1.2 * np.exp(-(((ax - 5.5) / 3.5) ** 2)) - 0.9 * np.exp(-((x / 2.5) ** 2))
    return (up_h + bow) * taper, lo_h * taper**0.8
