"""Skin colour as the camera records it: CIELAB of the cheeks of frontal neutral faces.

    python benchmarks/skin_colour.py [--identities 48] [--seed 7] [--dataset DIR] [--photos DIR]

dlib's 68 landmarks place two cheek patches on each face (half way between the jaw outline and
the side of the nose, each 0.16 inter-ocular distances square); the script prints the median
L*, a*, b*, chroma and hue angle of the patches' pixels, per ethnicity for the generator's
frontal neutral renders (``--identities``, ``--seed``, 256 px) or of the frontal neutral frames of
a generated dataset (``--dataset DIR``, e.g. one made by an earlier commit), and over all faces; for
``--photos DIR`` (your own photographs, one face each; none ship with pain3d) the same per
photograph. Skin in photographs is never grey: a* well above 0, hue between red and yellow.
Needs ``pain3d[facecheck]``. ``--quick``: 3 rendered identities.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from generation.facecheck import FaceChecker, inter_ocular, largest
from generation.texture import srgb_to_cielab
from geometry_swap import check_photos, face_arguments, photo_faces, photo_files


def cheek_lab(image: np.ndarray, checker: FaceChecker) -> np.ndarray | None:
    """Median CIELAB of the two cheek patches of the largest face, or None if none is found."""
    boxes = checker.detect(image)
    if not boxes:
        return None
    p = checker.landmarks(image, largest(boxes))
    iod = inter_ocular(p)
    r = max(2, int(round(0.08 * iod)))
    pixels = []
    for jaw, nose in ((2, 31), (14, 35)):
        x, y = (0.5 * (p[jaw] + p[nose]) - [0.0, 0.05 * iod]).astype(int)
        pixels.append(image[max(y - r, 0):y + r, max(x - r, 0):x + r].reshape(-1, 3))
    return np.median(srgb_to_cielab(np.concatenate(pixels) / 255.0), axis=0)


def row(name: str, labs: list[np.ndarray]) -> str:
    lab = np.array(labs)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))
    return (f"{name:28s} {len(lab):3d}  L* {np.median(lab[:, 0]):5.1f}  a* {np.median(lab[:, 1]):5.1f}  "
            f"b* {np.median(lab[:, 2]):5.1f}  chroma {np.median(chroma):5.1f}  hue {np.median(hue):4.0f} deg")


def main() -> None:
    ap = face_arguments(__doc__, 48, "3 rendered identities")
    ap.set_defaults(seed=7)
    ap.add_argument("--dataset", type=Path, help="a dataset written by pain3d generate: its frontal neutral frames")
    args = ap.parse_args()
    if args.quick:
        args.identities = 3
    check_photos(args.photos)
    checker = FaceChecker()
    groups: dict[str, list[np.ndarray]] = defaultdict(list)
    if args.photos:
        print(f"cheek colour (CIELAB, D65) of the photographs in {args.photos}:")
        for path, image in zip(photo_files(args.photos), photo_faces(args.photos)):
            lab = cheek_lab(image, checker)
            if lab is not None:
                groups[path.name].append(lab)
    elif args.dataset:
        from pain3d_dataset.frames import iter_face_records

        if not args.dataset.is_dir():
            raise SystemExit(f"error: --dataset {args.dataset} is not a folder; give one written by pain3d generate")
        records = [r for r in iter_face_records(args.dataset) if r.expression == 0]
        front = min((abs(r.yaw), r.view) for r in records)[1] if records else None
        print(f"cheek colour (CIELAB, D65) of the {front} neutral frames in {args.dataset}:")
        for r in records:
            if r.view == front:
                lab = cheek_lab(r.image, checker)
                if lab is not None:
                    groups[r.stratum.split("/")[-1]].append(lab)
    else:
        from generation.pipeline import GenerationConfig, Generator

        gen = Generator(GenerationConfig(identities=args.identities, expressions=0, views=(0.0,), size=256, seed=args.seed))
        print(f"cheek colour (CIELAB, D65) of {args.identities} rendered identities, seed {args.seed}, frontal neutral, 256 px:")
        for i in range(args.identities):
            frame = gen.identity(i).frames[0]
            lab = cheek_lab(frame.image, checker)
            if lab is not None:
                groups[frame.demographics.ethnicity].append(lab)
    print(f"{'':28s}   n")
    for name in sorted(groups):
        print(row(name, groups[name]))
    every = [lab for labs in groups.values() for lab in labs]
    if not every:
        raise SystemExit("error: no face found in any image")
    print(row("all", every))


if __name__ == "__main__":
    main()
