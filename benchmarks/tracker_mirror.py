"""Is a gap between views the faces' or the tracker's? dlib's tracker on mirrored frames.

    python benchmarks/tracker_mirror.py DIR          # a dataset written by pain3d generate
    python benchmarks/tracker_mirror.py [--identities 12] [--seed 7]   # renders its own
    python benchmarks/tracker_mirror.py --quick

``pain3d check-faces`` reports each pain AU's rank correlation per view. This script prints
those per-view numbers twice: for the frames as rendered, and with the tracker (dlib's HOG
detector and 68-point predictor) run on each frame's left-right mirror image, its points mapped
back onto the frame (``facecheck.mirror_landmarks``). Every check-faces measure is symmetric
(both inner brows, both lower lids, the middle of the upper lip, both eyes' aspect ratios), so a
tracker that read a face and its mirror image alike would print the same number twice. Where a
view's number moves towards the opposite view's once mirrored, the gap between the two views
follows which way the face turns in the image, not the faces: it is the tracker's own.
Needs ``pain3d[facecheck]``. ``--quick``: 4 identities, 3 pain expressions, 128 px.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # this folder (au_by_group)

from au_by_group import add_frame_arguments, frames_from_arguments  # noqa: E402

from generation.facecheck import AU_GROUPS, FaceChecker, FaceReport, check_faces, mirror_landmarks  # noqa: E402


class MirroredTracker:
    """A ``FaceChecker``'s HOG detector and landmark predictor run on the mirror image of every
    frame, answering in the frame's own coordinates and point numbering."""

    def __init__(self, checker: FaceChecker) -> None:
        self.checker = checker

    def detect(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        w = rgb.shape[1]
        return [(w - 1 - r, t, w - 1 - l, b) for l, t, r, b in self.checker.detect(rgb[:, ::-1])]

    def landmarks(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        w = rgb.shape[1]
        l, t, r, b = box
        return mirror_landmarks(self.checker.landmarks(rgb[:, ::-1], (w - 1 - r, t, w - 1 - l, b)), w)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_frame_arguments(ap, identities=12, seed=7, quick=(4, 3))
    frames, source = frames_from_arguments(ap.parse_args())
    checker = FaceChecker()
    reports: dict[str, FaceReport] = {
        "as rendered": check_faces(frames, checker, aus_only=True),
        "mirrored": check_faces(frames, MirroredTracker(checker), aus_only=True),
    }
    print(f"{source}: {len(frames)} frames; Spearman rho per view, tracker on the frames as rendered / mirrored")
    print(f"  {'group':<9} {'view':<8} {'as rendered':>12} {'mirrored':>9}")
    for g in AU_GROUPS:
        rendered, mirrored = (r.au_spearman_by_view[g] for r in reports.values())
        for view in rendered:
            print(f"  {g:<9} {view:<8} {rendered[view]:>+12.3f} {mirrored.get(view, float('nan')):>+9.3f}")
        print(f"  {g:<9} {'all':<8} {reports['as rendered'].au_spearman[g]:>+12.3f} {reports['mirrored'].au_spearman[g]:>+9.3f}")
    found = {name: np.mean([rates["HOG"] for rates in r.detection.values()]) for name, r in reports.items()}
    print(f"  face found (HOG, mean over views): as rendered {found['as rendered']:.1%}, mirrored {found['mirrored']:.1%}")


if __name__ == "__main__":
    main()
