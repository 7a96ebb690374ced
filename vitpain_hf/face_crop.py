"""Face detection and cropping shared by training (``--face-crop``) and the Space.

dlib's HOG + linear-SVM frontal face detector (built into dlib: no model file, CPU only). The
largest face is cropped as a square of ``box_side / FACE_FRACTION`` around the detector's box,
padded by edge replication, so models see the same framing in training and at inference.
"""

from __future__ import annotations

import functools
import threading
from typing import Sequence

import numpy as np
from PIL import Image

# Uploads are detected at most this big (longest side).
DETECT_SIDE = 640
# The detector's box covers ~0.6 of a generated frame's width (0.59-0.61 over 72 frames).
FACE_FRACTION = 0.6


class FaceCropper:
    """dlib's HOG + linear-SVM frontal face detector (built into dlib: no model file, CPU only).

    The image is scanned at most DETECT_SIDE pixels on its longest side with one 2x pyramid
    up-sampling step, which finds faces down to ~40 px there; the largest face is cropped as a
    square of box_side / FACE_FRACTION (the generator's framing), padded by edge replication.
    """

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError:  # the app still runs; images are then used whole
            self.detector = None
        else:
            self.detector = dlib.get_frontal_face_detector()
        self._lock = threading.Lock()  # dlib's detector object is not documented as thread-safe

    @property
    def available(self) -> bool:
        return self.detector is not None

    def detect(self, img: Image.Image) -> list[tuple[float, float, float, float]]:
        """Face boxes (left, top, right, bottom) in ``img`` pixels, largest first."""
        scale = min(1.0, DETECT_SIDE / max(img.size))
        small = img if scale == 1.0 else img.resize((max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale))), Image.Resampling.BILINEAR)
        with self._lock:
            dets = self.detector(np.ascontiguousarray(np.asarray(small)), 1)
        boxes = [(d.left() / scale, d.top() / scale, d.right() / scale, d.bottom() / scale) for d in dets]
        return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))

    @staticmethod
    def crop(img: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
        l, t, r, b = box
        side = max(r - l, b - t) / FACE_FRACTION
        cx, cy = 0.5 * (l + r), 0.5 * (t + b) + 0.025 * side
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        s = max(1, int(round(side)))
        a = np.asarray(img)
        h, w = a.shape[:2]
        pad = max(0, -x0, -y0, x0 + s - w, y0 + s - h)
        if pad:
            a = np.pad(a, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        crop = a[y0 + pad : y0 + pad + s, x0 + pad : x0 + pad + s]
        return Image.fromarray(np.ascontiguousarray(crop))

    def __call__(self, img: Image.Image) -> Image.Image | None:
        """The face crop of the largest face, or None when no face is found."""
        boxes = self.detect(img) if self.available else []
        return self.crop(img, boxes[0]) if boxes else None


class NoFaceError(ValueError):
    """No face was found in an image that the model needs cropped; ``index`` is its place in the batch."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


@functools.lru_cache(maxsize=1)
def shared_cropper() -> FaceCropper:
    """One FaceCropper per process: dlib takes about 2 s to build its HOG detector."""
    return FaceCropper()


Box = tuple[float, float, float, float]


def crop_faces(images: Sequence[Image.Image], cropper: FaceCropper | None = None) -> list[tuple[Image.Image, Box]]:
    """(crop, box) of the largest face in each RGB image; raises NoFaceError naming the first image without one.

    The box is (left, top, right, bottom) in the image's pixels; the crop is ``FaceCropper.crop`` of it.
    """
    cropper = cropper or shared_cropper()
    if not cropper.available:
        raise ImportError("this model was trained on face crops (config.face_crop) and finds faces with dlib: "
                          "pip install dlib-bin, or pass face_crop=False to use whole images")
    out = []
    for i, img in enumerate(images):
        boxes = cropper.detect(img)
        if not boxes:
            where = f"image {i}" if len(images) > 1 else "the image"
            raise NoFaceError(f"no face found in {where}; the model scores face crops: give a clear, roughly frontal "
                              "face at least ~80 px wide, or pass face_crop=False to score the whole image", i)
        out.append((cropper.crop(img, boxes[0]), boxes[0]))
    return out
