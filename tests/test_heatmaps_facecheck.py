"""Heatmaps light up only the AU's region; a real-photo face detector and landmark tracker
find the generated faces and see the geometry the AU labels claim."""

from __future__ import annotations

import numpy as np
import pytest

from generation.facecheck import au_movement
from generation.heatmaps import colorize, encode_heat16, heatmap_from_maps, vertex_displacement
from generation.pipeline import GenerationConfig, Generator


def frames_for(aus, identities=3, views=(0.0,), size=192):
    cfg = GenerationConfig(identities=identities, expressions=1, views=views, size=size, fixed_aus=aus, seed=11)
    gen = Generator(cfg)
    return gen, [gen.identity(i) for i in range(identities)]


def test_neutral_frames_have_no_heat_and_pain_frames_do():
    _, results = frames_for({"AU4": 3, "AU43": 1}, identities=1, views=(-30.0, 0.0, 30.0))
    for f in results[0].frames:
        if f.expression == 0:
            assert f.heat is None
        else:
            assert f.heat.dtype == np.float32 and f.heat.min() >= 0 and f.heat.max() <= 1
            assert (f.heat > 0.2).sum() > 50
            assert np.allclose(np.linalg.norm(f.direction[f.heat > 0], axis=-1), 1, atol=1e-3)


def test_colorize_and_heat16_roundtrip():
    heat = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    rgb = colorize(heat)
    assert (rgb[heat == 0] == 0).all() and (rgb[heat > 0.05].sum(-1) > 0).all()
    assert np.abs(encode_heat16(heat) / 65535.0 - heat).max() < 1e-4


def test_vertex_displacement_hand_computed():
    a = np.zeros((2, 3), np.float32)
    b = np.array([[3, 4, 0], [0, 0, 0]], np.float32)
    d = vertex_displacement(a, b)
    np.testing.assert_allclose(d[0], [5, 0.6, 0.8, 0])
    assert d[1, 0] == 0
    # the rendered map: 10 mm -> 1.0, direction rotated into view space (x right, y up, z to camera)
    m = np.zeros((1, 1, 4), np.float32)
    m[0, 0] = [5, 1, 0, 0]
    hm = heatmap_from_maps(m, np.eye(3), scale_mm=10)
    assert hm.heat[0, 0] == pytest.approx(0.5)
    np.testing.assert_allclose(hm.direction[0, 0], [1, 0, 0])


@pytest.mark.parametrize(
    "aus, rows",
    [({"AU4": 5}, "upper"), ({"AU43": 1}, "eyes"), ({"AU10": 5}, "lower"), ({"AU9": 5}, "middle")],
)
def test_single_au_heat_stays_in_its_region(aus, rows):
    """Image rows are split at the eyes and the mouth (from the projected landmarks)."""
    gen, results = frames_for(aus, identities=2)
    cam = gen.cameras[0]
    for res in results:
        f = res.frames[1]
        lm = gen.model.landmarks(res.meshes[0])
        eye_y = cam.project(np.stack([lm["left_eye"], lm["right_eye"]]))[:, 1].mean()
        nose_y = cam.project(lm["nose_tip"][None])[0, 1]
        mouth_y = cam.project(lm["mouth_center"][None])[0, 1]
        heat = f.heat
        ys = np.nonzero(heat > 0.02)[0]
        w = heat[heat > 0.02]
        centroid = (ys * w).sum() / w.sum()
        px_per_mm = (mouth_y - eye_y) / 60.0
        if rows == "upper":  # brows: above the eyes
            assert centroid < eye_y
            assert (heat[int(mouth_y) :] > 0.02).sum() == 0  # nothing at or below the mouth
        elif rows == "eyes":
            assert abs(centroid - eye_y) < 12 * px_per_mm
            assert (heat[int(nose_y) :] > 0.02).sum() == 0
        elif rows == "lower":  # upper lip: between nose tip and mouth
            assert nose_y - 5 * px_per_mm < centroid < mouth_y + 5 * px_per_mm
            assert (heat[: int(eye_y)] > 0.02).sum() == 0  # nothing above the eyes
        else:  # AU9: nose and around it
            assert eye_y - 25 * px_per_mm < centroid < mouth_y


@pytest.fixture(scope="module")
def checker():
    from generation.facecheck import FaceChecker

    return FaceChecker()


def test_detector_finds_faces_in_every_view(checker):
    cfg = GenerationConfig(identities=6, expressions=2, views=(-30.0, 0.0, 30.0), size=256, seed=3, distractor_probability=0.3)
    gen = Generator(cfg)
    found = total = 0
    for i in range(cfg.identities):
        for f in gen.identity(i).frames:
            total += 1
            found += len(checker.detect(f.image)) > 0
    assert found / total >= 0.95, f"faces found in {found}/{total} frames"


def _deltas(checker, aus, n=8):
    _, results = frames_for(aus, identities=n, size=256)
    out = []
    for res in results:
        m0, m1 = checker.measure(res.frames[0].image), checker.measure(res.frames[1].image)
        assert m0 is not None and m1 is not None
        move = au_movement(m0, m1)  # positive: the way FACS says the AU moves the face
        out.append((move["AU43"], move["AU4"], move["AU9/AU10"]))
    return np.array(out)


def test_landmarks_see_eyes_closed_at_au43(checker):
    d = _deltas(checker, {"AU43": 1})
    assert (d[:, 0] > 0.08).mean() >= 7 / 8 and d[:, 0].mean() > 0.1, d[:, 0]


def test_landmarks_see_brows_lowered_at_au4(checker):
    d = _deltas(checker, {"AU4": 5})
    assert (d[:, 1] > 0).mean() >= 7 / 8 and d[:, 1].mean() > 0.02, d[:, 1]


def test_landmarks_see_upper_lip_raised_at_au10(checker):
    d = _deltas(checker, {"AU10": 5})
    assert (d[:, 2] > 0).mean() >= 6 / 8 and d[:, 2].mean() > 0.01, d[:, 2]
