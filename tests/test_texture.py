"""Procedural appearance: skin tones follow the demographics, age adds texture, backgrounds vary."""

from __future__ import annotations

import numpy as np

from generation.demographics import ETHNICITIES, Demographics
from generation.head import BuiltinHead
from generation.texture import MONK_SCALE, SKIN_TONE_RANGE, background, monk_colour, sample_appearance, vertex_albedo


def luminance(rgb):
    return rgb @ np.array([0.2126, 0.7152, 0.0722])


def test_monk_scale_runs_light_to_dark():
    lum = luminance(np.array([monk_colour(s) for s in np.linspace(1, 10, 19)]))
    assert lum[0] > 0.85 and lum[-1] < 0.2
    assert (np.diff(lum[::2]) < 0.02).all()  # non-increasing up to rounding of the published colours
    np.testing.assert_allclose(monk_colour(3), MONK_SCALE[2])


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
    # age adds wrinkles and spots: same identity and seed, only the wrinkle strength differs
    from dataclasses import replace

    smooth = vertex_albedo(mesh, lm, replace(app_old, wrinkles=0.0))
    lined = vertex_albedo(mesh, lm, replace(app_old, wrinkles=1.0))
    region = np.concatenate([tmpl.regions["forehead"], tmpl.regions["cheeks"]])
    darker = luminance(smooth[region]) - luminance(lined[region])
    assert (darker >= -1e-6).all() and (darker > 0.01).sum() > 30


def test_backgrounds_vary_and_are_seeded():
    a = background(64, np.random.default_rng(0))
    b = background(64, np.random.default_rng(0))
    c = background(64, np.random.default_rng(1))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and np.abs(a.astype(int) - c).mean() > 10
