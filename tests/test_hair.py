"""Hair as geometry: the volume tapers to its hairline, and the side hairline is one curve."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from generation.face_model import skin_mask, vermilion_outline
from generation.hair import EAR_COVERING_STYLES, EAR_MARGIN, HAIR_STYLES, MOUSTACHE_COVER, HairStyle, ear_distance, hair_layer
from generation.head import SHAPE_PARAMETERS, BuiltinHead
from generation.mesh import Mesh, neighbour_mean_matrix


@pytest.fixture(scope="module")
def head_and_face():
    head = BuiltinHead()
    tmpl = head.template()
    v = head.identity(head.sample_shape(np.random.default_rng(3)), age=0.4, gender=-1)
    return head, tmpl, v, head.landmarks(v)


def style(name: str, **kw) -> HairStyle:
    base = HairStyle(style=name, hairline=50.0, recession=4.0, part=0.0, length=100.0, sideburn=22.0)
    return replace(base, **kw)


def test_neighbour_mean_matrix_averages_edge_neighbours():
    # Two triangles sharing the edge 1-2: vertex 0 sees 1 and 2, vertex 1 sees 0, 2 (twice), 3.
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    m = neighbour_mean_matrix(4, faces).toarray()
    assert np.allclose(m.sum(1), 1.0)
    assert np.allclose(m[0], [0, 0.5, 0.5, 0])
    assert np.allclose(m[1], [0.25, 0, 0.5, 0.25])
    assert np.allclose(m @ np.array([1.0, 2.0, 3.0, 4.0]), [2.5, 2.75, 2.25, 2.5])
    # A mesh and its with_vertices copies share one matrix (built once per topology).
    mesh = Mesh(np.random.default_rng(0).random((4, 3)), faces)
    copy = mesh.with_vertices(mesh.vertices + 1.0)
    assert copy.neighbour_mean() is mesh.neighbour_mean()
    assert np.allclose(mesh.neighbour_mean().toarray(), m)
    assert Mesh(mesh.vertices, faces).neighbour_mean() is not mesh.neighbour_mean()
    # smoothed: one round moves each value halfway to its neighbours' mean, by hand:
    # (1 + 2.5) / 2, (2 + 2.75) / 2, (3 + 2.25) / 2, (4 + 2.5) / 2; zero rounds change nothing.
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert np.allclose(mesh.smoothed(x, 1), [1.75, 2.375, 2.625, 3.25])
    assert np.allclose(mesh.smoothed(x, 2), 0.5 * mesh.smoothed(x, 1) + 0.5 * (m @ mesh.smoothed(x, 1)))
    assert np.array_equal(mesh.smoothed(x, 0), x) and np.array_equal(x, [1.0, 2.0, 3.0, 4.0])
    assert mesh.smoothed(np.stack([x, 2 * x], 1), 3).shape == (4, 2)


@pytest.mark.parametrize("name", [s for s, spec in HAIR_STYLES.items() if max(spec[0], spec[1]) >= 4.0])
def test_hair_volume_tapers_to_the_hairline(head_and_face, name):
    """Across the hairline (mesh edges whose ends' coverage differs), the hair's height above
    the skin changes by at most half the style's thickness: hair lies flat at its edge. Lifting
    every covered vertex by the full thickness raised a cliff along the mesh cells, drawn as a
    staircase (a jump of the whole thickness, 1.0-1.2 times it, on every style)."""
    head, tmpl, v, lm = head_and_face
    hair = hair_layer(tmpl.with_vertices(v), lm, skin_mask(head), style(name))
    f = tmpl.faces
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    crossing = np.abs(hair.scalp[edges[:, 0]] - hair.scalp[edges[:, 1]]) > 0.3
    assert crossing.sum() > 50  # the style has a hairline
    height = np.linalg.norm(hair.offsets, axis=1)
    jump = np.abs(height[edges[crossing, 0]] - height[edges[crossing, 1]])
    thickness = max(HAIR_STYLES[name][0], HAIR_STYLES[name][1])
    assert jump.max() < 0.5 * thickness
    # ... and the volume is still there inside the hairline.
    assert height[hair.scalp > 0.99].max() > 0.9 * thickness


@pytest.mark.parametrize("name", [s for s in HAIR_STYLES if s != "bald"])
def test_hair_colour_fades_in_over_the_skin_grid_at_its_edge(head_and_face, name):
    """Over the face and temples the hair's coverage changes by less than 0.2 per mm along any
    mesh edge, so its edge fades over two or more of the forehead's rows (3.5-6 mm apart)
    instead of stepping along them. A 4 mm fade (0.26 per mm on every style) drew the
    hairline as a staircase in the line-up; hairlines are soft, fine hair thinning over
    several mm."""
    head, tmpl, v, lm = head_and_face
    hair = hair_layer(tmpl.with_vertices(v), lm, skin_mask(head), style(name, recession=8.0, part=0.6))
    eye_y = 0.5 * (lm["left_eye"][1] + lm["right_eye"][1])
    front = (v[:, 2] > lm["nose_tip"][2] - 60) & (v[:, 1] > eye_y + 10)
    f = tmpl.faces
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    edges = edges[front[edges[:, 0]] & front[edges[:, 1]]]
    change = np.abs(hair.scalp[edges[:, 0]] - hair.scalp[edges[:, 1]])
    assert change.max() > 0.3  # the hairline is here
    per_mm = change / np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)
    assert per_mm.max() < 0.2, per_mm.max()


def test_side_hairline_runs_back_from_the_temple_to_the_sideburn(head_and_face):
    """In front of the ear the hair's edge is one curve running down and back from the temple to
    the sideburn's foot (it was the corner of a horizontal and a vertical edge: blocks)."""
    head, tmpl, v, lm = head_and_face
    eye_y = 0.5 * (lm["left_eye"][1] + lm["right_eye"][1])
    face_z = float(lm["nose_tip"][2])
    skin = skin_mask(head)
    hair = hair_layer(tmpl.with_vertices(v), lm, skin, style("short", sideburn=22.0))
    x, y, z = v[:, 0], v[:, 1] - eye_y, v[:, 2]
    side = skin & (np.abs(x) > 50) & (z > face_z - 110)

    def front_edge(lo, hi):
        """The frontmost z of hair on the side of the head between heights lo and hi."""
        covered = side & (hair.scalp > 0.5) & (y > lo) & (y < hi)
        assert covered.any(), f"no hair beside the face between {lo} and {hi} mm"
        return face_z - z[covered].max()

    edges = [front_edge(h - 3, h + 3) for h in (25.0, 10.0, -5.0, -15.0)]
    assert np.all(np.diff(edges) > -0.5)  # never forward again on the way down ...
    assert edges[-1] - edges[0] > 8.0  # ... and well back at the sideburn
    # Nothing in front of the ear below the sideburn's foot.
    below = side & (y < -22.0 - 6.0) & (z > face_z - 75)
    assert hair.scalp[below].max() < 0.05


def test_short_hair_is_cut_around_the_ears_and_long_hair_covers_them(head_and_face):
    """The ears (the skin that stands out sideways when ear_protrusion goes from 0 to this
    face's value) are bare under short styles, with the hair close around them, and under long
    hair, a bob or an afro they stay covered, the hair lying over them as over a head without
    ears (an ear under a shell of hair drew an ear made of hair); the cut changes nothing away
    from the ears."""
    head, tmpl, v, lm = head_and_face
    names = [p[0] for p in SHAPE_PARAMETERS]
    k = names.index("ear_protrusion")
    _, mean, sd, _, _ = SHAPE_PARAMETERS[k]
    shape = head.sample_shape(np.random.default_rng(3))
    flat_shape = shape.copy()
    flat_shape[k] = -mean / sd
    flat = head.identity(flat_shape, age=0.4, gender=-1)
    assert np.array_equal(head.identity(shape, age=0.4, gender=-1), v)  # the fixture's face
    ear = np.abs(v[:, 0]) - np.abs(flat[:, 0]) > 3.0
    assert ear.sum() > 40
    skin = skin_mask(head)
    eye_y = 0.5 * (lm["left_eye"][1] + lm["right_eye"][1])
    far = skin & (v[:, 1] - eye_y > 40)  # the crown, well above the ears
    cuts = {}
    for name in HAIR_STYLES:
        cover = hair_layer(tmpl.with_vertices(v), lm, skin, style(name)).scalp
        cuts[name] = cover
        if name in EAR_COVERING_STYLES:  # an afro's sides stopped at the sideburn: 0.79 covered
            assert np.mean(cover[ear] > 0.5) > 0.9, (name, np.mean(cover[ear] > 0.5))
            # the hair drapes over the covered ear as over a head without ears (not an ear-shaped shell)
            layer = hair_layer(tmpl.with_vertices(v), lm, skin, style(name))
            bare = hair_layer(tmpl.with_vertices(flat), head.landmarks(flat), skin, style(name))
            under = ear & (cover > 0.9)
            rise = np.abs(v[under, 0] + layer.offsets[under, 0]) - np.abs(flat[under, 0] + bare.offsets[under, 0])
            assert rise.max() < 6.0, (name, rise.max())  # an afro's curl is 2.5 mm either way
        else:
            assert cover[ear].max() < 0.05, name
    # hair comes within a few millimetres of the ear's top and back under a short cut ...
    covered = v[skin & (cuts["short"] > 0.5)]
    for side in (-1, 1):
        this = v[ear & (np.sign(v[:, 0]) == side)]
        for extreme in (this[np.argmax(this[:, 1])], this[np.argmin(this[:, 2])]):  # top, back
            assert np.linalg.norm(covered - extreme, axis=1).min() < EAR_MARGIN + 7.0
    # ... and the ears are nowhere near the crown
    x, y, z = v[:, 0] - 0.5 * (lm["left_eye"][0] + lm["right_eye"][0]), v[:, 1] - eye_y, v[:, 2]
    dist = ear_distance(tmpl.with_vertices(v), x, y, z, float(lm["nose_tip"][2]))
    assert np.all(dist[far] > 20.0)
    assert np.all(dist[ear] < EAR_MARGIN)  # within the bare margin at worst


def test_moustache_meets_the_upper_lip_along_its_bow(head_and_face):
    """The moustache grows down to the vermilion border and follows its curve, so no band of
    bare skin shows between hair and lip and the hair rises with the lip (AU10). Its lower edge
    was one straight line above the border's middle: 2 mm of skin showed 5 mm from the
    corners, where the border curves down, and the raised lip slid up under the hair."""
    head, tmpl, v, lm = head_and_face
    eye_y = 0.5 * (lm["left_eye"][1] + lm["right_eye"][1])
    cx = 0.5 * (lm["left_eye"][0] + lm["right_eye"][0])
    skin = skin_mask(head)
    hair = hair_layer(tmpl.with_vertices(v), lm, skin, style("short", facial="moustache", beard_density=0.8))
    x, y, z = v[:, 0] - cx, v[:, 1], v[:, 2]
    front = skin & (z > lm["nose_tip"][2] - 45)
    half = 0.5 * abs(lm["mouth_left"][0] - lm["mouth_right"][0])
    mouth_y = float(lm["mouth_center"][1])
    gaps = []
    for at in np.linspace(-(half - 5), half - 5, 9):
        column = front & (np.abs(x - at) < 1.5) & (y > mouth_y) & (y < lm["nose_tip"][1])
        haired = column & (hair.facial > 0.5 * MOUSTACHE_COVER)
        assert haired.any(), f"no moustache above the lip at x = {at:.1f} mm"
        low = y[haired].min()
        bare = column & (hair.facial < 0.5 * MOUSTACHE_COVER) & (y < low)
        edge = 0.5 * (low + y[bare].max())  # between the skin grid's rows
        border = mouth_y + vermilion_outline(np.array([at]), lm)[0][0]
        gaps.append(edge - border)
    assert np.all(np.abs(gaps) < 1.0), np.round(gaps, 2)
    # Nothing grows on the lips themselves.
    upper, lower = vermilion_outline(x, lm)
    on_lips = front & (np.abs(x) < half - 3) & (y < mouth_y + upper - 1.0) & (y > mouth_y - lower + 1.0)
    assert on_lips.sum() > 20 and hair.facial[on_lips].max() < 0.05
