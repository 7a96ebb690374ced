"""Procedural appearance: skin tones follow the demographics, age adds texture, backgrounds vary."""

from __future__ import annotations

import numpy as np
import pytest

from generation.demographics import ETHNICITIES, Demographics
from generation.head import BuiltinHead
from generation.mesh import Mesh
from generation.pipeline import EXPOSURE_TARGET, exposure, sample_person
from generation.render import linear_to_srgb, srgb_to_linear
from generation.texture import (
    SKIN_LAB,
    SKIN_TONE_RANGE,
    age_folds,
    background,
    cielab_to_srgb,
    lip_colour,
    sample_appearance,
    skin_colour,
    srgb_to_cielab,
    vertex_albedo,
)


def luminance(rgb):
    return rgb @ np.array([0.2126, 0.7152, 0.0722])


def cielab(rgb):
    """CIELAB (D65) of sRGB in [0, 1], from the CIE formulas (an independent reference)."""
    c = np.asarray(rgb, dtype=np.float64)
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def test_lips_differ_from_the_skin_as_real_lips_do():
    """On light skin real lips are about 10-15 L* darker and 8-15 a* redder than the skin beside
    them (Stephen and McKeegan 2010; Porcheron et al. 2013). The tinted colour alone was twice
    that: L* 27-33 darker, a* 25-28 redder, a salmon band."""
    rng = np.random.default_rng(5)
    d_l, d_a = [], []
    for _ in range(200):
        app = sample_appearance(Demographics("young", str(rng.choice(["man", "woman"])), "White"), 0.3, rng)
        if app.skin_tone > 5:
            continue
        skin = np.asarray(app.skin_rgb)
        dl, da, _ = cielab(lip_colour(skin, app)) - cielab(skin)
        d_l.append(dl)
        d_a.append(da)
    assert len(d_l) > 50
    assert -18 < np.median(d_l) < -8 and 7 < np.median(d_a) < 16, (np.median(d_l), np.median(d_a))
    assert -22 < np.min(d_l) and np.max(d_l) < -4 and 4 < np.min(d_a) and np.max(d_a) < 22
    # Darker skin keeps lips darker than the skin, by less.
    app = sample_appearance(Demographics("young", "woman", "Black"), 0.3, np.random.default_rng(0))
    dl, da, _ = cielab(lip_colour(np.asarray(app.skin_rgb), app)) - cielab(np.asarray(app.skin_rgb))
    assert -12 < dl < 0 and da > 0


def test_cielab_to_srgb_inverts_the_cie_formulas():
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0.05, 0.95, (200, 3))
    np.testing.assert_allclose(cielab_to_srgb(cielab(rgb)), rgb, atol=2e-4)
    np.testing.assert_allclose(srgb_to_cielab(rgb), cielab(rgb), atol=1e-9)
    np.testing.assert_allclose(cielab_to_srgb([100.0, 0.0, 0.0]), [1.0, 1.0, 1.0], atol=2e-3)


def test_skin_is_skin_coloured_from_very_light_to_dark():
    """Measured facial skin is never grey (a* about 8-13, b* 13-19, hue 45-70 degrees), and its
    lightness spans the ITA classes from very light (> 55 degrees) to dark (< -30; Chardon et
    al. 1991). The Monk swatches used before had a* 0.2-3.5 on the light side: khaki-grey faces."""
    lab = cielab(np.array([skin_colour(s) for s in np.linspace(1, 10, 19)]))
    np.testing.assert_allclose(lab[::2], SKIN_LAB, atol=0.05)  # the table, through sRGB and back
    assert (np.diff(lab[:, 0]) < 0).all()  # light to dark
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))
    assert (45 < hue).all() and (hue < 70).all() and (np.hypot(lab[:, 1], lab[:, 2]) > 12).all()
    ita = np.degrees(np.arctan((lab[:, 0] - 50) / lab[:, 2]))
    assert ita[0] > 55 and ita[-1] < -30
    # every sampled identity, undertone included, stays skin-coloured
    rng = np.random.default_rng(1)
    apps = [sample_appearance(Demographics("young", "man", e), 0.3, rng) for e in ETHNICITIES for _ in range(30)]
    lab = cielab(np.array([a.skin_rgb for a in apps]))
    assert lab[:, 1].min() > 3 and lab[:, 2].min() > 6 and lab[:, 1].std() > 1


def test_skin_tones_cover_light_to_dark_and_follow_ethnicity():
    rng = np.random.default_rng(0)
    tones = {e: [sample_appearance(Demographics("young", "woman", e), 0.2, rng).skin_tone for _ in range(200)] for e in ETHNICITIES}
    for e, t in tones.items():
        lo, hi = SKIN_TONE_RANGE[e]
        assert lo <= min(t) and max(t) <= hi
    allt = np.concatenate(list(tones.values()))
    assert allt.min() < 2 and allt.max() > 9
    assert np.mean(tones["Black"]) > np.mean(tones["White"]) + 3


def test_albedo_regions_and_age():
    head = BuiltinHead()
    tmpl = head.template()
    rng = np.random.default_rng(1)
    shape = head.sample_shape(rng)
    demo = Demographics("elderly", "man", "Latino")
    v = head.identity(shape, age=0.9, gender=-1)
    mesh = tmpl.with_vertices(v)
    lm = head.landmarks(v)
    app_old = sample_appearance(demo, 0.9, np.random.default_rng(2))
    app_young = sample_appearance(Demographics("young", "man", "Latino"), 0.1, np.random.default_rng(2))
    assert app_old.wrinkles > 0.5 and app_young.wrinkles == 0
    col = vertex_albedo(mesh, lm, app_old)
    assert col.shape == v.shape and col.dtype == np.float32 and 0 <= col.min() and col.max() <= 1
    skin = np.asarray(app_old.skin_rgb)
    # pupils are near black, sclera bright, the lid margin (lash line) darker than the skin
    eye = tmpl.components["left_eyeball"]
    assert luminance(col[eye]).min() < 0.05 and luminance(col[eye]).max() > 0.7
    margin = tmpl.regions["left_upper_lid_margin"]
    assert luminance(col[margin]).mean() < 0.6 * luminance(skin)
    # the lower lid's lash line as dark as the upper's, both LASH_LINE of their lid
    for kind in ("upper", "lower"):
        lid, margin = tmpl.regions[f"left_{kind}_lid"], tmpl.regions[f"left_{kind}_lid_margin"]
        bare = np.setdiff1d(lid, margin)
        ratio = luminance(col[margin]).mean() / luminance(col[bare]).mean()
        assert ratio < 0.25, kind
    # age adds wrinkles and spots: same identity and seed, only the wrinkle strength differs
    from dataclasses import replace

    smooth = vertex_albedo(mesh, lm, replace(app_old, wrinkles=0.0))
    lined = vertex_albedo(mesh, lm, replace(app_old, wrinkles=1.0))
    region = np.concatenate([tmpl.regions["forehead"], tmpl.regions["cheeks"]])
    darker = luminance(smooth[region]) - luminance(lined[region])
    assert (darker >= -1e-6).all() and (darker > 0.01).sum() > 30


def test_age_darkens_the_folds_that_deepen_with_age():
    """At full age the skin darkens along the nasolabial folds (28 %), the marionette lines
    (16 %) and the tear troughs (15 %), placed here by hand from a face's landmarks, and
    nowhere else; in the albedo, an old face is darker along them than the same face young."""
    from dataclasses import replace

    head = BuiltinHead()
    tmpl = head.template()
    v = head.identity(head.sample_shape(np.random.default_rng(3)), age=0.9, gender=1)
    lm = head.landmarks(v)
    eye_y = 0.5 * (lm["left_eye"][1] + lm["right_eye"][1])
    mid_x = 0.5 * (lm["left_eye"][0] + lm["right_eye"][0])
    nose_y, mouth_y = lm["nose_tip"][1] - eye_y, lm["mouth_center"][1] - eye_y
    corner = abs(lm["mouth_left"][0] - lm["mouth_right"][0]) / 2
    eye_x = abs(lm["left_eye"][0] - lm["right_eye"][0]) / 2
    # The middle of each fold's line, both sides, and points well away from every fold.
    on = {
        "nasolabial": (0.5 * (15.0 + corner + 4.0), 0.5 * (nose_y - 2.0 + mouth_y - 5.0), 0.28),
        "tear trough": (eye_x - 0.5, -9.75, 0.15),
    }
    for name, (px, py, depth) in on.items():
        for side in (1.0, -1.0):
            got = age_folds(np.array([side * px]), np.array([py]), lm, eye_y)[0]
            assert got == pytest.approx(depth, abs=0.03), name
    # the marionette line at its lower end's fade-in: below the mouth corner, outside the lips
    m = age_folds(np.array([corner + 3.0]), np.array([mouth_y - 14.0]), lm, eye_y)[0]
    assert 0.05 < m <= 0.16
    away = age_folds(np.array([0.0, 0.0, 45.0]), np.array([30.0, mouth_y - 10.0, -30.0]), lm, eye_y)
    assert np.all(away < 0.005)  # forehead, chin, far cheek
    # In the albedo: darker along the folds when old than the same face young.
    app = sample_appearance(Demographics("elderly", "woman", "White"), 0.9, np.random.default_rng(4))
    mesh = tmpl.with_vertices(v)
    old = vertex_albedo(mesh, lm, replace(app, wrinkles=1.0))
    young = vertex_albedo(mesh, lm, replace(app, wrinkles=0.0))
    x, y = v[:, 0] - mid_x, v[:, 1] - eye_y
    skin = np.ones(len(v), bool)
    for side in ("left", "right"):
        skin[tmpl.components[f"{side}_eyeball"]] = False  # painted as eyes, not skin
    fold = (age_folds(x, y, lm, eye_y) > 0.2) & skin & (v[:, 2] > lm["mouth_center"][2] - 30)
    assert fold.sum() > 20
    assert (luminance(old[fold]) < 0.85 * luminance(young[fold])).mean() > 0.9


def test_backgrounds_vary_and_are_seeded():
    a = background(64, np.random.default_rng(0))
    b = background(64, np.random.default_rng(0))
    c = background(64, np.random.default_rng(1))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and np.abs(a.astype(int) - c).mean() > 10


def test_facial_hair_is_tufts_of_the_hair_colour_not_a_flat_block():
    from dataclasses import replace

    from generation.face_model import skin_mask
    from generation.hair import hair_layer

    head = BuiltinHead()
    tmpl = head.template()
    v = head.identity(head.sample_shape(np.random.default_rng(3)), age=0.4, gender=-1)
    lm = head.landmarks(v)
    app = sample_appearance(Demographics("young", "man", "White"), 0.4, np.random.default_rng(4))
    app = replace(app, hair="brown")

    def paint(facial: str, density: float):
        a = replace(app, hair_style=replace(app.hair_style, facial=facial, beard_density=density))
        hair = hair_layer(tmpl.with_vertices(v), lm, skin_mask(head), a.hair_style)
        return vertex_albedo(tmpl.with_vertices(v), lm, a, hair), hair.facial

    bare, _ = paint("none", 0.0)
    dense, cover = paint("full_beard", 1.0)
    sparse, _ = paint("full_beard", 0.2)
    beard = cover > 0.95
    assert beard.sum() > 200
    darker = luminance(bare[beard]) - luminance(dense[beard])
    # Brown hair grows a brown beard (red above blue), well darker than the skin under it ...
    assert (dense[beard, 0] - dense[beard, 2]).mean() > 0.05 and darker.mean() > 0.2
    # ... in tufts, not a flat block: how much it darkens the skin varies from place to place
    # (the old flat block, one alpha everywhere, varied only with the skin's mottling: sd 0.03) ...
    assert darker.std() > 0.05
    # ... and a sparse beard lets more skin through than a dense one (relative: the darkening
    # scales with the skin's own lightness).
    assert (luminance(bare[beard]) - luminance(sparse[beard])).mean() < 0.7 * darker.mean()


def test_beard_texture_runs_in_strands_down_and_out_from_the_philtrum():
    """Longer facial hair lies in strands: the tuft noise, taken over ``strand_space``, changes
    several times more slowly along a strand (down the face, fanned out to the sides) than across
    it; stubble keeps its round dots. Mapped points keep the noise's own scale across."""
    from generation.texture import solid_noise, strand_space

    rng = np.random.default_rng(5)
    step = 0.25  # mm
    for x0, fan in ((0.0, 0.0), (-25.0, -0.45), (25.0, 0.45)):  # midline: straight down; sides: fanned
        down = np.array([np.sin(fan), -np.cos(fan)])
        across = np.array([-down[1], down[0]])
        base = np.array([x0, -60.0])
        t = np.arange(200)[:, None] * step
        lines = {}
        for name, d in (("along", down), ("across", across)):
            xy = base + t * d
            pts = np.column_stack([xy, np.full(len(xy), 90.0)])
            field = solid_noise(strand_space(pts, pts[:, 0]), np.random.default_rng(9), 0.35, (1.0, 2.5))
            lines[name] = np.abs(np.diff(field)).mean()
        assert lines["along"] < 0.4 * lines["across"], (x0, lines)
    # On the midline the map only shrinks the vertical, measured downwards: (x, -y / 5, z).
    p = rng.normal(0, 10, (50, 3))
    p[:, 0] = 0.0
    np.testing.assert_allclose(strand_space(p, p[:, 0]), p * np.array([1.0, -0.2, 1.0]), atol=1e-12)


def test_exposure_keeps_most_of_the_skins_own_spread():
    """A camera exposes a face a quarter of the way (in log luminance) towards mid grey: light
    skin still reads light and dark skin dark (three quarters of the albedo's spread), and a
    very dark face is lifted a little."""
    from generation.pipeline import EXPOSURE_METERING

    assert EXPOSURE_METERING == 0.25
    grey = lambda y: np.full(3, y)  # noqa: E731
    target = float(srgb_to_linear(EXPOSURE_TARGET))  # exposure acts on linear light
    assert exposure(grey(EXPOSURE_TARGET)) == pytest.approx(1.0)
    assert exposure(grey(linear_to_srgb(target / 16))) == pytest.approx(2.0)
    assert exposure(grey(0.9)) == pytest.approx((target / srgb_to_linear(0.9)) ** 0.25)
    y = luminance(srgb_to_linear(np.array([skin_colour(s) for s in range(1, 11)])))
    shown = y * np.array([exposure(skin_colour(s)) for s in range(1, 11)])
    assert (np.diff(shown) < 0.01).all() and shown[0] > 4 * shown[-1]  # still light to dark ...
    assert np.log(shown[0] / shown[-1]) == pytest.approx(0.75 * np.log(y[0] / y[-1]), rel=1e-6)  # ... 3/4 of the spread
    # Every identity's sampled light rig is exposed for its skin: the ambient term of
    # sample_lights lies in [0.18, 0.28], so a dark-skinned face's exceeds it.
    head = BuiltinHead()
    rng = np.random.default_rng(2)
    for demo in (Demographics("young", "woman", "Black"), Demographics("young", "man", "White")):
        person = sample_person(head, head.template(), demo, 32, rng)
        gain = exposure(person.appearance.skin_rgb)
        assert 0.18 <= person.lights.ambient / gain <= 0.28
        assert person.lights.diffuse[0] / gain <= 0.85
    assert gain < 1.0  # the light-skinned one is exposed down


def test_the_eyes_take_no_broad_highlight():
    """``vertex_gloss``: the eyeballs take ``EYE_GLOSS`` of the lights' highlight (a broad
    sheen greyed every iris), every other vertex all of it; a mesh without eyeball parts (a
    user's FLAME mesh) keeps it everywhere."""
    from generation.texture import EYE_GLOSS, vertex_gloss

    head = BuiltinHead()
    tmpl = head.template()
    gloss = vertex_gloss(tmpl)
    eyes = np.zeros(len(tmpl.vertices), bool)
    for side in ("left", "right"):
        eyes[tmpl.components[f"{side}_eyeball"]] = True
    assert eyes.sum() > 500
    assert gloss.shape == (len(tmpl.vertices),) and gloss.dtype == np.float32
    assert np.all(gloss[eyes] == EYE_GLOSS) and np.all(gloss[~eyes] <= 1.0)
    assert np.median(gloss[~eyes]) == 1.0  # only the creases lose it (test_sharp_creases_...)
    bare = Mesh(tmpl.vertices, tmpl.faces)
    assert np.all(vertex_gloss(bare)[eyes] == 1.0)  # no eyeball parts: the eyes keep their sheen


def test_the_skin_under_each_eye_takes_a_fifth_of_the_highlight():
    """``vertex_gloss`` keeps ``UNDER_EYE_GLOSS`` of the highlight on the skin 11-15 mm from an
    eye's axis below its centre (where the socket turns forward into the cheek, the highlight
    drew a ring under every eye), fading to all of it by 9 and 18 mm and above the eye's
    centre. A flat sheet 20 mm in front of a 12 mm eyeball, the sheet 1 mm apart."""
    from generation.mesh import grid_faces
    from generation.texture import EYE_GLOSS, UNDER_EYE_GLOSS, vertex_gloss

    n = 61
    y, x = np.meshgrid(np.arange(n) - 30.0, np.arange(n) - 30.0, indexing="ij")
    sheet = np.stack([x, y, np.full_like(x, 20.0)], -1).reshape(-1, 3)
    ball = _sphere(12.0, 30, 60)
    mesh = Mesh(np.concatenate([sheet, ball.vertices]).astype(np.float32),
                np.concatenate([grid_faces(n, n), ball.faces + n * n]),
                components={"left_eyeball": np.arange(n * n, n * n + len(ball.vertices))})
    gloss = vertex_gloss(mesh)
    on_sheet, rho, y = gloss[: n * n], np.hypot(x, y).ravel(), y.ravel()
    band = (rho > 11.5) & (rho < 14.5)
    assert on_sheet[band & (y < -3)] == pytest.approx(UNDER_EYE_GLOSS)  # below the eye
    assert np.all(on_sheet[band & (y > 3)] == 1.0)  # above it: the brow's underside keeps it
    assert np.all(on_sheet[(rho < 8.5) | (rho > 18.5)] == 1.0)  # the lid and the cheek keep it
    assert np.all(gloss[n * n:] == EYE_GLOSS)


def test_crease_curvature_reads_one_over_the_radius_at_any_tessellation():
    """``crease_curvature`` on spheres of 8 and 20 mm, each tessellated coarsely and finely,
    reads 1/r (within 3 %) around the equator: a bend per millimetre, not per vertex."""
    from generation.texture import crease_curvature

    for r in (8.0, 20.0):
        for rows, cols in ((40, 80), (80, 160)):
            k = crease_curvature(_sphere(r, rows, cols)).reshape(rows, cols)
            assert k[rows // 2] == pytest.approx(1.0 / r, rel=0.03), (r, rows)


def test_sharp_creases_lose_their_highlight():
    """``vertex_gloss`` fades the highlight where the surface folds (``CREASE_RADIUS``): a flat
    sheet folded by 90 degrees along a line loses it on the fold, half of it a millimetre either
    side, and keeps it on the flats; a sphere as round as a nose tip (6 mm) keeps it all."""
    from generation.mesh import grid_faces
    from generation.texture import CREASE_RADIUS, vertex_gloss

    n = 21
    u, w = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), indexing="ij")
    # 1 mm apart; past column 10 the sheet turns up by 90 degrees
    sheet = Mesh(np.stack([np.minimum(w, 10.0), u, np.maximum(w - 10.0, 0.0)], -1).reshape(-1, 3).astype(np.float32),
                 grid_faces(n, n))
    gloss = vertex_gloss(sheet).reshape(n, n)
    inner = slice(4, n - 4)  # away from the sheet's free edges
    assert np.all(gloss[inner, 10] < 0.1)  # the fold
    assert np.all(gloss[inner, 9] < 0.6) and np.all(gloss[inner, 11] < 0.6)  # a millimetre either side
    assert np.all(gloss[inner, :8] == 1.0) and np.all(gloss[inner, 13:] == 1.0)  # the flats
    assert CREASE_RADIUS[0] < 6.0
    ball = vertex_gloss(_sphere(6.0, 60, 120)).reshape(60, 120)
    assert ball[5:-5].min() == 1.0  # away from the open poles


def _sphere(r: float, rows: int, cols: int) -> Mesh:
    """A sphere of radius ``r`` mm without its polar caps, as a rows x cols grid."""
    from generation.mesh import grid_faces

    theta, phi = np.meshgrid(np.linspace(0.2, np.pi - 0.2, rows), np.linspace(0, 2 * np.pi, cols, endpoint=False), indexing="ij")
    ball = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1).reshape(-1, 3) * r
    return Mesh(ball.astype(np.float32), grid_faces(rows, cols, wrap_cols=True))
