"""pain3d check-faces: the report's arithmetic against hand computations, landmark measures on
hand-made landmarks, per-AU movement seen by dlib's tracker, and the command on a small dataset
with floors measured on the built-in head (see the README's face-check table)."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import spearmanr

from generation.facecheck import (
    AU_GROUPS,
    FaceRecord,
    FaceReport,
    au_movement,
    check_faces,
    layout_ratios,
    measures_from_landmarks,
    movement_by_level,
    spearman_interval,
    stratum_contrast,
    tracker_mean_shape,
)
from helpers import run


def _face(iod: float = 60.0) -> np.ndarray:
    """A plausible (68, 2) landmark set: eye corners on y = 100, eyes iod apart."""
    pts = np.zeros((68, 2))
    cx = 128.0
    for side, idx in ((-1, range(36, 42)), (1, range(42, 48))):
        ex = cx + side * iod / 2
        ring = [(-15, 0), (-5, -6), (5, -6), (15, 0), (5, 6), (-5, 6)]  # corners, upper, lower lid
        for k, (dx, dy) in zip(idx, ring):
            pts[k] = (ex + dx, 100 + dy)
    pts[17:27, 1] = 100 - 0.4 * iod  # brows
    pts[17:27, 0] = np.linspace(cx - 50, cx + 50, 10)
    pts[27] = (cx, 100)  # top of the nose bridge, level with the eye corners
    pts[33] = (cx, 100 + 0.7 * iod)  # nose base
    pts[48:68, 0] = np.linspace(cx - 25, cx + 25, 20)
    pts[48:68, 1] = 100 + 0.95 * iod
    pts[[50, 51, 52], 1] = 100 + 0.9 * iod  # upper lip top
    return pts


def test_measures_and_movement_on_hand_made_landmarks():
    iod = 60.0
    base = _face(iod)
    m0 = measures_from_landmarks(base)
    assert m0.iod == pytest.approx(iod)
    assert m0.brow_y == pytest.approx(100 - 0.4 * iod) and m0.lip_y == pytest.approx(100 + 0.9 * iod)
    assert m0.eye_aspect == pytest.approx(0.4) and m0.lower_lid_y == pytest.approx(106)  # lid gap 12 px over a 30 px eye
    pain = base.copy()
    pain[17:27, 1] += 0.05 * iod  # brows down by 0.05 IOD
    pain[[40, 41, 46, 47], 1] -= 3.0  # lower lids up 3 px
    pain[[50, 51, 52], 1] -= 0.08 * iod  # upper lip up
    pain[[37, 38, 43, 44], 1] += 6.0  # upper lids down onto the corner line: gap 12 -> 3 px
    move = au_movement(m0, measures_from_landmarks(pain))
    assert move["AU4"] == pytest.approx(0.05)
    assert move["AU6/AU7"] == pytest.approx(3 / iod)
    assert move["AU9/AU10"] == pytest.approx(0.08)
    assert move["AU43"] == pytest.approx(0.4 - 0.1)  # the eye aspect ratio, 12/30 -> 3/30
    # Only the measured points count: the eye corners and the brow tails, which the tracker
    # moves with the lids and brows, and the top of the nose bridge (point 27), which AU4 pulls
    # down, leave every measure alone.
    others = base.copy()
    others[[36, 39, 42, 45], 1] += 4.0
    others[[17, 18, 25, 26], 1] += 5.0
    others[27, 1] += 3.0
    assert au_movement(m0, measures_from_landmarks(others)) == pytest.approx(dict.fromkeys(AU_GROUPS, 0.0))
    # Closing lids pull the tracker's eye corners in: the pain frame's inter-ocular distance
    # shrinks 10 % while nothing else moves. Movement is in the neutral frame's IOD, so every
    # measure stays 0.
    narrow = base.copy()
    narrow[36:42, 0] += 3.0
    narrow[42:48, 0] -= 3.0
    m1 = measures_from_landmarks(narrow)
    assert m1.iod == pytest.approx(0.9 * iod)
    assert au_movement(m0, m1) == pytest.approx(dict.fromkeys(AU_GROUPS, 0.0))
    # The rows are compared as they are (a generated pair shares camera and pose): the whole
    # face 3 px higher reads as brows raised and lids and lip lifted by 3 px, eyes unchanged.
    shifted = base - np.array([0.0, 3.0])
    move = au_movement(m0, measures_from_landmarks(shifted))
    assert move == pytest.approx({"AU4": -3 / iod, "AU6/AU7": 3 / iod, "AU9/AU10": 3 / iod, "AU43": 0.0})
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        measures_from_landmarks(base[:60])


def test_layout_ratios_by_hand_and_invariant_to_placement():
    """Eye width 30 px and opening 12 px with eyes 60 px apart are 0.5 and 0.2 inter-ocular
    distances; the brows' inner ends (points 21, 22) are 100/9 px apart; moving, turning and
    scaling the face changes nothing."""
    pts = _face(iod=60.0)
    r = layout_ratios(pts)
    assert r["eye width"] == pytest.approx(0.5)
    assert r["eye opening"] == pytest.approx(0.2)
    assert r["brow inner gap"] == pytest.approx(100 / 9 / 60)
    t = np.radians(20)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    moved = layout_ratios(2.5 * pts @ rot.T + [40.0, -7.0])
    assert moved == pytest.approx(r)


def test_tracker_mean_shape_is_a_face_and_where_the_tracker_starts():
    """The predictor's mean face read from its model file: mirror-symmetric about the box's
    middle (point pairs across the face agree to 0.002 of the box), features in their order from
    top to bottom; and the predictor's own answer on a rendered face lies near it (after a
    similarity fit: 0.03 of the box on average), far nearer than to the mean face with its mouth
    moved above the eyes (a misread file would be neither)."""
    from generation.facecheck import FaceChecker, largest
    from generation.pipeline import GenerationConfig, Generator

    m = tracker_mean_shape()
    assert m.shape == (68, 2)
    mirror = {**{i: 16 - i for i in range(17)}, **{17 + i: 26 - i for i in range(10)}, 36: 45, 37: 44, 38: 43, 39: 42,
              40: 47, 41: 46, 31: 35, 32: 34, 48: 54, 49: 53, 50: 52, 59: 55, 58: 56, 60: 64, 61: 63, 67: 65}
    for a, b in mirror.items():
        assert m[a, 0] + m[b, 0] == pytest.approx(1.0, abs=0.002) and m[a, 1] == pytest.approx(m[b, 1], abs=0.002)
    for i in (27, 30, 33, 51, 57, 8):
        assert m[i, 0] == pytest.approx(0.5, abs=0.002)
    assert m[19, 1] < m[37, 1] < m[41, 1] < m[33, 1] < m[51, 1] < m[57, 1] < m[8, 1]

    image = Generator(GenerationConfig(identities=1, expressions=0, views=(0.0,), size=256, seed=11)).identity(0).frames[0].image
    checker = FaceChecker()
    found = checker.landmarks(image, largest(checker.detect(image)))

    def fit_error(target: np.ndarray) -> float:
        a, b = found - found.mean(0), target - target.mean(0)
        u, sv, vt = np.linalg.svd(a.T @ b)
        fitted = (sv.sum() / (a**2).sum()) * a @ (u @ vt)
        return float(np.linalg.norm(fitted - b, axis=1).mean())

    mouth_up = m.copy()
    mouth_up[48:68, 1] = 2 * m[27, 1] - m[48:68, 1]  # the mouth mirrored up about the nose bridge's top
    assert fit_error(m) < 0.03
    assert fit_error(mouth_up) > 2 * fit_error(m)


def test_mirror_landmarks_renumber_and_reflect():
    """The mirror of the tracker's (nearly symmetric) mean face is that face again; mirroring
    twice gives the points back; each point pairs with its counterpart (eye corners, mouth
    corners) and midline points stay on the midline."""
    from generation.facecheck import MIRROR_68, mirror_landmarks

    assert sorted(MIRROR_68) == list(range(68)) and all(MIRROR_68[MIRROR_68[i]] == i for i in range(68))
    assert {i for i in range(68) if MIRROR_68[i] == i} == {8, 27, 28, 29, 30, 33, 51, 57, 62, 66}
    mean = tracker_mean_shape() * 100 + 50  # in a 100 px image, midline at x = 49.5
    mean[:, 0] += 49.5 - mean[[27, 28, 29, 30, 33, 51, 57, 62, 66], 0].mean()
    back = mirror_landmarks(mean, 100)
    assert np.abs(back - mean).max() < 2.5  # px; the predictor's mean face is symmetric to 2.5 %
    np.testing.assert_allclose(mirror_landmarks(back, 100), mean)
    assert back[36, 0] == pytest.approx(99 - mean[45, 0]) and back[48, 1] == mean[54, 1]


def test_movement_by_level_by_hand():
    # Level 0: 1, 2, 3, 4 -> median 2.5, quartiles 1.75 and 3.25 (linear interpolation);
    # level 5: 10, 30 -> median 20, quartiles 15 and 25. Levels come out sorted.
    out = movement_by_level(np.array([5, 0, 0, 5, 0, 0]), np.array([30.0, 1.0, 2.0, 10.0, 3.0, 4.0]))
    assert out == [
        {"level": 0.0, "pairs": 4, "median": 2.5, "iqr": pytest.approx(1.5)},
        {"level": 5.0, "pairs": 2, "median": 20.0, "iqr": pytest.approx(10.0)},
    ]


class _StubChecker:
    """Deterministic stand-in for dlib: boxes, landmarks and descriptors read off the image."""

    def detect(self, img):
        return [] if img[0, 0, 0] == 255 else [(0, 0, 10, 10)]

    def detect_cnn(self, img):
        return [(0, 0, 10, 10)]

    def landmarks(self, img, box):
        pts = _face()
        pts[17:27, 1] += float(img[0, 0, 1])  # brows lowered by the green value, in pixels
        return pts

    def descriptor(self, img, box):
        return img[0, 0, :].astype(np.float64) / 100.0 + img[1, 0, :] / 1000.0


def _records():
    rng = np.random.default_rng(0)
    recs = []
    strata = ["young/man/Black", "young/man/Black", "elderly/woman/White", "elderly/woman/White", "young/woman/Latino"]
    for i, stratum in enumerate(strata):
        ident = rng.integers(0, 200, 3)
        for e in range(4):
            for view, yaw in (("yaw-30", -30.0), ("yaw+0", 0.0)):
                img = np.zeros((4, 4, 3), np.uint8)
                img[0, 0] = ident
                img[0, 0, 1] = 0 if e == 0 else e * 3  # AU4 = e lowers the brows 3e px
                img[1, 0] = rng.integers(0, 90, 3) if e else 0  # pain drifts the descriptor
                if view == "yaw-30" and i == 0:
                    img[0, 0, 0] = 255  # HOG misses this identity's turned frames
                recs.append(FaceRecord(f"id{i}", e, view, yaw, stratum, {"AU4": float(e), "AU43": float(e % 2)}, img))
    return recs


def test_report_matches_a_hand_computation():
    recs = _records()
    rep = check_faces(recs, _StubChecker())
    stub = _StubChecker()
    assert rep.frames == len(recs) and rep.identities == 5
    assert rep.detection["yaw-30"] == {"HOG": pytest.approx(4 / 5), "CNN": 1.0}
    assert rep.detection["yaw+0"] == {"HOG": 1.0, "CNN": 1.0}
    assert list(rep.detection) == ["yaw-30", "yaw+0"]  # ordered by yaw
    # Identity distances: frontal neutral descriptors, all pairs.
    neutral = {r.identity: stub.descriptor(r.image, None) for r in recs if r.expression == 0 and r.view == "yaw+0"}
    d = np.array([np.linalg.norm(neutral[a] - neutral[b]) for a, b in combinations(sorted(neutral), 2)])
    assert rep.identity_view == "yaw+0"
    assert rep.distance["pairs"] == 10
    assert rep.distance["median"] == pytest.approx(np.median(d))
    assert rep.distance["p5"] == pytest.approx(np.percentile(d, 5))
    assert rep.distance["distinct"] == pytest.approx((d > 0.6).mean())
    same = [np.linalg.norm(neutral[a] - neutral[b]) for a, b in (("id0", "id1"), ("id2", "id3"))]
    assert rep.within_stratum_distinct == pytest.approx(np.mean(np.array(same) > 0.6))
    assert set(rep.distance_by_stratum) == {"young/man/Black", "elderly/woman/White"}
    # Pain frames vs their own neutral, same view.
    base = {(r.identity, r.view): stub.descriptor(r.image, None) for r in recs if r.expression == 0}
    kept = [np.linalg.norm(stub.descriptor(r.image, None) - base[(r.identity, r.view)]) < 0.6 for r in recs if r.expression]
    assert rep.pain_kept == pytest.approx(np.mean(kept))
    # Spearman: AU4's movement is exactly the brow drop (3e px / 60 px IOD) -> rho 1.
    labels = [r.aus["AU4"] for r in recs if r.expression]
    assert rep.au_spearman["AU4"] == pytest.approx(1.0)
    assert rep.au_pairs["AU4"] == len(labels)
    # AU43 does not move any stubbed landmark: no variation, reported as NaN, not as a number.
    assert np.isnan(rep.au_spearman["AU43"])
    assert spearmanr(labels, [3 * a / 60 for a in labels]).statistic == pytest.approx(1.0)
    # Resampling identities cannot break a perfect ranking; no variation, no interval.
    assert rep.au_spearman_ci["AU4"] == pytest.approx((1.0, 1.0))
    assert np.isnan(rep.au_spearman_ci["AU43"]).all()
    text = rep.format()
    assert "yaw-30" in text and "Spearman" in text and set(AU_GROUPS) <= set(rep.au_spearman)
    # The distances binned for the plot: each pair in the bin [edge_k, edge_k+1) holding it.
    edges = rep.distance_histogram["edges"]
    assert edges[0] == 0.0 and edges[-1] == pytest.approx(1.4) and len(edges) == 29
    by_hand = [0] * (len(edges) - 1)
    for x in d:
        by_hand[min(int(np.searchsorted(edges, x, side="right")) - 1, len(edges) - 2)] += 1
    assert rep.distance_histogram["all"] == by_hand and sum(by_hand) == 10
    assert sum(rep.distance_histogram["same stratum"]) == 2
    # The JSON round trip the plots read back: the same report; an older report's missing
    # fields keep their defaults, a newer one's unknown fields are left out.
    data = json.loads(json.dumps(rep.as_dict()))
    assert FaceReport.from_dict(data).as_dict() == data
    old = {k: v for k, v in data.items() if k != "distance_histogram"} | {"from_the_future": 1}
    assert FaceReport.from_dict(old).distance_histogram == {}


def test_identity_distances_by_what_differs_between_strata():
    """Pairs are grouped by which of age, gender and ethnicity differ: each row holds exactly
    the pairs listed by hand; pairs differing in two attributes, or with a missing label, are
    in no row."""
    strata = {"id0": "young/man/Black", "id1": "young/woman/Black", "id2": "elderly/man/Black",
              "id3": "young/man/White", "id4": "elderly/woman/White"}
    recs = [replace(r, stratum=strata[r.identity]) for r in _records()]
    rep = check_faces(recs, _StubChecker())
    stub = _StubChecker()
    neutral = {r.identity: stub.descriptor(r.image, None) for r in recs if r.expression == 0 and r.view == "yaw+0"}

    def d(pairs):
        return np.array([np.linalg.norm(neutral[a] - neutral[b]) for a, b in pairs])

    expected = {"same stratum": [], "age only": [("id0", "id2")], "gender only": [("id0", "id1")],
                "ethnicity only": [("id0", "id3")], "all three": [("id0", "id4")]}
    assert list(rep.distance_by_contrast) == list(expected)
    for row, pairs in expected.items():
        got = rep.distance_by_contrast[row]
        assert got["pairs"] == len(pairs)
        if pairs:
            assert got["median"] == pytest.approx(np.median(d(pairs)))
            assert got["distinct"] == pytest.approx((d(pairs) > 0.6).mean())
        else:
            assert np.isnan(got["median"])
    assert "age only" in rep.format() and "same stratum" not in rep.format()  # empty rows are not printed
    assert stratum_contrast("young/man/Black", "elderly/woman/Black") == "two"
    assert stratum_contrast("unknown/man/Black", "unknown/man/Black") == "unknown"
    assert stratum_contrast("young/man/Black", "young/man/Black") == "same stratum"


def test_each_au_of_a_group_alone_by_hand():
    """AU9 lifts the stub's upper lip 1 px a level, AU10 2 px: at the same label the report's
    per-AU split shows AU9 alone moving half as far, and leaves out frames with both."""

    class LipStub(_StubChecker):
        def landmarks(self, img, box):
            pts = _face()
            pts[[50, 51, 52], 1] -= float(img[0, 0, 2])  # the lip rises by the blue value, px
            return pts

    aus = [{}, {"AU9": 2}, {"AU10": 2}, {"AU9": 3, "AU10": 3}, {"AU10": 5}, {"AU9": 5}]
    recs = []
    for i in range(2):
        for e, a in enumerate(aus):
            img = np.zeros((4, 4, 3), np.uint8)
            img[0, 0, 0] = 10 * i
            img[0, 0, 2] = a.get("AU9", 0) + 2 * a.get("AU10", 0)
            recs.append(FaceRecord(f"id{i}", e, "yaw+0", 0.0, "young/man/Black", {k: float(v) for k, v in a.items()}, img))
    rep = check_faces(recs, LipStub(), aus_only=True)
    alone = rep.au_alone["AU9/AU10"]
    assert [(v["level"], v["pairs"], v["median"]) for v in alone["AU9"]] == [(2.0, 2, pytest.approx(2 / 60)), (5.0, 2, pytest.approx(5 / 60))]
    assert [(v["level"], v["pairs"], v["median"]) for v in alone["AU10"]] == [(2.0, 2, pytest.approx(4 / 60)), (5.0, 2, pytest.approx(10 / 60))]
    assert set(rep.au_alone) == {"AU6/AU7", "AU9/AU10"} and rep.au_alone["AU6/AU7"] == {"AU6": [], "AU7": []}
    assert "AU9 alone" in rep.format() and "5: +0.083 (2)" in rep.format()


def test_rank_correlation_per_view_by_hand():
    """Each view's rho is over that view's pairs alone: the frontal view reads AU4 in order,
    the turned view reads it scrambled, and the overall rho lies between them."""
    order = {0: 0, 1: 3, 2: 1, 3: 4, 4: 2}  # the turned view's brow drop per AU4 level, px
    recs = []
    for i in range(3):
        for e in range(5):
            for view, yaw in (("yaw+30", 30.0), ("yaw+0", 0.0)):
                img = np.zeros((4, 4, 3), np.uint8)
                img[0, 0, 0] = 10 * i
                img[0, 0, 1] = 3 * (e if view == "yaw+0" else order[e]) + i  # brows lowered, px
                if e:
                    img[0, 0, 1] += 1  # every pain frame moves a little, so level 0 ties nothing
                recs.append(FaceRecord(f"id{i}", e, view, yaw, "young/man/Black", {"AU4": float(e)}, img))
    rep = check_faces(recs, _StubChecker(), aus_only=True)
    by_view = rep.au_spearman_by_view["AU4"]
    assert list(by_view) == ["yaw+0", "yaw+30"]  # ordered by yaw
    for view in by_view:
        pairs = [(r.aus["AU4"], 3 * (r.expression if view == "yaw+0" else order[r.expression]) + 1) for r in recs if r.view == view and r.expression]
        assert by_view[view] == pytest.approx(spearmanr(*zip(*pairs)).statistic)
    assert by_view["yaw+0"] == pytest.approx(1.0) and by_view["yaw+30"] < 0.5
    assert by_view["yaw+30"] < rep.au_spearman["AU4"] < by_view["yaw+0"]
    assert np.isnan(rep.au_spearman_by_view["AU43"]["yaw+0"])  # no AU43 label varies
    assert "Spearman rho per view" in rep.format() and "yaw+30 " in rep.format()


def test_spearman_interval_resamples_identities():
    rng = np.random.default_rng(1)

    def sample(n_groups, per_group, r=0.6, shared=False):
        """Bivariate normal pairs with correlation r; ``shared``: a group's frames are one draw."""
        draws = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], n_groups if shared else n_groups * per_group)
        xy = np.repeat(draws, per_group, axis=0) if shared else draws
        return np.repeat([f"id{k}" for k in range(n_groups)], per_group), xy[:, 0], xy[:, 1]

    # Independent frames: the interval holds the population's Spearman rho, (6/pi) asin(r/2),
    # and the sample's, and narrows with more identities.
    g, x, y = sample(200, 5)
    lo, hi = spearman_interval(g, x, y, draws=400, seed=0)
    assert lo < 6 / np.pi * np.arcsin(0.3) < hi and lo < spearmanr(x, y).statistic < hi
    assert hi - lo < 0.12
    g, x, y = sample(20, 5)
    lo20, hi20 = spearman_interval(g, x, y, draws=400, seed=0)
    assert hi20 - lo20 > 2 * (hi - lo)
    # A face's frames repeating one draw are one observation, not ten: resampling identities
    # gives a wider interval than pretending each frame were its own identity.
    g, x, y = sample(12, 10, shared=True)
    by_face = spearman_interval(g, x, y, draws=400, seed=0)
    by_frame = spearman_interval(np.arange(len(x)).astype(str), x, y, draws=400, seed=0)
    assert by_face[1] - by_face[0] > 2 * (by_frame[1] - by_frame[0])
    # Same seed, same interval; one identity has no interval.
    assert spearman_interval(g, x, y, draws=400, seed=0) == by_face
    assert np.isnan(spearman_interval(["a"] * 5, np.arange(5.0), np.arange(5.0))).all()


# --------------------------------------------------------------------------- dlib on renders

@pytest.fixture(scope="module")
def checker():
    from generation.facecheck import FaceChecker

    return FaceChecker()


def _movement(checker, aus: dict, key: str, n: int = 8) -> np.ndarray:
    from generation.pipeline import GenerationConfig, Generator

    gen = Generator(GenerationConfig(identities=n, expressions=1, views=(0.0,), size=256, fixed_aus=aus, seed=11))
    out = []
    for i in range(n):
        res = gen.identity(i)
        m0, m1 = checker.measure(res.frames[0].image), checker.measure(res.frames[1].image)
        assert m0 is not None and m1 is not None
        out.append(au_movement(m0, m1)[key])
    return np.array(out)


# Floors measured on seed 11 (8 identities; share moving the FACS way, mean movement in the
# neutral frame's IOD; AU43: the fall of the eye aspect ratio), at 5bc90a1 (shading in linear
# light): AU4 8/8 +0.064, AU6 8/8 +0.041, AU7 8/8 +0.042, AU9 8/8 +0.044, AU10 8/8 +0.065, AU43
# 8/8 +0.283 (an open eye's ratio is about 0.4); before it, AU6 and AU7 +0.036, AU9 7/8 +0.036.
# The tracker moves its lid points less than the rig moves the lids (AU7 raises the lower lid
# ~4.5 mm, about 0.07 IOD), and now and then it fits a lip or lid badly: issue 12's
# rank-correlation target is not met for AU9/AU10, nor for AU6/AU7 on two of five test seeds
# (see the README).
@pytest.mark.parametrize(
    "aus, key, share, mean",
    [
        ({"AU4": 5}, "AU4", 7 / 8, 0.045),
        ({"AU6": 5}, "AU6/AU7", 7 / 8, 0.03),
        ({"AU7": 5}, "AU6/AU7", 7 / 8, 0.03),
        ({"AU9": 5}, "AU9/AU10", 7 / 8, 0.03),
        ({"AU10": 5}, "AU9/AU10", 7 / 8, 0.045),
        ({"AU43": 1}, "AU43", 7 / 8, 0.2),
    ],
    ids=["AU4", "AU6", "AU7", "AU9", "AU10", "AU43"],
)
def test_tracker_sees_the_au_move_in_its_facs_direction(checker, aus, key, share, mean):
    move = _movement(checker, aus, key)
    assert (move > 0).mean() >= share and move.mean() > mean, move


@pytest.mark.parametrize("aus, mean", [({"AU9": 5}, 0.035), ({"AU10": 5}, 0.045)], ids=["AU9", "AU10"])
def test_tracker_sees_the_upper_lip_rise_under_a_moustache(checker, monkeypatch, aus, mean):
    """Every one of 8 faces given a dense moustache (seed 11) shows the tracker its upper lip
    rising under AU9 and AU10 at level 5. Measured: AU9 8/8 +0.044, AU10 8/8 +0.055 IOD; with
    the moustache covering the lip's skin fully (before ``MOUSTACHE_COVER``) 7/8 +0.025 and
    7/8 +0.040: one lip read as falling."""
    import generation.texture as texture

    drawn = texture.sample_hair
    monkeypatch.setattr(texture, "sample_hair", lambda *a, **k: replace(drawn(*a, **k), facial="moustache", beard_density=1.0))
    move = _movement(checker, aus, "AU9/AU10")
    assert np.all(move > 0) and move.mean() > mean, move


def test_chip_is_the_face_aligned_whatever_its_place_and_size():
    """``FaceChecker.chip`` is the aligned 150 px face the recognizer reads: the same face moved
    within a larger canvas or scaled by 1.25 gives nearly the same chip and descriptor (measured:
    7.4 and 1.7 grey levels apart, descriptors 0.12 and 0.06 apart; dlib's same person is < 0.6;
    another identity's chip is 59 levels away), and ``descriptor`` is the chip's descriptor."""
    from PIL import Image

    from generation.facecheck import CHIP_SIZE, FaceChecker, largest
    from generation.pipeline import GenerationConfig, Generator

    gen = Generator(GenerationConfig(identities=1, expressions=0, views=(0.0,), size=256, seed=11))
    image = gen.identity(0).frames[0].image
    checker = FaceChecker(recognizer=True)
    canvas = np.full((420, 420, 3), 90, np.uint8)
    canvas[70:326, 120:376] = image
    scaled = np.asarray(Image.fromarray(image).resize((320, 320), Image.BICUBIC))
    chips, descs = [], []
    for img in (image, canvas, scaled):
        box = largest(checker.detect(img))
        chip = checker.chip(img, box)
        assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3) and chip.dtype == np.uint8
        chips.append(chip.astype(np.float64))
        descs.append(checker.chip_descriptor(chip))
        np.testing.assert_allclose(checker.descriptor(img, box), descs[-1])
    for chip, desc in zip(chips[1:], descs[1:]):
        assert np.abs(chip - chips[0]).mean() < 12.0
        assert np.linalg.norm(desc - descs[0]) < 0.2
    # A different face is further away than either copy.
    other = Generator(GenerationConfig(identities=2, expressions=0, views=(0.0,), size=256, seed=11)).identity(1).frames[0].image
    d_other = np.linalg.norm(checker.descriptor(other, largest(checker.detect(other))) - descs[0])
    assert d_other > 2 * max(np.linalg.norm(d - descs[0]) for d in descs[1:])
    with pytest.raises(ValueError, match=r"\(150, 150, 3\) uint8"):
        checker.chip_descriptor(np.zeros((128, 128, 3), np.uint8))


def test_check_faces_command_on_a_small_dataset(tmp_path, capsys):
    out = tmp_path / "ds"
    code, _, err = run(["generate", "--out", out, "--identities", 8, "--expressions", 2, "--size", 128, "--seed", 5, "--quiet"], capsys)
    assert code == 0, err
    code, text, err = run(["check-faces", out, "--json", tmp_path / "report.json", "--plot", tmp_path / "plots" / "report.png", "--quiet"], capsys)
    assert code == 0, err
    from PIL import Image

    with Image.open(tmp_path / "plots" / "report.png") as im:  # four panels side by side
        assert im.format == "PNG" and im.size[0] > 3 * im.size[1]
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["frames"] == 8 * 3 * 3 and rep["identities"] == 8
    assert "identity distance" in text and "Spearman" in text
    # Floors measured on this batch (seed 5, 128 px): the CNN detector finds every face and HOG
    # every frontal one, the frontal neutral faces are 28 pairs with median distance ~0.49, pain
    # keeps identity.
    for view, rates in rep["detection"].items():
        assert rates["CNN"] >= 0.95, (view, rates)
    assert rep["detection"]["yaw+0"]["HOG"] >= 0.95
    assert rep["distance"]["pairs"] == 28 and rep["distance"]["median"] > 0.42
    assert rep["pain_kept"] >= 0.95
    # The movement by label level covers every pair once, levels sorted; printed for people.
    for g in AU_GROUPS:
        levels = rep["au_levels"][g]
        assert sum(v["pairs"] for v in levels) == rep["au_pairs"][g]
        assert [v["level"] for v in levels] == sorted({v["level"] for v in levels})
    assert "movement by label level" in text
    # --aus-only: the same landmarks without the CNN detector and the recognizer, so the same
    # rank correlations over the frames HOG finds; frames only the CNN finds drop out (at 128
    # px HOG misses a few turned frames).
    code, text, err = run(["check-faces", out, "--aus-only", "--json", tmp_path / "aus.json", "--plot", tmp_path / "aus.png", "--quiet"], capsys)
    assert code == 0, err
    assert (tmp_path / "aus.png").stat().st_size > 0 and not list(tmp_path.glob("*.tmp"))
    fast = json.loads((tmp_path / "aus.json").read_text())
    assert "identity distance" not in text and "Spearman" in text
    assert fast["detection"] == {v: {"HOG": r["HOG"]} for v, r in rep["detection"].items()}
    hog_missed = any(r["HOG"] < 1.0 for r in rep["detection"].values())
    for g in AU_GROUPS:
        if hog_missed:
            assert fast["au_pairs"][g] < rep["au_pairs"][g]
        else:
            assert fast["au_pairs"][g] == rep["au_pairs"][g]
            assert fast["au_spearman"][g] == pytest.approx(rep["au_spearman"][g], nan_ok=True)


def test_frames_carry_each_identitys_facial_hair_and_older_datasets_still_read(tmp_path, capsys):
    """Both layouts store each identity's facial hair (the generator's own choice) and the frame
    reader hands it on; a dataset written before the column existed reads as "unknown"."""
    import pyarrow.parquet as pq

    from generation.pipeline import GenerationConfig, Generator
    from pain3d_dataset.frames import iter_face_records

    n = 10  # ten identities of seed 3 include men with and without facial hair
    gen = Generator(GenerationConfig(identities=n, expressions=0, views=(0.0,), size=32, seed=3))
    truth = {f.identity: f.appearance.hair_style.facial for i in range(n) for f in gen.identity(i).frames[:1]}
    assert {"none"} < set(truth.values())
    for layout in ("hub", "folder"):
        out = tmp_path / layout
        code, _, err = run(["generate", "--out", out, "--identities", n, "--expressions", 1, "--views", 1,
                            "--size", 32, "--seed", 3, "--format", layout, "--quiet"], capsys)
        assert code == 0, err
        seen = {r.identity: r.facial_hair for r in iter_face_records(out)}
        assert seen == truth, layout
    # The Hub layout without the column (as written before it existed): read, marked unknown.
    for shard in (tmp_path / "hub" / "data" / "frames").glob("*.parquet"):
        table = pq.read_table(shard)
        pq.write_table(table.drop_columns(["facial_hair"]), shard)
    assert {r.facial_hair for r in iter_face_records(tmp_path / "hub")} == {"unknown"}


def test_aus_only_runs_neither_the_cnn_detector_nor_the_recognizer():
    class TrackerOnly(_StubChecker):
        def detect_cnn(self, img):
            raise AssertionError("aus_only ran the CNN detector")

        def descriptor(self, img, box):
            raise AssertionError("aus_only ran the recognizer")

    recs = _records()
    full, fast = check_faces(recs, _StubChecker()), check_faces(recs, TrackerOnly(), aus_only=True)
    assert fast.detection == {v: {"HOG": r["HOG"]} for v, r in full.detection.items()}
    # Without the CNN detector, frames HOG misses (id0's turned ones) have no landmarks.
    seen = [r for r in recs if r.expression and r.image[0, 0, 0] != 255]
    assert fast.au_pairs["AU4"] == len(seen) < full.au_pairs["AU4"]
    assert fast.au_spearman["AU4"] == pytest.approx(1.0) and np.isnan(fast.au_spearman["AU43"])
    assert fast.distance == {} and np.isnan(fast.pain_kept)
    text = fast.format()
    assert "Spearman" in text and "identity distance" not in text and "own neutral" not in text


def test_check_faces_rejects_a_folder_without_frames(tmp_path, capsys):
    code, _, err = run(["check-faces", tmp_path], capsys)
    assert code == 2 and "no frames found" in err and "Traceback" not in err


def test_preview_lineup_one_identity_per_stratum(tmp_path, capsys):
    from PIL import Image

    from generation.demographics import STRATA
    from generation.pipeline import GenerationConfig, Generator

    out = tmp_path / "lineup.png"
    code, _, err = run(["preview", "--lineup", "--identities", 24, "--size", 48, "--seed", 3, "--out", out, "--quiet"], capsys)
    assert code == 0, err
    img = np.asarray(Image.open(out))
    # 4 identities per row, each frontal + 30 degrees side by side, 16 px label above each row.
    assert img.shape == (6 * (48 + 16), 4 * 2 * 48, 3)
    gen = Generator(GenerationConfig(identities=24, expressions=0, views=(0.0, 30.0), size=48, seed=3))
    assert sorted(gen.demographics, key=STRATA.index) == list(STRATA)  # every stratum once
    first = gen.identity(0).frames
    np.testing.assert_array_equal(img[16 : 16 + 48, 0:48], first[0].image)
    np.testing.assert_array_equal(img[16 : 16 + 48, 48:96], first[1].image)
    cells = [img[16 + r * 64 : 16 + r * 64 + 48, c * 96 : c * 96 + 48] for r in range(6) for c in range(4)]
    assert len({cell.tobytes() for cell in cells}) == 24  # 24 different faces


def test_preview_lineup_rejects_a_bad_yaw(tmp_path, capsys):
    code, _, err = run(["preview", "--lineup", "--lineup-yaw", "nan", "--size", 48, "--out", tmp_path / "l.png"], capsys)
    assert code == 2 and "--lineup-yaw" in err and "Traceback" not in err
    assert not (tmp_path / "l.png").exists()


def test_check_faces_refuses_a_plot_that_is_not_a_png_before_any_work(tmp_path, capsys):
    code, _, err = run(["check-faces", tmp_path, "--plot", tmp_path / "report.jpg"], capsys)
    assert code == 2 and "--plot must name a .png file" in err and "Traceback" not in err
    (tmp_path / "dir.png").mkdir()
    code, _, err = run(["check-faces", tmp_path, "--plot", tmp_path / "dir.png"], capsys)
    assert code == 2 and "--plot must name a .png file" in err
    assert not (tmp_path / "report.jpg").exists()
