"""How steady dlib's 68-point tracker is on a face when nothing on the face moves.

    python benchmarks/tracker_jitter.py [--identities 24] [--seed 11] [--photos DIR]

Every face is scaled to an inter-ocular distance of 55 px (our 256² frontal renders' scale) and
then shifted by a third and two thirds of a pixel, rescaled by +-2 % and brightened or darkened
by 10 %. None of these moves a feature on the face, so once each variant's landmarks are mapped
back onto the unshifted, unscaled image, every change in check-faces' landmark measures
(``au_movement``: the rows of the inner brows, lower lids and upper lip, in inter-ocular
distances; the eye aspect ratio, a ratio of the eye's own points) is the tracker's own noise.
The script prints, per measure,
the root-mean-square change, median over faces. Then it renders each pain AU alone at its
maximum on the same identities and prints how far its measure moves, and that over the noise:
an AU whose measure moves little more than the noise cannot reach a high rank correlation in
check-faces, however faithfully it is rigged. A last column, the face's outline (points 0-16,
their mean displacement), is moved by no pain AU: what it shows is the tracker's own unrest.

Faces are the generator's frontal neutral renders (``--identities``, ``--seed``), and with
``--photos DIR`` also your own photographs (JPEG/PNG, one face each; none ship with pain3d) for
comparison. Needs ``pain3d[facecheck]``. ``--quick``: 3 rendered identities.
"""

from __future__ import annotations

import numpy as np

from generation.facecheck import AU_GROUPS, FaceChecker, FaceMeasures, au_movement, measures_from_landmarks

GROUPS = tuple(AU_GROUPS)  # check-faces' measures, one per pain AU group
COLUMNS = (*GROUPS, "outline")  # the measures, then the outline that no pain AU moves
LABELS = {"AU4": "inner brows (AU4)", "AU6/AU7": "lower lids (AU6/AU7)", "AU9/AU10": "upper lip (AU9/AU10)",
          "AU43": "eye aspect ratio (AU43)", "outline": "face outline (none)"}
IOD_PX = 55.0
_SHIFTS = (1 / 3, 2 / 3)  # px, to the left (and 0.7 of it upwards)
_SCALES = (0.98, 1.02)


def _variants(image: np.ndarray) -> list[tuple[np.ndarray, object]]:
    """The same face, unchanged: sub-pixel shifts, +-2 % scale, +-10 % brightness; each with the
    map that takes its landmark coordinates back onto ``image``."""
    from PIL import Image, ImageEnhance

    pil = Image.fromarray(image)
    w, h = pil.size
    # PIL's affine (1, 0, dx, 0, 1, dy) samples the input at (x + dx, y + dy): the face moves by (-dx, -dy).
    out = [(pil.transform((w, h), Image.AFFINE, (1, 0, dx, 0, 1, 0.7 * dx), Image.BICUBIC),
            lambda p, dx=dx: p + np.array([dx, 0.7 * dx])) for dx in _SHIFTS]
    out += [(pil.resize((round(w * s), round(h * s)), Image.BICUBIC),
             lambda p, s=s, w=w, h=h: p * np.array([w / round(w * s), h / round(h * s)])) for s in _SCALES]
    out += [(ImageEnhance.Brightness(pil).enhance(b), lambda p: p) for b in (0.9, 1.1)]
    return [(np.asarray(v.convert("RGB")), back) for v, back in out]


def jitter(image: np.ndarray, checker: FaceChecker) -> np.ndarray | None:
    """(5,) RMS of ``movements`` (in ``COLUMNS`` order) between the face and its unchanged
    variants, or None if no face."""
    from PIL import Image

    m = checker.measure(image)
    if m is None:
        return None
    s = IOD_PX / np.linalg.norm(m.landmarks[42:48].mean(0) - m.landmarks[36:42].mean(0))
    image = np.asarray(Image.fromarray(image).resize((round(image.shape[1] * s), round(image.shape[0] * s)), Image.BICUBIC))
    m0 = checker.measure(image)
    if m0 is None:
        return None
    moves = []
    for variant, back in _variants(image):
        m1 = checker.measure(variant)
        if m1 is not None:
            moves.append(movements(m0, measures_from_landmarks(back(m1.landmarks))))
    return np.sqrt(np.mean(np.square(moves), axis=0)) if moves else None


def movements(neutral: FaceMeasures, other: FaceMeasures) -> list[float]:
    """check-faces' ``au_movement`` in ``GROUPS`` order, then the outline's mean displacement,
    all in the neutral frame's inter-ocular distances."""
    move = au_movement(neutral, other)
    outline = np.linalg.norm(other.landmarks[:17] - neutral.landmarks[:17], axis=1).mean() / neutral.iod
    return [*(move[g] for g in GROUPS), float(outline)]


# Each pain AU alone at its maximum, and the measure (index into GROUPS) that reads it.
SINGLE_AUS = {"AU4": 0, "AU6": 1, "AU7": 1, "AU9": 2, "AU10": 2, "AU43": 3}


def au_signal(identities: int, seed: int, checker: FaceChecker) -> dict[str, np.ndarray]:
    """Per pain AU, the median movement of every measure (``movements``, in ``COLUMNS`` order,
    in the neutral frame's IOD) between the frontal neutral render and the
    same face with that AU alone at its maximum (5, or 1 for AU43): its own measure's movement,
    and how much it moves the others (what a tracker reads into them)."""
    from generation.pipeline import GenerationConfig, Generator

    out = {}
    for au in SINGLE_AUS:
        level = 1 if au == "AU43" else 5
        gen = Generator(GenerationConfig(identities=identities, expressions=1, views=(0.0,), size=256, fixed_aus={au: level}, seed=seed))
        moves = []
        for i in range(identities):
            frames = gen.identity(i).frames
            m0, m1 = checker.measure(frames[0].image), checker.measure(frames[1].image)
            if m0 is not None and m1 is not None:
                moves.append(movements(m0, m1))
        out[au] = np.median(moves, axis=0) if moves else np.full(len(COLUMNS), np.nan)
    return out


def main() -> None:
    from geometry_swap import check_photos, face_arguments, photo_faces, rendered_faces

    args = face_arguments(__doc__, 24, "3 rendered identities").parse_args()
    if args.quick:
        args.identities = 3
    check_photos(args.photos)
    checker = FaceChecker()
    sets = {f"renders ({args.identities} identities, seed {args.seed}, 256 px)": rendered_faces(args.identities, args.seed, 256)}
    if args.photos:
        sets[f"photographs ({args.photos})"] = photo_faces(args.photos)
    print(f"RMS change of each landmark measure when nothing moves (inter-ocular distances; the eye aspect ratio in its own units; at {IOD_PX:.0f} px IOD; median over faces)")
    print(f"  {'faces':<50} " + " ".join(f"{LABELS[k]:>24}" for k in COLUMNS))
    noise = None
    for name, images in sets.items():
        rows = [j for j in (jitter(im, checker) for im in images) if j is not None]
        if not rows:
            raise SystemExit(f"error: no face found in the {name}")
        med = np.median(rows, axis=0)
        print(f"  {name + f', {len(rows)} found':<50} " + " ".join(f"{v:>24.4f}" for v in med))
        if noise is None:  # the renders come first
            noise = med
    signal = au_signal(args.identities, args.seed, checker)
    print("\nEach pain AU alone at its maximum on the same renders: median movement of its measure, and that over the renders' noise")
    for au, k in SINGLE_AUS.items():
        print(f"  {au:<5} {LABELS[GROUPS[k]]:<24} movement {signal[au][k]:+.4f}   signal/noise {signal[au][k] / noise[k]:.1f}")
    print("\n... and how far it moves every measure (rows: the AU alone; columns: the measures; positive = the measure's own FACS direction;"
          " the outline: mean displacement, moved by no AU)")
    print(f"  {'':<5} " + " ".join(f"{LABELS[g]:>24}" for g in COLUMNS))
    for au in SINGLE_AUS:
        print(f"  {au:<5} " + " ".join(f"{v:>+24.4f}" for v in signal[au]))


if __name__ == "__main__":
    main()
