"""Does a generated portrait line up with the mesh it is projected onto?

The diffusion texturer draws a portrait over the mesh's depth map and projects it back onto the
mesh; if its eyes or mouth sit a few pixels off the geometry, the AU deformations move the wrong
texture. ``PortraitAlignment`` finds dlib's 68 landmarks on the portrait (``facecheck``) and
compares them with the face model's own landmarks projected by the same camera: the mean
distance over eye centres, nose tip and mouth, in inter-ocular distances (IOD).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .render import PerspectiveCamera

__all__ = ["CORRESPONDENCES", "PortraitAlignment", "alignment_error", "portrait_landmarks", "projected_landmarks"]

# Face model landmark -> the dlib 68-point indices (iBUG 300-W) whose mean marks the same point.
CORRESPONDENCES: dict[str, tuple[int, ...]] = {
    "right_eye": tuple(range(36, 42)),  # subject's right eye contour; its centroid ~ the eyeball's centre
    "left_eye": tuple(range(42, 48)),
    "nose_tip": (30,),
    "mouth_right": (48,),  # subject's right lip corner
    "mouth_left": (54,),
    "mouth_center": (62, 66),  # inner-lip midpoints, upper and lower
}


def projected_landmarks(landmarks: dict[str, np.ndarray], camera: PerspectiveCamera) -> dict[str, np.ndarray]:
    """(2,) pixel positions (x right, y down) of the ``CORRESPONDENCES`` landmarks seen by ``camera``."""
    pts = np.stack([np.asarray(landmarks[k], dtype=np.float64) for k in CORRESPONDENCES])
    screen = camera.project(pts)
    return {k: screen[i, :2].astype(np.float64) for i, k in enumerate(CORRESPONDENCES)}


def portrait_landmarks(points68: np.ndarray) -> dict[str, np.ndarray]:
    """The ``CORRESPONDENCES`` points of a (68, 2) dlib landmark array."""
    pts = np.asarray(points68, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {pts.shape}")
    return {k: pts[list(idx)].mean(axis=0) for k, idx in CORRESPONDENCES.items()}


def alignment_error(points68: np.ndarray, projected: dict[str, np.ndarray]) -> float:
    """Mean distance between the portrait's and the mesh's landmarks over the IOD of the mesh's eyes."""
    found = portrait_landmarks(points68)
    iod = float(np.linalg.norm(projected["left_eye"] - projected["right_eye"]))
    if iod <= 0:
        raise ValueError("the projected eyes coincide: the camera does not see the face")
    return float(np.mean([np.linalg.norm(found[k] - projected[k]) for k in CORRESPONDENCES]) / iod)


@dataclass
class PortraitAlignment:
    """The alignment check of the diffusion texturer.

    landmarks: the face model's ``landmarks(vertices)``; threshold: largest accepted error (IOD);
    redraws: how many more portraits (next seeds) to draw when one is above the threshold;
    checker: a ``facecheck.FaceChecker`` (built on first use; needs pain3d[facecheck]).
    """

    landmarks: Callable[[np.ndarray], dict[str, np.ndarray]]
    threshold: float = 0.15
    redraws: int = 2
    checker: object | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"the alignment threshold must be > 0 inter-ocular distances, got {self.threshold}")
        if not isinstance(self.redraws, (int, np.integer)) or self.redraws < 0:
            raise ValueError(f"redraws must be an integer >= 0, got {self.redraws!r}")

    def error(self, image: np.ndarray, vertices: np.ndarray, camera: PerspectiveCamera) -> float:
        """Alignment error (IOD) of ``image`` against the mesh ``vertices``; inf when dlib finds no face."""
        from .facecheck import FaceChecker, largest

        if self.checker is None:
            self.checker = FaceChecker()
        rgb = np.asarray(image, dtype=np.uint8)
        boxes = self.checker.detect(rgb)
        if not boxes:
            return float("inf")
        points = self.checker.landmarks(rgb, largest(boxes))
        return alignment_error(points, projected_landmarks(self.landmarks(vertices), camera))

    def accepts(self, error: float) -> bool:
        """Whether an error is within the threshold."""
        return bool(error <= self.threshold)
