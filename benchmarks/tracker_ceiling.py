"""What check-faces would read with a perfect tracker: the rig's AU movement against dlib's reading.

    python benchmarks/tracker_ceiling.py [--identities 24] [--expressions 6] [--seed 11] [--yaw 0]

In each identity's neutral frame, every dlib landmark of the brows, nose, eyes and mouth (points
17-67) is tied to the three visible skin or eyelid vertices that project nearest to it (not the
eyeballs, not the lashes: a tracker marks the lid margin and the skin). In each pain frame the
landmark moves by those vertices' image movement (posed by the rig, projected by the same camera;
weighted by inverse distance): where a tracker that followed the skin exactly would put it.
check-faces' measures (``au_movement``) are taken both ways, and the script prints per AU group
the Spearman rank correlation with the label for dlib and for the perfect tracker, how closely
dlib's reading follows the perfect one, and the median movement at the group's top label. A group whose perfect-tracker correlation passes issue 12's
0.7 while dlib's does not is rigged so that its label shows, and read poorly by the tracker.

Needs ``pain3d[facecheck]``. ``--quick``: 4 identities with 4 pain expressions.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import spearmanr

from generation.diffusion import visible_vertices
from generation.facecheck import AU_GROUPS, FaceChecker, FaceMeasures, au_movement, measures_from_landmarks
from generation.pipeline import GenerationConfig, Generator

TIED = range(17, 68)  # brows, nose, eyes, mouth: the points check-faces' measures use


def tie_landmarks(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, camera, trackable: np.ndarray,
                  nearest: int = 3) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Landmark index -> (the ``nearest`` visible, ``trackable`` vertices around its point in the
    image, their inverse-distance weights summing to 1)."""
    seen = np.flatnonzero(visible_vertices(vertices, faces, camera, min_facing=0.0) & trackable)
    screen = camera.project(np.asarray(vertices, dtype=np.float64))[seen, :2]
    ties = {}
    for k in TIED:
        d = np.linalg.norm(screen - points[k], axis=1)
        near = np.argsort(d)[:nearest]
        w = 1.0 / np.maximum(d[near], 0.05)
        ties[k] = (seen[near], w / w.sum())
    return ties


def followed(points: np.ndarray, ties: dict[int, tuple[np.ndarray, np.ndarray]], neutral: np.ndarray, posed: np.ndarray, camera) -> FaceMeasures:
    """The measures of ``points`` (found on the ``neutral`` mesh's image) with each tied landmark
    moved as its vertices move in the image from ``neutral`` to ``posed``."""
    move = camera.project(np.asarray(posed, dtype=np.float64))[:, :2] - camera.project(np.asarray(neutral, dtype=np.float64))[:, :2]
    out = np.array(points, dtype=np.float64)
    for k, (idx, w) in ties.items():
        out[k] += w @ move[idx]
    return measures_from_landmarks(out)


def trackable_vertices(template) -> np.ndarray:
    """(V,) bool: the template's vertices a tracker can mark, all but the eyeballs and lashes."""
    trackable = np.ones(len(template.vertices), bool)
    for name, idx in template.regions.items():
        if name.endswith(("_eyeball", "_lashes")):
            trackable[idx] = False
    return trackable


def identity_rows(gen: Generator, index: int, checker: FaceChecker) -> list[tuple[list[float], list[float], list[float]]]:
    """Per pain frame of identity ``index`` (first view): (labels, dlib movement, perfect
    movement), each in ``AU_GROUPS`` order; [] when dlib finds no face in the neutral frame."""
    result = gen.identity(index)
    camera = gen.cameras[0]
    views = len(gen.cameras)
    neutral = checker.measure(result.frames[0].image)
    if neutral is None:
        return []
    ties = tie_landmarks(neutral.landmarks, result.meshes[0], result.faces, camera, trackable_vertices(gen.template))
    rows = []
    for e in range(1, len(result.meshes)):
        frame = result.frames[e * views]
        pain = checker.measure(frame.image)
        if pain is None:
            continue
        labels = [max(frame.aus.get(code, 0.0) for code in AU_GROUPS[g]) for g in AU_GROUPS]
        dlib = au_movement(neutral, pain)
        perfect = au_movement(neutral, followed(neutral.landmarks, ties, result.meshes[0], result.meshes[e], camera))
        rows.append((labels, [dlib[g] for g in AU_GROUPS], [perfect[g] for g in AU_GROUPS]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=24)
    ap.add_argument("--expressions", type=int, default=6, help="pain expressions per identity (default 6)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--yaw", type=float, default=0.0, help="camera yaw in degrees (default 0, frontal)")
    ap.add_argument("--quick", action="store_true", help="4 identities with 4 pain expressions")
    args = ap.parse_args()
    if args.quick:
        args.identities, args.expressions = 4, 4
    gen = Generator(GenerationConfig(identities=args.identities, expressions=args.expressions, views=(args.yaw,), size=256, seed=args.seed))
    checker = FaceChecker()
    rows = [row for i in range(args.identities) for row in identity_rows(gen, i, checker)]
    if len(rows) < 3:
        raise SystemExit("error: fewer than three pain frames with a face found; nothing to correlate")
    labels, dlib, perfect = (np.array(x) for x in zip(*rows))
    print(f"{args.identities} identities x {args.expressions} pain expressions, seed {args.seed}, yaw {args.yaw:g}, 256 px: {len(rows)} pain frames")
    print(f"  {'group':<9} {'dlib rho':>9} {'perfect rho':>12} {'dlib vs perfect':>16}   median movement at the top label, dlib / perfect")
    for j, g in enumerate(AU_GROUPS):
        top = labels[:, j] == labels[:, j].max()
        print(f"  {g:<9} {spearmanr(labels[:, j], dlib[:, j]).statistic:>+9.3f} {spearmanr(labels[:, j], perfect[:, j]).statistic:>+12.3f} "
              f"{spearmanr(dlib[:, j], perfect[:, j]).statistic:>+16.3f}   {np.median(dlib[top, j]):+.3f} / {np.median(perfect[top, j]):+.3f}")


if __name__ == "__main__":
    main()
