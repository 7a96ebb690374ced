"""How much of dlib's identity distance is landmark geometry: each face warped onto another's.

    python benchmarks/geometry_swap.py [--identities 8] [--seed 11] [--photos DIR]

For every ordered pair (A, B) of faces, A's image is warped piecewise-linearly so that its 68
dlib landmarks land on B's, which gives A's appearance (skin, brows, eyes' look, shading) with
B's feature layout. The script prints the median ResNet descriptor distance of the warped face
to A ("from own"), to B ("to target"), and of A to B. If the warped face stays near A, identity
is carried by appearance rather than by where the features sit, so a shape space alone (what a
face model's identity parameters control) cannot set faces apart.

Faces are the generator's frontal neutral renders (``--identities``, ``--seed``, 256 px), or the
photographs in ``--photos DIR`` (JPEG/PNG with one face each, supplied by you: none ship with
pain3d). Needs ``pain3d[facecheck]``. ``--quick``: 3 rendered identities at 128 px.
"""

from __future__ import annotations

import argparse
from itertools import permutations
from pathlib import Path

import numpy as np

from generation.facecheck import SAME_PERSON, FaceChecker, largest


def warp_to(image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``image`` warped so that its points ``src`` (N, 2) move to ``dst`` (N, 2): piecewise
    linear over a Delaunay triangulation of ``dst`` plus the image border."""
    from scipy.interpolate import LinearNDInterpolator
    from scipy.ndimage import map_coordinates

    h, w = image.shape[:2]
    border = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [w / 2, 0], [w / 2, h - 1], [0, h / 2], [w - 1, h / 2]])
    back = LinearNDInterpolator(np.r_[dst, border], np.r_[src, border])
    yy, xx = np.mgrid[:h, :w]
    xy = back(xx.ravel(), yy.ravel()).reshape(h, w, 2)
    coords = [xy[..., 1], xy[..., 0]]
    return np.stack([map_coordinates(image[..., c], coords, order=1, mode="nearest") for c in range(3)], -1).astype(np.uint8)


def rendered_faces(identities: int, seed: int, size: int) -> list[np.ndarray]:
    """The generator's frontal neutral image of each identity."""
    from generation.pipeline import GenerationConfig, Generator

    gen = Generator(GenerationConfig(identities=identities, expressions=0, views=(0.0,), size=size, seed=seed))
    return [gen.identity(i).frames[0].image for i in range(identities)]


def photo_faces(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [np.asarray(Image.open(p).convert("RGB")) for p in files]


def swap_distances(images: list[np.ndarray], checker: FaceChecker) -> dict[str, np.ndarray]:
    """Per ordered pair: distance of A warped onto B's landmarks to A and to B, and A to B."""
    faces = []
    for im in images:
        boxes = checker.detect(im)
        if boxes:
            box = largest(boxes)
            faces.append((im, checker.landmarks(im, box).astype(np.float64), checker.descriptor(im, box)))
    out: dict[str, list[float]] = {"from own": [], "to target": [], "own to target": []}
    for (a_im, a_pts, a_desc), (_, b_pts, b_desc) in permutations(faces, 2):
        warped = warp_to(a_im, a_pts, b_pts)
        boxes = checker.detect(warped)
        if not boxes:
            continue
        d = checker.descriptor(warped, largest(boxes))
        out["from own"].append(float(np.linalg.norm(d - a_desc)))
        out["to target"].append(float(np.linalg.norm(d - b_desc)))
        out["own to target"].append(float(np.linalg.norm(a_desc - b_desc)))
    return {k: np.array(v) for k, v in out.items()}


def face_arguments(doc: str, identities: int, quick: str) -> argparse.ArgumentParser:
    """The face-source options the face benchmarks share: rendered identities or --photos."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=identities)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--photos", type=Path, help="a folder of your own face photographs (one face each)")
    ap.add_argument("--quick", action="store_true", help=quick)
    return ap


def check_photos(photos: Path | None) -> None:
    if photos is not None and not photos.is_dir():
        raise SystemExit(f"error: --photos {photos} is not a folder; give a folder of face photographs")


def main() -> None:
    ap = face_arguments(__doc__, 8, "3 rendered identities at 128 px")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    if args.quick:
        args.identities, args.size = 3, 128
    check_photos(args.photos)
    images = photo_faces(args.photos) if args.photos else rendered_faces(args.identities, args.seed, args.size)
    what = f"{len(images)} photographs from {args.photos}" if args.photos else f"{args.identities} rendered identities, seed {args.seed}, {args.size} px"
    d = swap_distances(images, FaceChecker(recognizer=True))
    if d["from own"].size == 0:
        raise SystemExit(f"error: fewer than two faces found in {what}")
    print(f"{what}: {d['from own'].size} ordered pairs, median descriptor distance (same person below {SAME_PERSON})")
    labels = {"from own": "A warped onto B's landmarks, to A", "to target": "A warped onto B's landmarks, to B", "own to target": "A to B"}
    for name, label in labels.items():
        print(f"  {label:<36} {np.median(d[name]):.3f}")


if __name__ == "__main__":
    main()
