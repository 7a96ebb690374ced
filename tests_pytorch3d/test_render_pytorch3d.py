"""The pytorch3d renderer backend against analytic answers and against the numba renderer.

Runs only in .venv-pytorch3d (``make test-pytorch3d``: torch 2.12.1 + easypytorch3d; pytorch3d
cannot load beside the main environment's CPU torch 2.13, see tests/test_render_backends.py).
On a CPU pytorch3d rasterizes every pixel against every face, so images stay at 64 px or less.

Stated bounds, pytorch3d vs numba (and vs ray casting):
- coverage: identical wherever no edge passes exactly through a pixel centre; a centre exactly on
  an edge shared by two faces is taken by neither in pytorch3d (no top-left rule), by exactly one
  in numba: the only interior difference, and generated meshes never hit it. Against ray casting
  at most 2 silhouette pixels differ, as for numba;
- depth: relative 1e-5 (view depth in mm, float32); attributes: 2e-3 absolute on a plane
  (perspective-correct, vs the analytic value), 1e-4 between renderers; heat: 1e-4;
- rgb: at most 1 level apart on pixels both cover (float32 vs float64 shading, rounding).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_render import FLAT, camera_rays, centres_in, cube, ray_box, ray_plane, sphere, square, tilted_square  # noqa: E402
from test_render_backends import assert_batch_is_single_frames  # noqa: E402

from generation.heatmaps import heatmap_from_maps, vertex_displacement  # noqa: E402
from generation.pipeline import GenerationConfig, Generator  # noqa: E402
from generation.render import Lights, MeshRenderer, PerspectiveCamera, linear_to_srgb, srgb_to_linear  # noqa: E402
from generation.render.pytorch3d_renderer import Pytorch3dRenderer  # noqa: E402


def both(mesh, cam, ssaa: int = 1, cull: bool = True, lights: Lights | None = None, **kw):
    """(numba RenderOutput, pytorch3d RenderOutput) of the same call."""
    lights = lights or Lights()
    a = MeshRenderer(lights=lights, ssaa=ssaa, cull_backfaces=cull)(mesh, cam, **kw)
    b = Pytorch3dRenderer(lights=lights, ssaa=ssaa, cull_backfaces=cull, device="cpu")(mesh, cam, **kw)
    return a, b


def silhouette(mask: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of the other coverage (both sides of the outline)."""
    m = np.pad(mask, 1, mode="edge")
    c = m[1:-1, 1:-1]
    return (c != m[:-2, 1:-1]) | (c != m[2:, 1:-1]) | (c != m[1:-1, :-2]) | (c != m[1:-1, 2:])


def assert_agree(a, b, max_edge_pixels: int = 0) -> None:
    """The bounds of the module docstring for one frame."""
    diff = a.mask ^ b.mask
    assert not (diff & ~silhouette(a.mask)).any(), "coverage differs off the silhouette"
    assert diff.sum() <= max_edge_pixels
    m = a.mask & b.mask
    assert m.sum() > 50
    np.testing.assert_allclose(b.depth[m], a.depth[m], rtol=1e-5)
    # supersampled: a pixel under half covered has no mask but a depth (its nearest sample)
    assert not ((np.isinf(a.depth) != np.isinf(b.depth)) & ~silhouette(a.mask)).any()
    assert np.abs(b.rgb[m].astype(int) - a.rgb[m]).max() <= 1
    assert (b.rgb[~a.mask & ~b.mask] == a.rgb[~a.mask & ~b.mask]).all()  # background, exact
    assert sorted(a.attrs) == sorted(b.attrs)
    keep = m | ~silhouette(a.mask)  # also the empty pixels (0) and, supersampled, part-covered ones
    for name in a.attrs:
        np.testing.assert_allclose(b.attrs[name][keep], a.attrs[name][keep], atol=1e-4)


# --------------------------------------------------------------------------- analytic


def test_frontal_plane_depth_and_coverage():
    """A square facing the camera (its diagonal clear of pixel centres): exact centre count, depth."""
    cam = PerspectiveCamera(distance=500, fov_deg=30, image_size=64)
    verts, faces = square(40.0, z=25.0)
    verts = verts + np.float32([1.7, 0.0, 0.0])  # shifts the diagonal 0.43 px off the centres
    out = Pytorch3dRenderer(device="cpu")((verts, faces), cam)
    f = cam.focal_px / 475.0
    n_cols = centres_in(32 + f * (1.7 - 40), 32 + f * (1.7 + 40))
    n_rows = centres_in(32 - f * 40, 32 + f * 40)
    assert out.mask.sum() == n_cols * n_rows == 20 * 20
    np.testing.assert_allclose(out.depth[out.mask], 475.0, rtol=1e-6)
    assert (out.fragments.face_idx[~out.mask] == -1).all() and (out.fragments.bary[~out.mask] == 0).all()
    np.testing.assert_allclose(out.fragments.bary[out.mask].sum(-1), 1.0, atol=1e-5)
    assert_agree(*both((verts, faces), cam))


def test_centres_exactly_on_a_shared_edge_are_the_one_interior_difference():
    """The centred square's diagonal runs through 20 pixel centres: numba (top-left rule) covers
    each once, pytorch3d neither face; nothing else differs."""
    cam = PerspectiveCamera(distance=500, fov_deg=30, image_size=64)
    a, b = both(square(40.0, z=25.0), cam)
    ii, jj = np.nonzero(a.mask ^ b.mask)
    assert a.mask.sum() == 400 and len(ii) == 20
    assert (ii + jj == 63).all() and not b.mask[ii, jj].any()  # the anti-diagonal i + j = 63
    keep = a.mask & b.mask
    np.testing.assert_array_equal(a.fragments.face_idx[keep], b.fragments.face_idx[keep])


@pytest.mark.parametrize("yaw", [0.0, 45.0])
def test_cube_depth_matches_ray_casting(yaw):
    verts, faces = cube(50.0)
    cam = PerspectiveCamera(yaw_deg=yaw, pitch_deg=15, distance=400, fov_deg=35, image_size=(48, 64))
    out = Pytorch3dRenderer(device="cpu")((verts, faces), cam)
    eye, dirs = camera_rays(cam)
    truth = ray_box(eye, dirs, 50.0)
    hit = np.isfinite(truth)
    assert hit.sum() > 300
    assert (out.mask != hit).sum() <= 2
    m = hit & out.mask
    np.testing.assert_allclose(out.depth[m], truth[m], rtol=1e-5)
    assert_agree(*both((verts, faces), cam))


def test_perspective_correct_attributes_on_a_tilted_plane():
    """An interpolated linear function of position equals its value at the ray's hit."""
    verts, faces, normal = tilted_square(70.0, 60.0)
    cam = PerspectiveCamera(distance=250, fov_deg=40, image_size=48)
    coef = np.array([1.0, -0.5, 2.0])
    kw = dict(extra_attrs={"f": (verts @ coef).astype(np.float32)})
    out = Pytorch3dRenderer(device="cpu", cull_backfaces=False)((verts, faces), cam, **kw)
    eye, dirs = camera_rays(cam)
    t = ray_plane(eye, dirs, [0, 0, 0], normal)
    m = out.mask
    assert m.sum() > 150
    np.testing.assert_allclose(out.attrs["f"][..., 0][m], ((eye + t[..., None] * dirs) @ coef)[m], atol=2e-3)
    np.testing.assert_allclose(out.depth[m], t[m], rtol=1e-5)


def test_lambert_plane_matches_analytic_colour():
    verts, faces = square(50.0)
    albedo = np.array([0.6, 0.4, 0.2], np.float32)
    lights = Lights(directions=((0.0, 0.6, 0.8),), colors=((1, 1, 1),), diffuse=(0.5,), ambient=0.1, specular=0.0)
    cam = PerspectiveCamera(yaw_deg=20, distance=400, image_size=40)
    out = Pytorch3dRenderer(lights=lights, device="cpu")(
        (verts, faces), cam, vertex_colors=np.tile(albedo, (4, 1)), background=(10, 20, 30)
    )
    expected = np.round(255 * linear_to_srgb(srgb_to_linear(albedo) * (0.1 + 0.5 * 0.8)))  # lit in linear light
    assert out.mask.sum() > 100
    np.testing.assert_allclose(out.rgb[out.mask], np.tile(expected, (out.mask.sum(), 1)), atol=1)
    assert (out.rgb[~out.mask] == [10, 20, 30]).all()


# --------------------------------------------------------------------------- vs numba


@pytest.mark.parametrize("ssaa, cull", [(1, True), (2, True), (1, False)])
def test_random_closed_mesh_agrees_with_numba(ssaa, cull):
    verts, faces = sphere(12, noise=0.08, seed=4)
    cam = PerspectiveCamera(yaw_deg=35, pitch_deg=-12, distance=300, image_size=40)
    colors = np.random.default_rng(1).uniform(0.2, 0.9, (len(verts), 3)).astype(np.float32)
    bg = np.random.default_rng(2).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    a, b = both((verts, faces), cam, ssaa, cull, vertex_colors=colors, background=bg,
                extra_attrs={"p": verts, "s": verts[:, 0] * 0.01})
    assert_agree(a, b)
    # the skin's wrap lighting (subsurface scattering) past the terminators of the lumpy sphere
    wrapped = Lights(wrap=(0.3, 0.15, 0.1))
    assert_agree(*both((verts, faces), cam, ssaa, cull, lights=wrapped, vertex_colors=colors, background=bg))
    assert b.fragments.shape == (40 * ssaa, 40 * ssaa)
    np.testing.assert_array_equal(a.fragments.face_idx, b.fragments.face_idx)
    np.testing.assert_allclose(b.fragments.bary, a.fragments.bary, atol=1e-4)


def test_uv_texture_and_camera_following_lights_agree_with_numba():
    verts, faces = square(60.0)
    uvs = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    rows, cols = np.mgrid[0:16, 0:16]
    tex = np.stack([rows * 16, cols * 16, (rows + cols) * 8], -1).astype(np.uint8)  # no symmetry
    lights = Lights(follow_camera=True, specular=0.3, shininess=12.0)
    cam = PerspectiveCamera(yaw_deg=25, pitch_deg=10, distance=420, image_size=48)
    a, b = both((verts, faces), cam, lights=lights, uvs=uvs, texture=tex)
    assert_agree(a, b)
    a, b = both((verts, faces), cam, lights=FLAT, uvs=uvs, texture=tex)  # unlit: texture alone
    assert_agree(a, b)


def test_per_vertex_gloss_agrees_with_numba():
    """Gloss 0 on one half of a sphere, 1 on the other (a highlight on each half): both renderers
    scale the highlight alike, and each half is lit as without gloss or with no highlight."""
    verts, faces = sphere(16)
    lights = Lights(specular=0.5, shininess=20.0)
    gloss = (verts[:, 0] < 0).astype(np.float32)
    cam = PerspectiveCamera(image_size=48)
    a, b = both((verts, faces), cam, lights=lights, vertex_gloss=gloss)
    assert_agree(a, b)
    plain, _ = both((verts, faces), cam, lights=lights)
    assert np.abs(plain.rgb.astype(int) - a.rgb).max() > 15  # the matte half lost a highlight (28 levels)
    _, none = both((verts, faces), cam, lights=Lights(specular=0.0), vertex_gloss=gloss)
    _, zero = both((verts, faces), cam, lights=lights, vertex_gloss=np.zeros(len(verts), np.float32))
    assert np.abs(zero.rgb.astype(int) - none.rgb).max() <= 1


def test_batch_equals_single_frames_across_chunks():
    """Meshes x cameras in chunks of 4 (a chunk ends inside mesh 1's views) = one call per frame."""
    verts, faces = sphere(8, noise=0.05, seed=1)
    meshes = [verts, verts * np.float32([1.2, 0.9, 1.0])]
    cams = [PerspectiveCamera(yaw_deg=y, distance=300, image_size=32) for y in (-30.0, 0.0, 40.0)]
    attrs = [None, {"d": meshes[1] - meshes[0]}]
    r = Pytorch3dRenderer(device="cpu", max_batch=4)
    outs = assert_batch_is_single_frames(r, meshes, faces, cams, attrs)
    assert all(o.fragments.face_idx.max() < len(faces) for o in outs)  # per-mesh face indices, not packed
    with pytest.raises(ValueError, match="share an image size"):
        list(r.render_batch(meshes, faces, [cams[0], PerspectiveCamera(image_size=16)]))
    with pytest.raises(ValueError, match="one topology"):
        list(r.render_batch([verts, verts[:-1]], faces, cams))


def test_faces_at_the_near_plane_are_dropped_as_numba_drops_them():
    verts, faces = square(30.0)
    cam = PerspectiveCamera(distance=30.5, fov_deg=120, image_size=32)  # square 30.5 mm away
    close = verts + np.float32([0, 0, 30.0])  # now 0.5 mm from the camera: under NEAR_MM
    a, b = both((close, faces), cam, cull=False)
    assert a.mask.sum() == 0 and b.mask.sum() == 0


# --------------------------------------------------------------------------- generated head


def test_generated_head_agrees_with_numba_through_the_generator():
    """The pipeline's frames (image, heat, direction) do not depend on the renderer, and the
    raw outputs (mask, depth, displacement, heat) of the head's pain mesh agree."""
    res = {}
    for name in ("numba", "pytorch3d"):
        cfg = GenerationConfig(identities=1, expressions=1, views=(30.0,), size=64, seed=2, renderer=name)
        gen = Generator(cfg)
        res[name] = gen.identity(0)
    for fa, fb in zip(res["numba"].frames, res["pytorch3d"].frames):
        assert np.abs(fa.image.astype(int) - fb.image).max() <= 2
        assert (fa.heat is None) == (fb.heat is None)
        if fa.heat is not None:
            assert fa.heat.max() > 0.1 and (fa.heat > 0.01).sum() > 20  # a real pain map
            np.testing.assert_allclose(fb.heat, fa.heat, atol=1e-4)
            np.testing.assert_allclose(fb.direction, fa.direction, atol=1e-3)
    neutral, pain = res["numba"].meshes
    faces = res["numba"].faces
    cam = gen.cameras[0]
    a, b = both((pain, faces), cam, extra_attrs={"disp": vertex_displacement(neutral, pain)})
    assert_agree(a, b)
    rot = cam.rotation_translation()[0]
    np.testing.assert_allclose(heatmap_from_maps(b.attrs["disp"], rot).heat,
                               heatmap_from_maps(a.attrs["disp"], rot).heat, atol=1e-4)
