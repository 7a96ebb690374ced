"""Tests for generation.render against analytic references (ray casting written here).

Ground truth is computed independently: camera frames from np.cross, ray-plane and ray-box
intersections, half-open pixel-centre counting; the fast rasterizer is also compared with the
slow numpy reference on random meshes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from generation.mesh import Mesh, grid_faces, is_closed_manifold, vertex_normals
from generation.render import (
    Fragments,
    Lights,
    MeshRenderer,
    PerspectiveCamera,
    RenderOutput,
    blinn_phong,
    default_views,
    interpolate,
    linear_to_srgb,
    rasterize,
    rasterize_reference,
    sample_texture,
    srgb_to_linear,
)

# --------------------------------------------------------------------------- analytic helpers


def camera_rays(cam: PerspectiveCamera) -> tuple[np.ndarray, np.ndarray]:
    """(eye (3,), dirs (H, W, 3)) through pixel centres, dirs scaled to unit view depth.

    Written from the documented convention, independently of PerspectiveCamera's maths.
    """
    yaw, pitch = np.radians(cam.yaw_deg), np.radians(cam.pitch_deg)
    eye = np.asarray(cam.target) + cam.distance * np.array(
        [np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)]
    )
    fwd = np.asarray(cam.target) - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    f = (cam.height / 2) / np.tan(np.radians(cam.fov_deg) / 2)
    px = (np.arange(cam.width) + 0.5 - cam.width / 2) / f
    py = (np.arange(cam.height) + 0.5 - cam.height / 2) / f
    dirs = fwd + px[None, :, None] * right + py[:, None, None] * down
    return eye, dirs


def ray_plane(eye, dirs, point, normal) -> np.ndarray:
    """(H, W) ray parameter t (= view depth) where each ray meets the plane."""
    return ((np.asarray(point) - eye) @ normal) / (dirs @ normal)


def ray_box(eye, dirs, half: float) -> np.ndarray:
    """(H, W) entry depth of each ray into the cube [-half, half]^3, +inf on a miss (slabs)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - eye) / dirs
        t2 = (half - eye) / dirs
    t_near = np.minimum(t1, t2).max(axis=-1)
    t_far = np.maximum(t1, t2).min(axis=-1)
    return np.where((t_near <= t_far) & (t_near > 0), t_near, np.inf)


def quad_mesh(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two CCW triangles over 4 corners given counter-clockwise seen from the front."""
    return np.asarray(corners, np.float32), np.array([[0, 1, 2], [0, 2, 3]], np.int32)


def square(half: float, z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned square in the plane z, facing +z (the frontal camera)."""
    h = half
    return quad_mesh([[-h, -h, z], [h, -h, z], [h, h, z], [-h, h, z]])


def tilted_square(half: float, deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``square(half)`` turned ``deg`` degrees about +y: (vertices, faces, unit normal)."""
    a = np.radians(deg)
    rot_y = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    verts, faces = square(half)
    return (verts @ rot_y.T).astype(np.float32), faces, rot_y @ [0, 0, 1.0]


def cube(half: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed cube [-half, half]^3 with outward CCW faces (4 vertices per side)."""
    verts, faces = [], []
    for axis in range(3):
        for sgn in (1.0, -1.0):
            n = np.zeros(3)
            n[axis] = sgn
            u = np.zeros(3)
            u[(axis + 1) % 3] = 1.0
            v = np.cross(n, u)  # u x v = n, so (-,-), (+,-), (+,+), (-,+) is CCW from outside
            base = len(verts)
            for a, b in [(-1, -1), (1, -1), (1, 1), (-1, 1)]:
                verts.append(half * (n + a * u + b * v))
            faces += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    return np.array(verts, np.float32), np.array(faces, np.int32)


def sphere(n: int = 24, radius: float = 60.0, noise: float = 0.0, seed: int = 0):
    """A closed UV sphere (with pole caps) with optional radial noise; outward CCW faces."""
    rings, segs = n, 2 * n
    theta = np.linspace(0, np.pi, rings + 2)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segs, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    unit = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], -1).reshape(-1, 3)
    unit = np.concatenate([unit, [[0, 1, 0], [0, -1, 0]]])
    r = radius * (1 + noise * np.random.default_rng(seed).standard_normal(len(unit)))
    c = np.arange(segs)
    c1 = (c + 1) % segs
    last = (rings - 1) * segs
    faces = np.concatenate(
        [
            grid_faces(rings, segs, wrap_cols=True),
            np.stack([np.full(segs, rings * segs), c, c1], 1),
            np.stack([np.full(segs, rings * segs + 1), last + c1, last + c], 1),
        ]
    )
    return (unit * r[:, None]).astype(np.float32), faces.astype(np.int32)


def signed_volume(verts, faces) -> float:
    """Volume enclosed by a closed mesh; positive when the faces point outwards."""
    t = verts[faces].astype(np.float64)
    return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6)


def centres_in(lo: float, hi: float) -> int:
    """Number of pixel centres c = k + 0.5 with lo <= c < hi (the top-left convention)."""
    c = np.arange(-1000, 1000) + 0.5
    return int(((c >= lo) & (c < hi)).sum())


# --------------------------------------------------------------------------- cameras


def test_default_views():
    assert default_views(1) == (0.0,)
    assert default_views(3) == (-30.0, 0.0, 30.0)
    assert default_views(5) == (-45.0, -22.5, 0.0, 22.5, 45.0)
    with pytest.raises(ValueError):
        default_views(0)


def test_yaw_and_pitch_signs():
    """Positive yaw orbits towards the subject's left (+x): the nose tip moves to image left."""
    nose, left_ear, top = [0, 0, 100.0], [80.0, 0, 0], [0, 100.0, 0]
    pts = np.array([nose, left_ear, top])
    front = PerspectiveCamera(yaw_deg=0, image_size=128).project(pts)
    turned = PerspectiveCamera(yaw_deg=30, image_size=128).project(pts)
    cx, cy = 64.0, 64.0
    assert front[0, 0] == pytest.approx(cx, abs=1e-4)  # nose on the axis when frontal
    assert front[1, 0] > cx  # subject's left is image right in the frontal view
    assert turned[0, 0] < cx - 5  # nose tip moves to image left with positive yaw
    assert turned[1, 2] < front[1, 2] - 30  # the subject's left side comes nearer
    assert front[2, 1] < cy  # +y is up on screen (pixel y points down)
    looking_down = PerspectiveCamera(pitch_deg=20, image_size=128).project(pts)
    assert looking_down[0, 1] > cy + 5  # camera above: the nose tip drops below centre
    assert looking_down[2, 1] < cy


def test_camera_matrix_matches_projection():
    cam = PerspectiveCamera(
        yaw_deg=-25, pitch_deg=10, distance=450, fov_deg=30, image_size=(60, 80)
    )
    pts = np.random.default_rng(1).uniform(-80, 80, (50, 3))
    view = (cam.world_to_view() @ np.c_[pts, np.ones(50)].T).T[:, :3]
    f = cam.focal_px
    expected = np.c_[f * view[:, 0] / view[:, 2] + 40, f * view[:, 1] / view[:, 2] + 30, view[:, 2]]
    np.testing.assert_allclose(cam.project(pts), expected, rtol=1e-5, atol=1e-3)
    rot, _ = cam.rotation_translation()
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)


def test_camera_rejects_bad_arguments():
    with pytest.raises(ValueError, match="image_size"):
        PerspectiveCamera(image_size=0)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        PerspectiveCamera().project(np.zeros((4, 2)))


# --------------------------------------------------------------------------- rasterizer


def test_frontal_square_depth_and_coverage():
    """A square facing the camera: constant analytic depth, exact pixel-centre coverage."""
    cam = PerspectiveCamera(distance=500, fov_deg=30, image_size=64)
    verts, faces = square(40.0, z=25.0)
    frags = rasterize(cam.project(verts), faces, 64, 64)
    half_px = cam.focal_px * 40.0 / (500.0 - 25.0)
    n = centres_in(32 - half_px, 32 + half_px)
    assert frags.mask.sum() == n * n
    cols = np.flatnonzero(frags.mask.any(axis=0))
    assert cols[0] + 0.5 >= 32 - half_px and cols[-1] + 0.5 < 32 + half_px
    np.testing.assert_allclose(frags.depth[frags.mask], 475.0, rtol=1e-6)
    assert np.isinf(frags.depth[~frags.mask]).all()
    assert (frags.face_idx[~frags.mask] == -1).all() and (frags.bary[~frags.mask] == 0).all()


@pytest.mark.parametrize("split", ["02", "13"])
@pytest.mark.parametrize("front", [True, False])
def test_top_left_rule_on_pixel_centres(split, front):
    """Edges through pixel centres: [x0, x1) x [y0, y1) is covered, each centre exactly once."""
    x0, x1, y0, y1 = 10.5, 30.5, 20.5, 40.5
    # Screen space (y down): this order has negative signed area, i.e. it faces the camera.
    sv = np.array([[x0, y1, 5], [x1, y1, 5], [x1, y0, 5], [x0, y0, 5]], np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]] if split == "02" else [[0, 1, 3], [1, 2, 3]], np.int32)
    if not front:
        faces = faces[:, ::-1].copy()
    count = np.zeros((64, 64), int)
    for tri in faces:  # one face at a time, so a doubly covered centre would count 2
        count += rasterize(sv, tri[None], 64, 64, cull_backfaces=False).mask
    expected = np.zeros((64, 64), int)
    expected[20:40, 10:30] = 1
    np.testing.assert_array_equal(count, expected)
    culled = rasterize(sv, faces, 64, 64, cull_backfaces=True).mask.sum()
    assert culled == (400 if front else 0)


def test_shared_edges_cover_each_centre_once():
    """A jittered grid whose vertices often sit on pixel centres: no cracks, no double hits."""
    rng = np.random.default_rng(3)
    g = 9
    xs, ys = np.meshgrid(np.linspace(4.5, 36.5, g), np.linspace(4.5, 36.5, g))
    xs[1:-1, 1:-1] += rng.choice([0.0, 0.5, 1.0, 0.37], size=(g - 2, g - 2))
    ys[1:-1, 1:-1] += rng.choice([0.0, 0.5, -1.0, 0.21], size=(g - 2, g - 2))
    # With grid rows running down the screen, grid_faces' triangles have negative pixel-space
    # area, i.e. they face the camera (culling stays on).
    sv = np.stack([xs.ravel(), ys.ravel(), np.full(g * g, 9.0)], 1).astype(np.float32)
    faces = grid_faces(g, g)
    count = np.zeros((41, 41), int)
    for tri in faces:
        count += rasterize(sv, tri[None], 41, 41).mask
    assert count.max() == 1
    expected = np.zeros((41, 41), bool)  # boundary is the axis-aligned square [4.5, 36.5)
    expected[4:36, 4:36] = True
    np.testing.assert_array_equal(count == 1, expected)


@pytest.mark.parametrize("yaw", [0.0, 45.0])
def test_cube_depth_matches_ray_casting(yaw):
    verts, faces = cube(50.0)
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    outward = np.einsum("ij,ij->i", normal, tri.mean(1))
    assert (outward > 0).all()
    cam = PerspectiveCamera(
        yaw_deg=yaw, pitch_deg=15, distance=400, fov_deg=35, image_size=(72, 96)
    )
    frags = rasterize(cam.project(verts), faces, cam.height, cam.width)
    eye, dirs = camera_rays(cam)
    truth = ray_box(eye, dirs, 50.0)
    hit = np.isfinite(truth)
    assert hit.sum() > 500
    assert (frags.mask != hit).sum() <= 2  # only centres within rounding of an edge
    both = hit & frags.mask
    np.testing.assert_allclose(frags.depth[both], truth[both], rtol=1e-5)


def test_backface_culling():
    verts, faces = square(30.0)
    cam_back = PerspectiveCamera(yaw_deg=180, image_size=32)
    sv = cam_back.project(verts)
    assert rasterize(sv, faces, 32, 32).mask.sum() == 0
    assert rasterize(sv, faces, 32, 32, cull_backfaces=False).mask.sum() > 50
    # A closed cube drawn without culling still shows only its near sides (z-buffer).
    cv, cf = cube(40.0)
    cam = PerspectiveCamera(yaw_deg=30, image_size=48)
    a = rasterize(cam.project(cv), cf, 48, 48, cull_backfaces=True)
    b = rasterize(cam.project(cv), cf, 48, 48, cull_backfaces=False)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(a.depth[a.mask], b.depth[b.mask], rtol=1e-6)


def test_barycentrics_reproduce_surface_points():
    """Interpolated vertex positions lie on each pixel's ray at the fragment depth."""
    verts, faces = sphere(16, noise=0.05)
    cam = PerspectiveCamera(yaw_deg=20, pitch_deg=-10, distance=300, image_size=64)
    frags = rasterize(cam.project(verts), faces, 64, 64)
    m = frags.mask
    np.testing.assert_allclose(frags.bary[m].sum(-1), 1.0, atol=1e-5)
    assert (frags.bary[m] >= -1e-6).all()
    pts = interpolate(frags, faces, verts)
    assert (pts[~m] == 0).all()
    back = cam.project(pts[m])
    ii, jj = np.nonzero(m)
    np.testing.assert_allclose(back[:, 0], jj + 0.5, atol=2e-3)
    np.testing.assert_allclose(back[:, 1], ii + 0.5, atol=2e-3)
    np.testing.assert_allclose(back[:, 2], frags.depth[m], rtol=1e-5)


def test_perspective_correct_interpolation_on_tilted_plane():
    """A linear function of world position, interpolated, equals its value at the ray hit."""
    verts, faces, normal = tilted_square(70.0, 60.0)
    cam = PerspectiveCamera(distance=250, fov_deg=40, image_size=64)
    frags = rasterize(cam.project(verts), faces, 64, 64, cull_backfaces=False)
    coef = np.array([1.0, -0.5, 2.0])
    value = interpolate(frags, faces, (verts @ coef)[:, None])[..., 0]
    eye, dirs = camera_rays(cam)
    t = ray_plane(eye, dirs, [0, 0, 0], normal)
    truth = (eye + t[..., None] * dirs) @ coef
    m = frags.mask
    assert m.sum() > 300
    np.testing.assert_allclose(value[m], truth[m], atol=2e-3)
    np.testing.assert_allclose(frags.depth[m], t[m], rtol=1e-5)
    # The test has teeth: screen-space (affine) interpolation is far off on this plane.
    sv = cam.project(verts).astype(np.float64)
    ii, jj = np.nonzero(m)
    tri = sv[faces[frags.face_idx[m]]]  # (n, 3, 3)
    p = np.stack([jj + 0.5, ii + 0.5], 1)
    d1, d2, dp = tri[:, 1, :2] - tri[:, 0, :2], tri[:, 2, :2] - tri[:, 0, :2], p - tri[:, 0, :2]
    den = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    l1 = (dp[:, 0] * d2[:, 1] - dp[:, 1] * d2[:, 0]) / den
    l2 = (d1[:, 0] * dp[:, 1] - d1[:, 1] * dp[:, 0]) / den
    vals = (verts @ coef)[faces[frags.face_idx[m]]]
    affine = (1 - l1 - l2) * vals[:, 0] + l1 * vals[:, 1] + l2 * vals[:, 2]
    assert np.abs(affine - truth[m]).max() > 1.0


def random_soup(rng, n: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """n random triangles in screen space, both windings, some off-screen, random depths."""
    centres = rng.uniform([-5, -5], [w + 5, h + 5], (n, 2))
    offsets = rng.normal(0, 6, (n, 3, 2))
    xy = (centres[:, None] + offsets).reshape(-1, 2)
    z = rng.uniform(5, 50, (n * 3, 1))
    sv = np.c_[xy, z].astype(np.float32)
    return sv, np.arange(n * 3, dtype=np.int32).reshape(n, 3)


def assert_fragments_agree(fast: Fragments, ref: Fragments) -> None:
    """face_idx agrees on >= 99.9 % of pixels; depth and barycentrics where both hit one face."""
    agree = fast.face_idx == ref.face_idx
    assert agree.mean() >= 0.999, f"face_idx agrees on only {agree.mean():.4%}"
    same = agree & (fast.face_idx >= 0)
    np.testing.assert_allclose(fast.depth[same], ref.depth[same], rtol=1e-4)
    np.testing.assert_allclose(fast.bary[same], ref.bary[same], atol=1e-4)


@pytest.mark.parametrize("cull", [True, False])
def test_fast_matches_reference_on_triangle_soup(cull):
    rng = np.random.default_rng(7)
    sv, faces = random_soup(rng, 300, 48, 64)
    fast = rasterize(sv, faces, 48, 64, cull_backfaces=cull)
    ref = rasterize_reference(sv, faces, 48, 64, cull_backfaces=cull)
    assert fast.mask.mean() > 0.3
    assert_fragments_agree(fast, ref)


def test_fast_matches_reference_on_random_closed_mesh():
    verts, faces = sphere(20, noise=0.08, seed=5)
    assert is_closed_manifold(faces) and signed_volume(verts, faces) > 0
    for yaw in (-30.0, 10.0):
        cam = PerspectiveCamera(yaw_deg=yaw, pitch_deg=5, distance=260, image_size=(56, 64))
        sv = cam.project(verts)
        assert_fragments_agree(rasterize(sv, faces, 56, 64), rasterize_reference(sv, faces, 56, 64))


def test_rasterizer_errors_name_shapes():
    with pytest.raises(ValueError, match=r"\(V, 3\).*\(5, 2\)"):
        rasterize(np.zeros((5, 2), np.float32), np.zeros((1, 3), np.int32), 8, 8)
    with pytest.raises(ValueError, match=r"\(F, 3\)"):
        rasterize(np.zeros((5, 3), np.float32), np.zeros((1, 4), np.int32), 8, 8)
    with pytest.raises(ValueError, match="index"):
        rasterize(np.zeros((5, 3), np.float32), np.array([[0, 1, 5]], np.int32), 8, 8)


def test_triangles_behind_the_camera_are_dropped():
    sv = np.array([[10, 10, -5], [30, 10, 50], [10, 30, 50]], np.float32)
    frags = rasterize(sv, np.array([[0, 2, 1]], np.int32), 40, 40, cull_backfaces=False)
    assert frags.mask.sum() == 0


# --------------------------------------------------------------------------- shading


def test_vertex_normals_match_area_weighted_definition():
    verts, faces = sphere(10, noise=0.1, seed=2)
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    acc = np.zeros(verts.shape)
    for k in range(3):
        np.add.at(acc, faces[:, k], fn)
    expected = acc / np.linalg.norm(acc, axis=1, keepdims=True)
    np.testing.assert_allclose(vertex_normals(verts, faces), expected, atol=1e-5)


def test_srgb_transfer_curves():
    """IEC 61966-2-1 by hand: the linear segment, mid grey, and the two curves invert."""
    assert srgb_to_linear(0.04) == pytest.approx(0.04 / 12.92)
    assert srgb_to_linear(0.5) == pytest.approx(((0.5 + 0.055) / 1.055) ** 2.4)
    assert float(srgb_to_linear(0.5)) == pytest.approx(0.2140, abs=1e-4)
    x = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-9)


def test_lambert_plane_matches_analytic_colour():
    verts, faces = square(50.0)
    albedo = np.array([0.6, 0.4, 0.2], np.float32)
    light = np.array([0.0, 0.6, 0.8])
    lights = Lights(
        directions=(tuple(light),), colors=((1, 1, 1),), diffuse=(0.5,), ambient=0.1, specular=0.0
    )
    cam = PerspectiveCamera(yaw_deg=20, distance=400, image_size=48)
    out = MeshRenderer(lights=lights)(
        (verts, faces), cam, vertex_colors=np.tile(albedo, (4, 1)), background=(10, 20, 30)
    )
    # Lit in linear light: the sRGB albedo is decoded, lit, and the result encoded again (an
    # sRGB-space product would give 255 * albedo * 0.5: a mid-lit white plane at 128, not 186).
    expected = np.round(255 * linear_to_srgb(srgb_to_linear(albedo) * (0.1 + 0.5 * 0.8)))
    assert out.mask.sum() > 200
    np.testing.assert_allclose(out.rgb[out.mask], np.tile(expected, (out.mask.sum(), 1)), atol=1)
    assert (out.rgb[~out.mask] == [10, 20, 30]).all()


def test_blinn_phong_matches_formula():
    rng = np.random.default_rng(4)
    n = rng.normal(size=(200, 3))
    v = rng.normal(size=(200, 3)) + [0, 0, 2]
    alb = rng.uniform(0, 1, (200, 3))
    nn = n / np.linalg.norm(n, axis=1, keepdims=True)
    vv = v / np.linalg.norm(v, axis=1, keepdims=True)
    # Lambert, then wrap lighting: per channel max(0, (n.l + w) / (1 + w)), the highlight still
    # only where n.l > 0.
    for w in ((0.0, 0.0, 0.0), (0.3, 0.15, 0.1)):
        lights = Lights(specular=0.4, shininess=30.0, wrap=w)
        expected = np.tile(lights.ambient * np.asarray(lights.ambient_color), (200, 1)) * alb
        for d, c, k in zip(lights.directions, lights.colors, lights.diffuse):
            l = np.asarray(d) / np.linalg.norm(d)
            ndl = nn @ l
            hh = l + vv
            hh /= np.linalg.norm(hh, axis=1, keepdims=True)
            ndh = np.clip(np.einsum("ij,ij->i", nn, hh), 0, None)
            expected += alb * np.asarray(c) * k * np.clip((ndl[:, None] + np.array(w)) / (1 + np.array(w)), 0, None)
            expected += ((ndl > 0) * lights.specular * ndh**lights.shininess)[:, None] * np.asarray(c) * k
        np.testing.assert_allclose(blinn_phong(n, alb, v, lights), expected, atol=1e-4)
    # A highlight exactly on the mirror direction is the full specular strength.
    head_on = Lights(
        directions=((0, 0, 1),), colors=((1, 1, 1),), diffuse=(1.0,), ambient=0, specular=0.3
    )
    z = np.array([[0, 0, 1.0]])
    one = blinn_phong(z, np.zeros((1, 3)), z, head_on)
    np.testing.assert_allclose(one, 0.3, atol=1e-6)


def test_wrap_lighting_reaches_past_the_terminator_in_red_first():
    """Subsurface scattering as wrap lighting, by hand: a white surface lit by one light at
    angle theta receives per channel max(0, (cos theta + w) / (1 + w)); with no wrap, Lambert."""
    w = (0.3, 0.15, 0.1)
    one = dict(directions=((0.0, 0.0, 1.0),), colors=((1, 1, 1),), diffuse=(1.0,), ambient=0.0, specular=0.0)
    th = np.radians([0.0, 60.0, 90.0, 100.0, 125.0])
    n = np.stack([np.sin(th), 0 * th, np.cos(th)], 1)
    view = np.tile([0.0, 0.0, 1.0], (len(th), 1))
    got = blinn_phong(n, np.ones_like(n), view, Lights(**one, wrap=w))
    np.testing.assert_allclose(got[0], 1.0, atol=1e-6)  # facing the light: unchanged
    np.testing.assert_allclose(got[2], np.array(w) / (1 + np.array(w)), atol=1e-6)  # the terminator
    assert got[3, 0] > 0 and got[3, 1] == 0 and got[3, 2] == 0  # 10 degrees past it: red only
    assert (got[4] == 0).all()  # 35 degrees past: dark
    assert (got[1:3, 0] > got[1:3, 1]).all() and (got[1:3, 1] > got[1:3, 2]).all()  # warm shadow edges
    lambert = blinn_phong(n, np.ones_like(n), view, Lights(**one))
    np.testing.assert_allclose(lambert[:, 0], np.clip(np.cos(th), 0, None), atol=1e-6)
    for bad in ((0.3, 0.2), (1.0, 0.0, 0.0), (-0.1, 0.0, 0.0)):
        with pytest.raises(ValueError, match="wrap"):
            Lights(wrap=bad)


def test_sample_texture_bilinear():
    tex = np.arange(12, dtype=np.float32).reshape(3, 4, 1)  # row 0 is the top (v = 1)
    # texel (0, 0) centre, texel (2, 1) centre, midway between 4 texels, clamped outside
    uv = np.array(
        [[[0.5 / 4, 1 - 0.5 / 3], [1.5 / 4, 1 - 2.5 / 3], [1.0 / 4, 1 - 1.0 / 3], [-1.0, 2.0]]],
        np.float32,
    )
    got = sample_texture(uv, tex)[0, :, 0]
    np.testing.assert_allclose(got, [0.0, 9.0, (0 + 1 + 4 + 5) / 4, 0.0], atol=1e-5)
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        sample_texture(np.zeros((2, 2, 3)), tex)


FLAT = Lights(
    directions=((0, 0, 1),), colors=((1, 1, 1),), diffuse=(0.0,), ambient=1.0, specular=0.0
)  # unlit: rgb = albedo


def test_uv_texture_checkerboard_on_plane():
    """Unlit render of a textured square reproduces the checker cell under each pixel."""
    half = 60.0
    verts, faces = square(half)
    uvs = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    rows, cols = np.mgrid[0:64, 0:64]
    cell = ((rows // 8) + (cols // 8)) % 2  # an 8 x 8 board: a v flip would swap the colours
    tex = np.where(cell[..., None] == 1, np.uint8(230), np.uint8(30)) * np.ones(3, np.uint8)
    cam = PerspectiveCamera(distance=500, fov_deg=30, image_size=96)
    out = MeshRenderer(lights=FLAT)((verts, faces), cam, uvs=uvs, texture=tex)
    eye, dirs = camera_rays(cam)
    t = ray_plane(eye, dirs, [0, 0, 0], [0, 0, 1.0])
    hit = eye + t[..., None] * dirs
    tc = (hit[..., 0] + half) / (2 * half) * 64  # continuous texel column
    tr = (1 - (hit[..., 1] + half) / (2 * half)) * 64  # v up: texel rows run downwards
    away = lambda x: np.abs(x - 8 * np.round(x / 8)) > 0.6  # noqa: E731 - clear of cell edges
    check = out.mask & away(tc) & away(tr)
    assert check.sum() > 1000
    expected = np.where((tr.astype(int) // 8 + tc.astype(int) // 8) % 2 == 1, 230, 30)
    np.testing.assert_allclose(out.rgb[check][:, 0], expected[check], atol=1)
    assert (out.rgb[check][:, 0] == out.rgb[check][:, 2]).all()


# --------------------------------------------------------------------------- renderer


def test_render_output_attrs_and_background():
    verts, faces = sphere(12)
    mesh = Mesh(verts, faces, colors=np.full(verts.shape, 0.5, np.float32))
    cam = PerspectiveCamera(yaw_deg=-30, distance=300, image_size=(40, 48))
    bg = np.random.default_rng(0).integers(0, 255, (40, 48, 3)).astype(np.uint8)
    heat = np.linspace(0, 1, len(verts), dtype=np.float32)
    out = MeshRenderer()(mesh, cam, background=bg, extra_attrs={"pos": verts, "heat": heat})
    assert isinstance(out, RenderOutput)
    assert out.rgb.shape == (40, 48, 3) and out.rgb.dtype == np.uint8
    assert out.attrs["pos"].shape == (40, 48, 3) and out.attrs["heat"].shape == (40, 48, 1)
    assert out.attrs["heat"].dtype == np.float32
    np.testing.assert_array_equal(out.mask, out.fragments.face_idx >= 0)
    np.testing.assert_array_equal(out.depth, out.fragments.depth)
    np.testing.assert_allclose(out.attrs["pos"], interpolate(out.fragments, faces, verts))
    assert (out.attrs["heat"][~out.mask] == 0).all()
    np.testing.assert_array_equal(out.rgb[~out.mask], bg[~out.mask])
    assert 0.2 < out.mask.mean() < 0.9


def test_supersampling_averages_coverage():
    verts, faces = square(40.0)
    cam = PerspectiveCamera(distance=500, fov_deg=30, image_size=64)
    grey = np.full((4, 3), 1.0, np.float32)
    out = MeshRenderer(lights=FLAT, ssaa=2)(
        (verts, faces), cam, vertex_colors=grey, extra_attrs={"x": verts[:, :1]}
    )
    assert out.fragments.face_idx.shape == (128, 128)
    assert out.rgb.shape == (64, 64, 3) and out.depth.shape == (64, 64)
    half_px = cam.focal_px * 40.0 / 500.0  # 9.55 px: edges cut pixels partway
    # Sub-samples of pixel k sit at k + 0.25 and k + 0.75; count those inside per row/column.
    sub = np.arange(64)[:, None] + np.array([0.25, 0.75])
    per_axis = ((sub >= 32 - half_px) & (sub < 32 + half_px)).sum(1)  # 0, 1 or 2
    coverage = per_axis[:, None] * per_axis[None, :] / 4.0
    # atol 1: interpolated albedo is 1 - 1e-7 at some samples, and 127.5 then rounds down.
    np.testing.assert_allclose(out.rgb[..., 0], np.floor(255 * coverage + 0.5), atol=1)
    assert ((coverage > 0) & (coverage < 1)).sum() > 20  # the test does see partial pixels
    np.testing.assert_array_equal(out.mask, coverage >= 0.5)
    np.testing.assert_allclose(out.depth[out.mask], 500.0, rtol=1e-6)
    x = out.attrs["x"][..., 0]
    jj = np.arange(64) + 0.5
    inner = out.mask & (out.rgb[..., 0] == 255)
    expected_x = (jj - 32) / cam.focal_px * 500.0  # mean of the four sub-sample hits
    np.testing.assert_allclose(x[inner], np.broadcast_to(expected_x, x.shape)[inner], atol=1e-3)


def test_lights_follow_camera():
    """With the light rig carried round, a sphere (48-fold symmetric about y) looks the same
    from yaw 0 and yaw 30; with world-fixed lights it does not."""
    verts, faces = sphere(24)
    front = PerspectiveCamera(yaw_deg=0, image_size=48)
    side = PerspectiveCamera(yaw_deg=30, image_size=48)
    follow = MeshRenderer(lights=Lights(follow_camera=True))
    a, b = follow((verts, faces), front).rgb, follow((verts, faces), side).rgb
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    fixed = MeshRenderer()
    c = fixed((verts, faces), side).rgb
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 3


def test_exposed_lights_scale_the_lit_image():
    """An exposure gain scales every light, so the lit sphere's linear light scales by it (here
    1.6x dim grey, far from clipping), and the background is left as it is."""
    verts, faces = sphere(24)
    cam = PerspectiveCamera(image_size=48)
    grey = np.full((len(verts), 3), 0.3, np.float32)
    bg = np.full((48, 48, 3), 40, np.uint8)
    base = MeshRenderer()((verts, faces), cam, vertex_colors=grey, background=bg)
    lit = MeshRenderer(lights=Lights().exposed(1.6))((verts, faces), cam, vertex_colors=grey, background=bg)
    m = base.mask
    face = m & np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1)  # inside the edge
    assert face.sum() > 300
    ratio = srgb_to_linear(lit.rgb[face] / 255.0) / srgb_to_linear(base.rgb[face] / 255.0)
    assert np.median(ratio) == pytest.approx(1.6, abs=0.02)
    expected = 255 * linear_to_srgb(1.6 * srgb_to_linear(base.rgb[face] / 255.0))
    assert np.abs(lit.rgb[face] - expected).max() <= 1.5
    assert np.array_equal(lit.rgb[~base.mask], bg[~base.mask])
    with pytest.raises(ValueError, match="positive"):
        Lights().exposed(0.0)


def test_gloss_scales_the_highlight_and_nothing_else():
    """Per point, gloss g gives diffuse + g x highlight: by hand on random points (g = 0, 0.5,
    1); a sphere rendered with gloss 0 everywhere is the same image as with no highlight at all,
    with gloss 1 the same as without a gloss, and with gloss 0 on one half only that half loses
    its sheen (pytorch3d's agrees: ``make test-pytorch3d``)."""
    rng = np.random.default_rng(9)
    n = rng.normal(size=(100, 3)) + [0, 0, 1.5]
    v = rng.normal(size=(100, 3)) + [0, 0, 2]
    alb = rng.uniform(0, 1, (100, 3))
    shiny, matte = Lights(specular=0.4, shininess=30.0), Lights(specular=0.0)
    full, flat = blinn_phong(n, alb, v, shiny), blinn_phong(n, alb, v, matte)
    assert (full - flat).max() > 0.1  # there is a highlight to scale
    g = rng.choice([0.0, 0.5, 1.0], size=100)
    np.testing.assert_allclose(blinn_phong(n, alb, v, shiny, gloss=g), flat + g[:, None] * (full - flat), atol=1e-5)
    with pytest.raises(ValueError, match=r"gloss must have shape \(100,\)"):
        blinn_phong(n, alb, v, shiny, gloss=np.ones(99))

    verts, faces = sphere(24)
    cam = PerspectiveCamera(image_size=64)
    grey = np.full((len(verts), 3), 0.3, np.float32)
    lights = Lights(specular=0.5, shininess=20.0)
    plain = MeshRenderer(lights=lights)((verts, faces), cam, vertex_colors=grey).rgb
    none = MeshRenderer(lights=replace(lights, specular=0.0))((verts, faces), cam, vertex_colors=grey).rgb
    zero = MeshRenderer(lights=lights)((verts, faces), cam, vertex_colors=grey, vertex_gloss=np.zeros(len(verts))).rgb
    one = MeshRenderer(lights=lights)((verts, faces), cam, vertex_colors=grey, vertex_gloss=np.ones(len(verts))).rgb
    assert np.abs(plain.astype(int) - none.astype(int)).max() > 40  # the highlight shows
    assert np.array_equal(zero, none) and np.array_equal(one, plain)
    half = (verts[:, 0] < 0).astype(np.float32)  # glossy on image left (-x), matte on the right
    out = MeshRenderer(lights=lights)((verts, faces), cam, vertex_colors=grey, vertex_gloss=half).rgb
    cols = np.arange(64)
    left, right = cols < 28, cols > 36
    assert not np.array_equal(plain[:, right], none[:, right])  # the fill light's sheen, taken away
    assert np.array_equal(out[:, left], plain[:, left]) and np.array_equal(out[:, right], none[:, right])
    with pytest.raises(ValueError, match=r"vertex_gloss must have shape"):
        MeshRenderer()((verts, faces), cam, vertex_gloss=np.ones(3))
    with pytest.raises(ValueError, match=">= 0"):
        MeshRenderer()((verts, faces), cam, vertex_gloss=-np.ones(len(verts)))


def test_renderer_validates_inputs():
    verts, faces = square(10.0)
    cam = PerspectiveCamera(image_size=16)
    r = MeshRenderer()
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        r((verts, faces), cam, vertex_colors=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"\(16, 16, 3\)"):
        r((verts, faces), cam, background=np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="not both"):
        r((verts, faces), cam, vertex_colors=np.zeros((4, 3)), uvs=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="together"):
        r((verts, faces), cam, uvs=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"extra_attrs\['a'\].*\(4, C\)"):
        r((verts, faces), cam, extra_attrs={"a": np.zeros((5, 2))})
    with pytest.raises(ValueError, match="ssaa"):
        MeshRenderer(ssaa=0)
