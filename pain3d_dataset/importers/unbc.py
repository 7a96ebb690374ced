"""Load a user-supplied copy of the UNBC-McMaster Shoulder Pain archive with 3DPain's labels.

The archive is licensed and not downloadable here; point ``load_unbc`` at your copy::

    ROOT/Images/<subject>/<sequence>/<frame>.png
    ROOT/Frame_Labels/FACS/<subject>/<sequence>/<frame>_facs.txt   rows "AU intensity [...]"
    ROOT/Frame_Labels/PSPI/<subject>/<sequence>/<frame>_facs.txt   one number
    ROOT/AAM_landmarks/<subject>/<sequence>/<frame>_aam.txt        optional, 66 rows "x y"

Numbers may be in scientific notation (``4.0000000e+00``); an empty FACS file means no AU.

Rows (``unbc_features()``) carry the label fields of 3DPain's ``frames`` config:
``aus`` (AU4, AU6, AU7, AU9, AU10, AU43), ``distractor_aus`` (AU12, AU25, AU26 as coded; AU1, AU2
and AU15 are not coded in UNBC and are 0), ``pspi`` (ClassLabel 0-16, from the PSPI file),
``identity`` (= subject, e.g. ``042-ll042``), plus ``sequence``, ``frame`` (file stem),
``frame_index`` (position in its sequence), ``fold`` (the subject's group), ``pain_ge2`` and
``pain_ge3`` (ClassLabel no_pain/pain at PSPI >= 2 and >= 3, the paper's binary tasks), and
``landmarks`` ((66, 2) float32 AAM points, null without a landmark file). ``image`` points at
your file (stored as a path, decoded on access; nothing is copied).

Decisions: AU43 (eyes closed) is binary in PSPI; a coded AU43 row counts as 1 whatever its
intensity column (UNBC codes AU43 by occurrence). AUs outside the schema (AU20, AU27, ...) are
dropped. Without a PSPI file, ``pspi`` is computed from the AUs; without a FACS file, ``aus`` are
NaN (not coded) and ``pspi`` comes from the PSPI file. A frame whose PSPI file disagrees with the
AU formula keeps the file's PSPI. Frames with neither label file, malformed label files, and label
files without an image are skipped. Every case is reported by file name: in the ``problems`` list
if one is passed, and in one ``UNBCWarning``.

Folds: the paper's subject-grouped 5-fold cross-validation, 25 subjects in 5 groups of 5.
Subjects are sorted by their numeric prefix (``042-ll042`` -> 42, then by name) and cut into 5
contiguous groups: group k = subjects[5k:5k+5] (with another count, ``np.array_split`` sizes,
differing by at most one). ``load_unbc(root, fold=k)`` -> train = the other groups, test =
group k; ``fold=None`` -> one ``train`` split with every frame and its ``fold`` column. Pass
``groups=`` to use another assignment (e.g. the authors' fold file).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from generation.facs import DISTRACTOR_CODES, PAIN_CODES, PSPI_MAX, pspi

from ..features import PSPI_NAMES, au_struct
from .threedpain import Problem

N_FOLDS = 5
N_LANDMARKS = 66
PAIN_THRESHOLDS = (2, 3)
BINARY_NAMES = ["no_pain", "pain"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_MAX_INTENSITY = {"AU43": 1.0}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class UNBCError(ValueError):
    """The archive copy cannot be loaded as asked; the message says why."""


class UNBCWarning(UserWarning):
    """Frames skipped or labels adjusted while loading; the message names the files."""


def unbc_features():
    from datasets import Array2D, ClassLabel, Features, Image, Value

    return Features(
        {
            "image": Image(),
            "aus": au_struct(PAIN_CODES),
            "distractor_aus": au_struct(DISTRACTOR_CODES),
            "pspi": ClassLabel(names=PSPI_NAMES),
            "identity": Value("string"),
            "sequence": Value("string"),
            "frame": Value("string"),
            "frame_index": Value("int32"),
            "fold": Value("int32"),
            **{f"pain_ge{t}": ClassLabel(names=BINARY_NAMES) for t in PAIN_THRESHOLDS},
            "landmarks": Array2D(shape=(N_LANDMARKS, 2), dtype="float32"),
        }
    )


# --------------------------------------------------------------------------- subjects & folds


def _subject_key(name: str) -> tuple:
    m = re.match(r"\d+", name)
    return (int(m.group()) if m else math.inf, name)


def subject_groups(subjects: Sequence[str], n_folds: int = N_FOLDS) -> list[list[str]]:
    """The subjects, sorted (numeric prefix, then name), cut into ``n_folds`` contiguous groups."""
    subs = sorted(set(subjects), key=_subject_key)
    if len(subs) < n_folds:
        raise UNBCError(f"{len(subs)} subjects cannot make {n_folds} subject-disjoint folds; need at least {n_folds}")
    bounds = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(len(subs)), n_folds)])
    return [subs[bounds[k] : bounds[k + 1]] for k in range(n_folds)]


def _subjects(root: Path) -> list[str]:
    for rel in ("Images", "Frame_Labels/PSPI", "Frame_Labels/FACS"):
        d = root / rel
        if d.is_dir():
            subs = [p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")]
            if subs:
                return sorted(subs, key=_subject_key)
    raise UNBCError(
        f"{root} has no subject folders under Images/ or Frame_Labels/; "
        "point at the archive's top folder (holding Images/ and Frame_Labels/)"
    )


def unbc_folds(root: str | os.PathLike, n_folds: int = N_FOLDS) -> list[list[str]]:
    """The paper's subject groups of the copy in ``root`` (5 groups of 5 for the 25 subjects)."""
    root = Path(root)
    if not root.is_dir():
        raise UNBCError(f"UNBC folder {root} does not exist")
    return subject_groups(_subjects(root), n_folds)


# --------------------------------------------------------------------------- label files


def _numbers(line: str) -> list[float]:
    tokens = line.replace(",", " ").split()
    out = []
    for t in tokens:
        if not _NUMBER.fullmatch(t):
            raise ValueError(f"{t!r} is not a number")
        out.append(float(t))
    return out


def read_facs(path: Path) -> tuple[dict[str, float], dict[str, float]]:
    """(pain AUs, distractor AUs) of one ``*_facs.txt``; ValueError on a malformed file."""
    aus = {c: 0.0 for c in PAIN_CODES}
    distractors = {c: 0.0 for c in DISTRACTOR_CODES}
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        values = _numbers(line)
        if len(values) < 2:
            raise ValueError(f"line {n} has {len(values)} number(s); expected 'AU intensity ...'")
        number, intensity = values[0], values[1]
        if number != int(number) or number <= 0:
            raise ValueError(f"line {n}: AU number {number:g} is not a positive whole number")
        code = f"AU{int(number)}"
        if code not in aus and code not in distractors:
            continue  # coded in UNBC but not in the schema (AU20, AU27, ...)
        if code == "AU43":
            intensity = 1.0  # occurrence-coded: a row means eyes closed
        elif not 0.0 <= intensity <= 5.0:
            raise ValueError(f"line {n}: {code} intensity {intensity:g} is outside 0-5")
        (aus if code in aus else distractors)[code] = intensity
    return aus, distractors


def read_pspi(path: Path) -> float:
    values = [v for line in path.read_text().splitlines() if line.strip() for v in _numbers(line)]
    if len(values) != 1:
        raise ValueError(f"expected one number, found {len(values)}")
    value = values[0]
    if not 0.0 <= value <= PSPI_MAX:
        raise ValueError(f"PSPI {value:g} is outside 0-{PSPI_MAX}")
    return value


def read_landmarks(path: Path) -> np.ndarray:
    rows = [_numbers(line) for line in path.read_text().splitlines() if line.strip()]
    arr = np.asarray(rows, dtype=np.float32)
    if arr.shape != (N_LANDMARKS, 2):
        raise ValueError(f"expected {N_LANDMARKS} rows of 'x y', got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------- loader


def _frames(root: Path, subjects: Sequence[str], problems: list[Problem]) -> dict[str, list]:
    cols: dict[str, list] = {k: [] for k in unbc_features()}
    facs_root, pspi_root, aam_root = root / "Frame_Labels" / "FACS", root / "Frame_Labels" / "PSPI", root / "AAM_landmarks"
    seen_labels: set[Path] = set()
    for subject in subjects:
        subject_dir = root / "Images" / subject
        sequences = sorted(p for p in subject_dir.iterdir() if p.is_dir()) if subject_dir.is_dir() else []
        for seq_dir in sequences:
            frames = sorted(p for p in seq_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            for index, img in enumerate(frames):
                rel = Path(subject) / seq_dir.name
                facs_path = facs_root / rel / f"{img.stem}_facs.txt"
                pspi_path = pspi_root / rel / f"{img.stem}_facs.txt"
                seen_labels.update((facs_path, pspi_path))
                has_facs, has_pspi = facs_path.is_file(), pspi_path.is_file()
                where = str(img.relative_to(root))
                if not has_facs and not has_pspi:
                    problems.append(Problem(where, "no FACS and no PSPI label file", "skipped"))
                    continue
                try:
                    if has_facs:
                        aus, distractors = read_facs(facs_path)
                    else:
                        aus = {c: math.nan for c in PAIN_CODES}
                        distractors = {c: math.nan for c in DISTRACTOR_CODES}
                        problems.append(Problem(where, "no FACS file: aus left NaN", "kept"))
                except (ValueError, UnicodeDecodeError) as e:
                    problems.append(Problem(str(facs_path.relative_to(root)), f"malformed FACS file ({e})", "skipped"))
                    continue
                formula = pspi(aus) if has_facs else math.nan
                try:
                    score = read_pspi(pspi_path) if has_pspi else formula
                except (ValueError, UnicodeDecodeError) as e:
                    problems.append(Problem(str(pspi_path.relative_to(root)), f"malformed PSPI file ({e})", "skipped"))
                    continue
                if not has_pspi:
                    problems.append(Problem(where, f"no PSPI file: PSPI computed from the AUs ({formula:g})", "kept"))
                elif has_facs and abs(score - formula) > 1e-6:
                    problems.append(
                        Problem(
                            str(pspi_path.relative_to(root)),
                            f"PSPI {score:g} disagrees with the FACS file's AU formula ({formula:g}); the PSPI file is kept",
                            "kept",
                        )
                    )
                level = int(round(score))
                if abs(level - score) > 1e-6:
                    problems.append(Problem(str(pspi_path.relative_to(root)), f"PSPI {score:g} rounded to {level}", "kept"))
                landmarks = None
                aam_path = aam_root / rel / f"{img.stem}_aam.txt"
                if aam_path.is_file():
                    try:
                        landmarks = read_landmarks(aam_path)
                    except (ValueError, UnicodeDecodeError) as e:
                        problems.append(Problem(str(aam_path.relative_to(root)), f"malformed landmarks ({e}); left null", "kept"))
                cols["image"].append({"path": str(img.resolve()), "bytes": None})
                cols["aus"].append(aus)
                cols["distractor_aus"].append(distractors)
                cols["pspi"].append(level)
                cols["identity"].append(subject)
                cols["sequence"].append(seq_dir.name)
                cols["frame"].append(img.stem)
                cols["frame_index"].append(index)
                cols["fold"].append(-1)
                for t in PAIN_THRESHOLDS:
                    cols[f"pain_ge{t}"].append(int(level >= t))
                cols["landmarks"].append(landmarks)
    for label_root, kind in ((facs_root, "FACS"), (pspi_root, "PSPI")):
        if label_root.is_dir():
            for path in sorted(label_root.rglob("*_facs.txt")):
                if path not in seen_labels:
                    problems.append(Problem(str(path.relative_to(root)), f"{kind} label without an image", "skipped"))
    return cols


def load_unbc(
    root: str | os.PathLike,
    *,
    fold: int | None = None,
    groups: Sequence[Sequence[str]] | None = None,
    problems: list | None = None,
):
    """The archive copy in ``root`` as a ``datasets.DatasetDict`` with ``unbc_features()``.

    fold None: {"train": every frame}; fold k (0-4): {"train": the other groups, "test": group k}.
    groups: subject groups to use instead of ``unbc_folds(root)``. problems: a list that receives
    the ``Problem``s found (also summarized in one ``UNBCWarning``).
    """
    from datasets import Dataset, DatasetDict

    root = Path(root)
    if not root.is_dir():
        raise UNBCError(f"UNBC folder {root} does not exist")
    if not (root / "Images").is_dir():
        raise UNBCError(f"{root} has no Images/ folder; point at the archive's top folder")
    subjects = _subjects(root)
    if groups is None:
        groups = subject_groups(subjects)
    else:
        groups = [list(g) for g in groups]
        flat = [s for g in groups for s in g]
        if len(set(flat)) != len(flat):
            raise UNBCError("groups repeat a subject; each subject belongs to one group")
        missing = sorted(set(subjects) - set(flat), key=_subject_key)
        if missing:
            raise UNBCError(f"groups leave out subject(s) {', '.join(missing)}; every subject needs a group")
    n = len(groups)
    if fold is not None and (isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < n):
        raise UNBCError(f"fold {fold!r} is invalid; use 0 to {n - 1} or None")
    group_of = {s: k for k, g in enumerate(groups) for s in g}

    found: list[Problem] = []
    cols = _frames(root, subjects, found)
    cols["fold"] = [group_of[s] for s in cols["identity"]]
    if problems is not None:
        problems.extend(found)
    if found:
        shown = "; ".join(str(p) for p in found[:10])
        more = f"; and {len(found) - 10} more" if len(found) > 10 else ""
        warnings.warn(UNBCWarning(f"UNBC {root}: {len(found)} problem(s): {shown}{more}"), stacklevel=2)
    if not cols["identity"]:
        raise UNBCError(f"no labelled frame under {root}/Images")
    ds = Dataset.from_dict(cols, features=unbc_features())
    if fold is None:
        return DatasetDict({"train": ds})
    folds = np.asarray(cols["fold"])
    return DatasetDict(
        {
            "train": ds.select(np.flatnonzero(folds != fold)),
            "test": ds.select(np.flatnonzero(folds == fold)),
        }
    )
