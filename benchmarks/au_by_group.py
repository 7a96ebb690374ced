"""Whose faces does the tracker read the pain AUs on? check-faces' rank correlations by group.

    python benchmarks/au_by_group.py DIR              # a dataset written by pain3d generate
    python benchmarks/au_by_group.py [--identities 48] [--seed 6262]   # renders its own
    python benchmarks/au_by_group.py --quick

``pain3d check-faces`` reports one Spearman rho per pain AU group over all frames. This script
splits the frames by the identities' age group, gender and ethnicity, and by facial hair (the
dataset's ``facial_hair`` column): hair over the upper lip (a moustache, goatee or beard) or not
(clean-shaven or stubble). Each group's rho is
check-faces' own (``facecheck.check_faces`` over that group's frames, ``--aus-only``: the HOG
detector and the landmark tracker), with its 95 % interval over resampled identities; the
tracker runs once per frame. Needs ``pain3d[facecheck]``. ``--quick``: 6 identities, 3 pain
expressions, 128 px.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from generation.facecheck import AU_GROUPS, FaceChecker, FaceRecord, check_faces, frame_record

HAIR_OVER_LIP = ("moustache", "goatee", "beard", "full_beard")


class OnceTracker:
    """A ``FaceChecker``'s HOG detector and landmark tracker, each run once per image."""

    def __init__(self, checker: FaceChecker) -> None:
        self.checker = checker
        self._boxes: dict[bytes, list] = {}
        self._points: dict[tuple, np.ndarray] = {}

    @staticmethod
    def _key(rgb: np.ndarray) -> bytes:
        return hashlib.blake2b(np.ascontiguousarray(rgb).tobytes(), digest_size=16).digest()

    def detect(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        key = self._key(rgb)
        if key not in self._boxes:
            self._boxes[key] = self.checker.detect(rgb)
        return self._boxes[key]

    def landmarks(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        key = (self._key(rgb), tuple(box))
        if key not in self._points:
            self._points[key] = self.checker.landmarks(rgb, box)
        return self._points[key]


def add_frame_arguments(ap: argparse.ArgumentParser, identities: int, seed: int, quick: tuple[int, int]) -> None:
    """The frames to check: a dataset folder, or faces this script renders (``identities`` and
    ``seed`` by default; ``--quick``: ``quick`` = (identities, pain expressions) at 128 px)."""
    ap.add_argument("dataset", nargs="?", default=None, help="a dataset folder written by pain3d generate")
    ap.add_argument("--identities", type=int, default=identities, help=f"without a dataset: identities to render (default {identities})")
    ap.add_argument("--expressions", type=int, default=6, help="without a dataset: pain expressions each (default 6)")
    ap.add_argument("--size", type=int, default=256, help="without a dataset: image size (default 256)")
    ap.add_argument("--seed", type=int, default=seed, help=f"without a dataset: generator seed (default {seed})")
    ap.add_argument("--quick", action="store_const", const=quick, default=None,
                    help=f"{quick[0]} identities, {quick[1]} pain expressions, 128 px")


def frames_from_arguments(args: argparse.Namespace) -> tuple[list[FaceRecord], str]:
    """(frames, a line that says where they come from); a missing or empty folder exits with a
    one-line error."""
    if args.quick:
        args.dataset, (args.identities, args.expressions), args.size = None, args.quick, 128
    if args.dataset and not Path(args.dataset).is_dir():
        raise SystemExit(f"error: {args.dataset}: no such folder (give a dataset written by pain3d generate)")
    try:
        frames = records(args)
    except FileNotFoundError as e:
        raise SystemExit(f"error: {e}") from None
    source = args.dataset or f"{args.identities} identities x {args.expressions} pain expressions, seed {args.seed}, {args.size} px"
    return frames, source


def records(args: argparse.Namespace) -> list[FaceRecord]:
    """The frames: a dataset's, or rendered here and stored as a dataset stores them (JPEG)."""
    if args.dataset:
        from pain3d_dataset.frames import iter_face_records

        return list(iter_face_records(Path(args.dataset)))
    from generation.pipeline import GenerationConfig, Generator

    from dataclasses import replace

    from generation.layout import encode_jpeg
    from pain3d_dataset.frames import decode_image

    gen = Generator(GenerationConfig(identities=args.identities, expressions=args.expressions, size=args.size, seed=args.seed))
    out = []
    for i in range(args.identities):
        # as a dataset stores them (JPEG), so the numbers are check-faces' on that dataset
        out += [replace(frame_record(f), image=decode_image(encode_jpeg(f.image))) for f in gen.identity(i).frames]
    return out


def groupings(frames: list[FaceRecord]) -> dict[str, dict[str, list[FaceRecord]]]:
    """grouping -> group -> its frames (age group, gender, ethnicity from the stratum; facial
    hair over the upper lip or not, unless the frames do not say: an imported dataset)."""
    keys = {
        "age group": lambda r: r.stratum.split("/")[0],
        "gender": lambda r: r.stratum.split("/")[1],
        "ethnicity": lambda r: r.stratum.split("/")[2],
    }
    if all(r.facial_hair != "unknown" for r in frames):
        keys["facial hair"] = lambda r: "hair over the lip" if r.facial_hair in HAIR_OVER_LIP else "no hair over the lip"
    out: dict[str, dict[str, list[FaceRecord]]] = {}
    for name, key in keys.items():
        for r in frames:
            out.setdefault(name, {}).setdefault(key(r), []).append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_frame_arguments(ap, identities=48, seed=6262, quick=(6, 3))
    frames, source = frames_from_arguments(ap.parse_args())
    tracker = OnceTracker(FaceChecker())
    every = check_faces(frames, tracker, aus_only=True)
    print(f"{source}: {len(frames)} frames; Spearman rho per pain AU group [95 % interval over identities]")
    print(f"  {'grouping':<12} {'group':<22} {'ids':>4} " + " ".join(f"{g:>21}" for g in AU_GROUPS))

    def row(grouping: str, group: str, n_ids: int, rep) -> str:
        cells = []
        for g in AU_GROUPS:
            rho, (lo, hi) = rep.au_spearman[g], rep.au_spearman_ci[g]
            text = "-" if not np.isfinite(rho) else f"{rho:+.3f}" + (f" [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else "")
            cells.append(text.rjust(21))
        return f"  {grouping:<12} {group:<22} {n_ids:>4} " + " ".join(cells)

    print(row("all", "", every.identities, every))
    for grouping, groups in groupings(frames).items():
        for group, recs in sorted(groups.items()):
            print(row(grouping, group, len({r.identity for r in recs}), check_faces(recs, tracker, aus_only=True)))


if __name__ == "__main__":
    main()
