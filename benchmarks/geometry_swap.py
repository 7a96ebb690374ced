"""How much of dlib's identity distance is landmark geometry: each face warped onto another's.

    python benchmarks/geometry_swap.py [--identities 8] [--layout-identities 48] [--seed 11] [--photos DIR]

For every ordered pair (A, B) of faces, A's image is warped piecewise-linearly so that its 68
dlib landmarks land on B's, which gives A's appearance (skin, brows, eyes' look, shading) with
B's feature layout. The script prints the median ResNet descriptor distance of the warped face
to A ("from own"), to B ("to target"), and of A to B. If the warped face stays near A, identity
is carried by appearance rather than by where the features sit, so a shape space alone (what a
face model's identity parameters control) cannot set faces apart.

Then the faces' mean layout against the real one: feature sizes and distances (in inter-ocular
distances) of the landmark predictor's own mean face (``tracker_mean_shape``, the mean of the
real faces it was trained on) beside the faces' mean and spread, and the identity distances
again after warping every face by the difference between the two mean layouts (each keeps its
own deviations from the mean): is an unreal average layout what holds the faces together?

Faces are the generator's frontal neutral renders (``--identities``, ``--seed``, 256 px), or the
photographs in ``--photos DIR`` (JPEG/PNG with one face each, supplied by you: none ship with
pain3d). Needs ``pain3d[facecheck]``. ``--quick``: 3 rendered identities at 128 px.
"""

from __future__ import annotations

import argparse
from itertools import combinations, permutations
from pathlib import Path

import numpy as np

from generation.facecheck import SAME_PERSON, FaceChecker, largest, layout_ratios, tracker_mean_shape


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


def photo_files(folder: Path) -> list[Path]:
    """The JPEG and PNG files in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def photo_faces(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(p).convert("RGB")) for p in photo_files(folder)]


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


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity (scale, rotation, src mean, dst mean) taking points ``src`` onto ``dst``."""
    ms, md = src.mean(0), dst.mean(0)
    u, sv, vt = np.linalg.svd((src - ms).T @ (dst - md))
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
    return float(sv.sum() / ((src - ms) ** 2).sum()), u @ vt, ms, md


def mean_layout(images: list[np.ndarray], checker: FaceChecker) -> tuple[dict[str, tuple[float, float, float]], np.ndarray, np.ndarray]:
    """Each layout ratio as (tracker's mean face, the faces' mean, their SD), and the pairwise
    descriptor distances before and after warping every face so that its landmarks move by (mean
    face - the faces' mean layout), that difference taken in the mean face's frame."""
    mean_face = tracker_mean_shape()
    found = []
    for im in images:
        boxes = checker.detect(im)
        if boxes:
            box = largest(boxes)
            found.append((im, box, checker.landmarks(im, box)))
    if len(found) < 2:
        raise SystemExit("error: fewer than two faces found")
    ratios = [layout_ratios(p) for _, _, p in found]
    table = {k: (layout_ratios(mean_face)[k], float(np.mean([r[k] for r in ratios])), float(np.std([r[k] for r in ratios])))
             for k in ratios[0]}
    fits = [similarity(p, mean_face) for _, _, p in found]
    aligned = [sc * (p - ms) @ r + md for (_, _, p), (sc, r, ms, md) in zip(found, fits)]
    shift = mean_face - np.mean(aligned, axis=0)
    before, after = [], []
    for (im, box, p), (sc, r, _, _) in zip(found, fits):
        before.append(checker.descriptor(im, box))
        warped = warp_to(im, p, p + (shift @ r.T) / sc)
        boxes = checker.detect(warped)
        after.append(checker.descriptor(warped, largest(boxes) if boxes else box))
    pairs = lambda ds: np.array([np.linalg.norm(a - b) for a, b in combinations(ds, 2)])
    return table, pairs(before), pairs(after)


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
    ap.add_argument("--layout-identities", type=int, default=48, help="rendered faces for the mean layout (default 48)")
    args = ap.parse_args()
    if args.quick:
        args.identities, args.size, args.layout_identities = 3, 128, 4
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
    images = images if args.photos else rendered_faces(args.layout_identities, args.seed, args.size)
    table, before, after = mean_layout(images, FaceChecker(recognizer=True))
    print(f"\nMean layout of {len(images)} faces in inter-ocular distances (eye-corner midpoints), beside the landmark predictor's mean face:")
    print(f"  {'':<16} {'real mean':>9} {'faces':>6} {'SD':>6} {'off':>5}")
    for name, (real, ours, sd) in table.items():
        print(f"  {name:<16} {real:>9.3f} {ours:>6.3f} {sd:>6.3f} {100 * (ours - real) / real:>+4.0f}%")
    print(f"  identity distance, median (over {SAME_PERSON}): as they are {np.median(before):.3f} ({(before > SAME_PERSON).mean():.1%}), "
          f"on the real mean layout {np.median(after):.3f} ({(after > SAME_PERSON).mean():.1%})")


if __name__ == "__main__":
    main()
