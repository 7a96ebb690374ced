"""The diffusion backend's plumbing, offline on the CPU with tiny random Kandinsky 2.2 pipelines.

Tiny components (generation.diffusion_testing) make noise, not faces: these tests check shapes,
normalisation, masks, prompts, seeds and the texture projection, never image quality.
"""

from __future__ import annotations

import argparse
import doctest
import sys

import numpy as np
import pytest

pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

from generation import diffusion  # noqa: E402
from generation.demographics import ETHNICITIES, STRATA, Demographics  # noqa: E402
from generation.diffusion import (  # noqa: E402
    ATTIRE,
    DiffusionAppearance,
    DiffusionConfig,
    Inpainter,
    NeutralFaceGenerator,
    add_diffusion_arguments,
    build_prompt,
    depth_hint,
    diffusion_from_args,
    fill_texture,
    frontal_depth,
    project_texture,
    texture_lights,
    visible_vertices,
)
from generation.pipeline import BackendAppearance, GenerationConfig, Generator  # noqa: E402
from generation.render import Lights, MeshRenderer, PerspectiveCamera  # noqa: E402

RES = 64
FLAT = Lights(directions=((0.0, 0.0, 1.0),), colors=((1.0, 1.0, 1.0),), diffuse=(0.0,), ambient=1.0, specular=0.0)


@pytest.fixture(scope="module")
def pipes():
    from generation.diffusion_testing import tiny_pipelines

    return tiny_pipelines()


@pytest.fixture(scope="module")
def config():
    return DiffusionConfig(resolution=RES, steps=2, prior_steps=2, inpaint_steps=2, device="cpu")


@pytest.fixture(scope="module")
def head():
    gen = Generator(GenerationConfig(identities=1, expressions=1, views=(0.0,), size=RES))
    rng = np.random.default_rng(0)
    verts = gen.model.identity(gen.model.sample_shape(rng), age=0.3, gender=1.0)
    return verts, gen.template.faces


class Spy:
    """Records the keyword arguments of every call and forwards to the wrapped pipeline."""

    def __init__(self, pipe):
        self.pipe, self.calls = pipe, []

    def __call__(self, *args, **kwargs):
        self.calls.append(kwargs)
        return self.pipe(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.pipe, name)


def plane(n=31, half=60.0, z=0.0, facing=+1):
    """(vertices, faces) of an n x n grid on [-half, half]^2 at depth z, facing +z (or -z)."""
    xs = np.linspace(-half, half, n)
    xx, yy = np.meshgrid(xs, xs)  # row i: y = xs[i] (up), column j: x = xs[j]
    verts = np.stack([xx.ravel(), yy.ravel(), np.full(n * n, z)], axis=1).astype(np.float32)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])  # CCW seen from +z
    if facing < 0:
        faces = faces[:, ::-1]
    return verts, np.ascontiguousarray(faces, dtype=np.int32)


def smooth_image(h, w, seed=0):
    """(h, w, 3) uint8 low-frequency colour pattern (bilinear sampling reproduces it closely)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    chans = [
        0.5 + 0.45 * np.sin(2 * np.pi * (rng.uniform(0.5, 2) * xx + rng.uniform(0.5, 2) * yy) + rng.uniform(0, 6))
        for _ in range(3)
    ]
    return (np.stack(chans, -1) * 255).astype(np.uint8)


# --------------------------------------------------------------------------- depth hint


def test_depth_hint_near_bright_background_zero():
    depth = np.full((8, 10), np.inf, np.float32)
    depth[2:6, 3:8] = np.linspace(500, 600, 20, dtype=np.float32).reshape(4, 5)
    hint = depth_hint(depth)
    assert isinstance(hint, torch.Tensor) and hint.dtype == torch.float32
    assert tuple(hint.shape) == (1, 3, 8, 10)
    h = hint[0].numpy()
    assert (h[0] == h[1]).all() and (h[0] == h[2]).all()
    g = h[0]
    assert (g[~np.isfinite(depth)] == 0).all()
    assert g.max() == pytest.approx(1.0) and g[2, 3] == pytest.approx(1.0)  # nearest
    assert g[5, 7] == pytest.approx(0.1)  # farthest -> the floor, still above the background
    covered = g[2:6, 3:8].ravel()
    assert (np.diff(covered) < 0).all()  # monotone: farther is darker
    # the mask restricts the normalisation; excluded pixels are background
    mask = np.isfinite(depth)
    mask[2, :] = False
    g2 = depth_hint(depth, mask)[0, 0].numpy()
    assert (g2[2] == 0).all() and g2[3, 3] == pytest.approx(1.0)


def test_depth_hint_from_the_head_render(head, config):
    verts, faces = head
    depth, face_idx = frontal_depth(verts, faces, config.frontal_camera())
    hint = depth_hint(depth, face_idx >= 0)
    assert tuple(hint.shape) == (1, 3, RES, RES)
    g = hint[0, 0].numpy()
    assert 0.0 <= g.min() and g.max() == pytest.approx(1.0)
    assert (g[face_idx < 0] == 0).all() and (g[face_idx >= 0] >= 0.1 - 1e-6).all()
    # the nose tip (the nearest point) is the brightest and lies near the image's centre column
    i, j = np.unravel_index(np.argmax(g), g.shape)
    assert abs(j - RES / 2) <= 3


def test_depth_hint_mappings_by_hand():
    """linear: affine in depth between 1 and the floor; inverse: affine in 1 / depth, default near / depth."""
    depth = np.full((3, 6), np.inf, np.float32)
    depth[1, 1:5] = (500.0, 550.0, 600.0, 700.0)
    cov = np.isfinite(depth)
    lin = depth_hint(depth, floor=0.5)[0, 0].numpy()
    np.testing.assert_allclose(lin[1, 1:5], (1.0, 0.875, 0.75, 0.5), rtol=1e-6)
    assert (depth_hint(depth)[0, 0].numpy()[1, 1:5].min()) == pytest.approx(0.1)  # the default floor
    inv = depth_hint(depth, mapping="inverse")[0, 0].numpy()
    np.testing.assert_allclose(inv[1, 1:5], 500.0 / depth[1, 1:5], rtol=1e-6)
    assert (inv[~cov] == 0).all() and (lin[~cov] == 0).all()
    d = depth[1, 1:5].astype(np.float64)
    want = 0.2 + 0.8 * (1 / d - 1 / 700) / (1 / 500 - 1 / 700)
    np.testing.assert_allclose(depth_hint(depth, floor=0.2, mapping="inverse")[0, 0].numpy()[1, 1:5], want, rtol=1e-6)
    with pytest.raises(ValueError, match="linear, inverse"):
        depth_hint(depth, mapping="log")


def test_inverse_hint_on_the_head_is_high_and_narrow(head, config):
    """On the head, the linear hint spans [0.1, 1] and the inverse one [near / far, 1] (about 0.8 here)."""
    verts, faces = head
    depth, face_idx = frontal_depth(verts, faces, config.frontal_camera())
    on = face_idx >= 0
    near, far = depth[on].min(), depth[on].max()
    lin = depth_hint(depth, on)[0, 0].numpy()[on]
    inv = depth_hint(depth, on, mapping="inverse")[0, 0].numpy()[on]
    assert lin.min() == pytest.approx(0.1) and inv.min() == pytest.approx(near / far, rel=1e-5)
    assert 0.7 < inv.min() < 0.9 and inv.max() == pytest.approx(1.0)
    assert (inv >= lin - 1e-6).all()  # disparity bends towards the near end


def test_depth_hint_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        depth_hint(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="mask"):
        depth_hint(np.zeros((4, 4)), np.ones((3, 3), bool))


# --------------------------------------------------------------------------- prompts


@pytest.mark.parametrize("demo", STRATA, ids=lambda d: f"{d.age_group}-{d.gender}-{d.ethnicity}")
def test_prompt_names_the_demographics(demo):
    age = 0.2 if demo.age_group == "young" else 0.8
    prompt, negative = build_prompt(demo, age, np.random.default_rng(0))
    assert f"{demo.age_group} {demo.ethnicity} {demo.gender}" in prompt
    assert f"{diffusion.age_years(age)} years old" in prompt
    assert "photorealistic" in prompt and "portrait" in prompt
    assert any(a in prompt for a in ATTIRE)
    assert "cartoon" in negative and demo.ethnicity not in negative
    assert (" an elderly " in prompt) == (demo.age_group == "elderly") and " a elderly" not in prompt


def test_prompt_attire_varies_and_is_seeded():
    demo = Demographics("young", "man", "Black")
    drawn = {build_prompt(demo, 0.1, np.random.default_rng(s))[0] for s in range(40)}
    assert len(drawn) >= 8  # attire variety
    assert build_prompt(demo, 0.1, np.random.default_rng(7)) == build_prompt(demo, 0.1, np.random.default_rng(7))
    assert all(e in {d.ethnicity for d in STRATA} for e in ETHNICITIES)


def test_module_doctests():
    assert doctest.testmod(diffusion).failed == 0


# --------------------------------------------------------------------------- neutral face


def test_neutral_face_same_seed_same_image(pipes, config, head):
    gen = NeutralFaceGenerator(pipes["prior"], pipes["controlnet"], config)
    verts, faces = head
    depth, fi = frontal_depth(verts, faces, config.frontal_camera())
    hint = depth_hint(depth, fi >= 0)
    prompt, negative = build_prompt(Demographics("young", "woman", "Latino"), 0.2, np.random.default_rng(0))

    def run(seed):
        return np.asarray(gen(hint, prompt, negative, torch.Generator("cpu").manual_seed(seed)))

    a, b, c = run(0), run(0), run(1)
    assert a.shape == (RES, RES, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).max() > 0


def test_neutral_face_passes_the_hint(pipes, config, head):
    spy = Spy(pipes["controlnet"])
    gen = NeutralFaceGenerator(pipes["prior"], spy, config)
    hint = torch.rand(1, 3, RES, RES)
    gen(hint, "a face", "", torch.Generator("cpu").manual_seed(0))
    (kw,) = spy.calls
    assert torch.equal(kw["hint"], hint)
    assert kw["height"] == kw["width"] == RES and kw["num_inference_steps"] == 2
    with pytest.raises(ValueError, match=r"\(1, 3, 64, 64\)"):
        gen(torch.rand(1, 3, 32, 32), "a face", "", torch.Generator("cpu").manual_seed(0))


# --------------------------------------------------------------------------- texture projection


@pytest.mark.parametrize("yaw", [0.0, 20.0])
def test_projected_texture_reproduces_the_image_on_a_plane(yaw):
    """Render the plane with the projected texture from the projecting camera: the image returns."""
    verts, faces = plane()
    cam = PerspectiveCamera(yaw_deg=yaw, distance=400, fov_deg=30, image_size=RES)
    image = smooth_image(RES, RES)
    uvs, tex = project_texture(verts, faces, cam, image)
    assert uvs.shape == (len(verts), 2) and uvs.dtype == np.float32
    assert tex.shape == image.shape and tex.dtype == np.uint8
    assert visible_vertices(verts, faces, cam).all()
    # UVs are the frontal projection: u = x / W, v = 1 - y / H (v up)
    screen = cam.project(verts)
    np.testing.assert_allclose(uvs[:, 0], screen[:, 0] / RES, atol=1e-6)
    np.testing.assert_allclose(uvs[:, 1], 1 - screen[:, 1] / RES, atol=1e-6)

    out = MeshRenderer(lights=FLAT)((verts, faces), cam, uvs=uvs, texture=tex, background=(0, 0, 0))
    inner = diffusion._erode(out.mask, 3)
    assert inner.sum() > 0.2 * RES * RES
    diff = np.abs(out.rgb.astype(int) - image)[inner]
    if yaw == 0.0:
        assert diff.max() <= 1  # a fronto-parallel plane maps affinely: exact up to rounding
    else:
        assert diff.mean() < 1.0 and diff.max() <= 6  # perspective within each small triangle


def test_hidden_vertices_take_visible_uvs():
    """A small front plane hides the middle of a back plane; a plane facing away is never visible."""
    back_v, back_f = plane(n=21, half=80.0, z=0.0)
    front_v, front_f = plane(n=11, half=30.0, z=50.0)
    away_v, away_f = plane(n=5, half=20.0, z=-60.0, facing=-1)
    verts = np.concatenate([back_v, front_v, away_v])
    faces = np.concatenate([back_f, front_f + len(back_v), away_f + len(back_v) + len(front_v)])
    cam = PerspectiveCamera(distance=400, fov_deg=40, image_size=RES)
    vis = visible_vertices(verts, faces, cam)
    nb, nf = len(back_v), len(front_v)
    assert vis[nb : nb + nf].all()
    assert not vis[nb + nf :].any()
    behind = (np.abs(back_v[:, 0]) < 20) & (np.abs(back_v[:, 1]) < 20)
    assert behind.any() and not vis[:nb][behind].any()
    assert vis[:nb][(np.abs(back_v[:, 0]) > 50) | (np.abs(back_v[:, 1]) > 50)].all()

    uvs, _ = project_texture(verts, faces, cam, smooth_image(RES, RES))
    visible_uvs = {tuple(u) for u in uvs[vis]}
    assert all(tuple(u) in visible_uvs for u in uvs[~vis])  # hidden ones reuse a visible vertex's UV
    # ... that of the nearest one in 3D (up to ties on this symmetric grid)
    vi = np.flatnonzero(vis)
    for hid in np.flatnonzero(~vis):
        dist = np.linalg.norm(verts[vi] - verts[hid], axis=1)
        donors = vi[(uvs[vi] == uvs[hid]).all(axis=1)]
        assert np.linalg.norm(verts[donors] - verts[hid], axis=1).min() == pytest.approx(dist.min())


def test_texture_outside_the_face_is_filled_from_inside(head, config):
    verts, faces = head
    cam = config.frontal_camera()
    image = np.zeros((RES, RES, 3), np.uint8)
    image[...] = (0, 255, 0)  # a "generated background" that must not leak
    _, fi = frontal_depth(verts, faces, cam)
    image[fi >= 0] = (200, 150, 120)
    _, tex = project_texture(verts, faces, cam, image, erode=1)
    assert (tex.reshape(-1, 3) == (200, 150, 120)).all()
    filled = fill_texture(np.array([[[0.0], [0.0]], [[1.0], [0.0]]]), np.array([[False, False], [True, False]]))
    assert (filled == 1.0).all()


def test_texture_lights_keep_frontal_colours():
    verts, faces = plane()
    cam = PerspectiveCamera(distance=400, fov_deg=30, image_size=RES)
    image = smooth_image(RES, RES, seed=3)
    uvs, tex = project_texture(verts, faces, cam, image)
    lit = MeshRenderer(lights=texture_lights(0.35))((verts, faces), cam, uvs=uvs, texture=tex)
    flat = MeshRenderer(lights=FLAT)((verts, faces), cam, uvs=uvs, texture=tex)
    inner = diffusion._erode(flat.mask, 2)
    assert np.abs(lit.rgb.astype(int) - flat.rgb)[inner].mean() < 3.0


# --------------------------------------------------------------------------- inpainting


def disc_mask(size, radius):
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    return (xx - size / 2) ** 2 + (yy - size / 2) ** 2 < radius**2


def test_inpainter_repaints_outside_the_face_mask(pipes, config):
    spy = Spy(pipes["inpaint"])
    inp = Inpainter(pipes["prior"], spy, config)
    face = disc_mask(RES, 20)
    image = smooth_image(RES, RES, seed=1)
    out = inp(image, face, "a portrait", "blurry", torch.Generator("cpu").manual_seed(0))
    (kw,) = spy.calls
    m = kw["mask_image"]
    assert m.shape == (RES, RES) and m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0}
    # diffusers 0.42: 1 (white) = repaint. Background repainted, face (less the margin) kept.
    assert (m[~face] == 1).all()
    core = diffusion._erode(face, config.inpaint_margin)
    assert (m[core] == 0).all() and (m[face & ~core] == 1).all()
    assert kw["image"].size == (RES, RES)
    # the kept pixels come back exactly; the rest is what the pipeline painted
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[core], image[core])
    assert np.abs(out[~face].astype(int) - image[~face]).mean() > 1


def test_inpaint_mask_convention_matches_installed_diffusers():
    """Pin the convention on diffusers itself: after its preprocessing, 1 = keep at our face."""
    from diffusers.pipelines.kandinsky2_2.pipeline_kandinsky2_2_inpainting import prepare_mask_and_masked_image
    from PIL import Image

    face = disc_mask(RES, 20)
    ours = Inpainter(None, None, DiffusionConfig(resolution=RES, inpaint_margin=0)).repaint_mask(face)
    keep, _ = prepare_mask_and_masked_image(Image.fromarray(smooth_image(RES, RES)), ours.copy(), RES, RES)
    keep = keep[0, 0].numpy()
    assert (keep[face] == 1).all() and (keep[~face] == 0).all()


def test_inpainter_resizes_frames_to_the_model_resolution(pipes, config):
    spy = Spy(pipes["inpaint"])
    inp = Inpainter(pipes["prior"], spy, config)
    size = 40
    face = disc_mask(size, 12)
    image = smooth_image(size, size, seed=2)
    out = inp(image, face, "a portrait", "", torch.Generator("cpu").manual_seed(0))
    kw = spy.calls[0]
    assert kw["mask_image"].shape == (RES, RES) and kw["image"].size == (RES, RES)
    assert out.shape == (size, size, 3)
    core = diffusion._erode(face, config.inpaint_margin)
    np.testing.assert_array_equal(out[core], image[core])


# --------------------------------------------------------------------------- generator hook


def test_empty_backend_changes_nothing():
    cfg = GenerationConfig(identities=1, expressions=2, views=(-30.0, 30.0), size=48, seed=4, distractor_probability=0.5)
    plain = Generator(cfg).identity(0)
    hooked = Generator(cfg, appearance_backend=lambda *a: BackendAppearance()).identity(0)
    for a, b in zip(plain.frames, hooked.frames):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.heat, b.heat)
        assert (a.aus, a.distractor_aus, a.pspi, a.age, a.appearance) == (b.aus, b.distractor_aus, b.pspi, b.age, b.appearance)


def test_hook_texture_lights_and_finish_reach_every_frame():
    cfg = GenerationConfig(identities=1, expressions=2, views=(-30.0, 0.0, 30.0), size=48, seed=1)
    seen = {}

    def backend(vertices, faces, demographics, age, rng):
        seen["args"] = (vertices.shape, faces.shape, demographics, age)
        tex = np.zeros((8, 8, 3), np.uint8)
        tex[...] = (0, 255, 0)
        calls = seen.setdefault("finish", [])

        def finish(rgb, mask, view, expression):
            calls.append((view, expression, mask.shape))
            out = rgb.copy()
            out[~mask] = (255, 0, 255)
            return out

        return BackendAppearance(
            uvs=np.full((len(vertices), 2), 0.5, np.float32), texture=tex, lights=FLAT, finish=finish, extras={"prompt": "p"}
        )

    plain = Generator(cfg).identity(0)
    res = Generator(cfg, appearance_backend=backend).identity(0)
    assert seen["args"][0] == plain.meshes[0].shape and seen["args"][2] == plain.frames[0].demographics
    assert sorted(seen["finish"]) == [(v, e, (48, 48)) for v in range(3) for e in range(3)]
    for a, b in zip(plain.frames, res.frames):
        face = (b.image == (0, 255, 0)).all(-1)
        bg = (b.image == (255, 0, 255)).all(-1)
        assert face.sum() > 200 and (face | bg).all()
        assert (a.aus, a.pspi) == (b.aus, b.pspi) and b.extras == {"prompt": "p"}
    for m0, m1 in zip(plain.meshes, res.meshes):
        np.testing.assert_array_equal(m0, m1)


def test_diffusion_appearance_end_to_end(pipes, config):
    spy_dec, spy_inp = Spy(pipes["controlnet"]), Spy(pipes["inpaint"])
    backend = DiffusionAppearance(
        config,
        NeutralFaceGenerator(pipes["prior"], spy_dec, config),
        Inpainter(pipes["prior"], spy_inp, config),
    )
    cfg = GenerationConfig(identities=2, expressions=1, views=(-30.0, 0.0, 30.0), size=48, seed=0)
    gen = Generator(cfg, appearance_backend=backend)
    res = gen.identity(1)
    assert len(res.frames) == 2 * 3
    # one neutral image from the depth of the neutral mesh; inpainting once per view (reused)
    (kw,) = spy_dec.calls
    hint = kw["hint"]
    assert tuple(hint.shape) == (1, 3, RES, RES) and float(hint.max()) == pytest.approx(1.0)
    assert float(hint.min()) == 0.0
    assert len(spy_inp.calls) == 3
    demo = gen.demographics[1]
    prompt = res.frames[0].extras["prompt"]
    assert demo.ethnicity in prompt and demo.gender in prompt and demo.age_group in prompt
    # pain frames of a view keep that view's inpainted background
    for j in range(3):
        a, b = res.frames[j], res.frames[3 + j]
        assert a.view == b.view == j and b.expression == 1
    # deterministic: the same identity again gives the same bytes
    again = gen.identity(1)
    for a, b in zip(res.frames, again.frames):
        np.testing.assert_array_equal(a.image, b.image)
    # and the texture is the neutral image's: the backend output for this identity
    rng = np.random.default_rng([cfg.seed, 1, 2**31 + 1])
    out = DiffusionAppearance(config, NeutralFaceGenerator(pipes["prior"], pipes["controlnet"], config))(
        res.meshes[0], res.faces, demo, res.frames[0].age, rng
    )
    assert out.uvs.shape == (len(res.meshes[0]), 2) and out.texture.shape == (RES, RES, 3)
    assert out.neutral_image.shape == (RES, RES, 3) and out.finish is None


def test_seed_offset_rerolls_noise(pipes, config, head):
    verts, faces = head
    demo = Demographics("elderly", "man", "White")
    from dataclasses import replace

    def texture(cfg):
        app = DiffusionAppearance(cfg, NeutralFaceGenerator(pipes["prior"], pipes["controlnet"], cfg))
        return app(verts, faces, demo, 0.8, np.random.default_rng(5)).neutral_image

    a, b = texture(config), texture(replace(config, seed_offset=1))
    assert np.abs(a.astype(int) - b).max() > 0


def test_backend_passes_the_chosen_hint_mapping(pipes, config, head):
    from dataclasses import replace

    verts, faces = head
    depth, face_idx = frontal_depth(verts, faces, config.frontal_camera())
    for mapping, floor in (("linear", None), ("inverse", None), ("inverse", 0.3)):
        cfg = replace(config, hint_mapping=mapping, hint_floor=floor)
        spy = Spy(pipes["controlnet"])
        DiffusionAppearance(cfg, NeutralFaceGenerator(pipes["prior"], spy, cfg))(
            verts, faces, Demographics("young", "woman", "Black"), 0.2, np.random.default_rng(0)
        )
        want = depth_hint(depth, face_idx >= 0, floor=floor, mapping=mapping)
        assert torch.equal(spy.calls[0]["hint"], want)


# --------------------------------------------------------------------------- configuration and CLI


def test_config_validation():
    with pytest.raises(ValueError, match="multiple of 64"):
        DiffusionConfig(resolution=100)
    with pytest.raises(ValueError, match="steps"):
        DiffusionConfig(steps=0)
    with pytest.raises(ValueError, match="dtype"):
        DiffusionConfig(dtype="float8")
    with pytest.raises(ValueError, match="relight"):
        DiffusionConfig(relight=2.0)
    with pytest.raises(ValueError, match="--depth-hint"):
        DiffusionConfig(hint_mapping="log")
    with pytest.raises(ValueError, match=r"--depth-floor must be in \[0, 1\)"):
        DiffusionConfig(hint_floor=1.0)
    with pytest.raises(ValueError, match="--diffusion-redraws"):
        DiffusionConfig(redraws=-1)
    with pytest.raises(ValueError, match="--diffusion-alignment-threshold"):
        DiffusionConfig(alignment_threshold=0.0)
    assert DiffusionConfig(device="cpu").torch_dtype() == torch.float32
    assert DiffusionConfig().prior_model == "kandinsky-community/kandinsky-2-2-prior"
    assert DiffusionConfig().controlnet_model == "kandinsky-community/kandinsky-2-2-controlnet-depth"
    assert DiffusionConfig().inpaint_model == "kandinsky-community/kandinsky-2-2-decoder-inpaint"


def parse(argv):
    p = argparse.ArgumentParser()
    add_diffusion_arguments(p)
    return p.parse_args(argv)


def test_cli_arguments_build_the_backend():
    assert diffusion_from_args(parse([])) is None
    got = {}

    def fake_load(config, texturer, inpainter, aligner=None):
        got.update(config=config, texturer=texturer, inpainter=inpainter, aligner=aligner)
        return "backend"

    def landmarks(vertices):
        return {}

    args = parse(
        ["--texturer", "diffusion", "--device", "cpu", "--diffusion-model", "prior=/models/prior",
         "--diffusion-model", "inpaint=/models/inpaint", "--diffusion-steps", "30", "--diffusion-resolution", "768",
         "--depth-hint", "inverse", "--depth-floor", "0.25", "--diffusion-alignment-threshold", "0.2",
         "--diffusion-redraws", "4"]
    )
    assert diffusion_from_args(args, load=fake_load, landmarks=landmarks) == "backend"
    c = got["config"]
    assert got["texturer"] and not got["inpainter"]
    assert c.prior_model == "/models/prior" and c.inpaint_model == "/models/inpaint"
    assert c.controlnet_model == DiffusionConfig().controlnet_model
    assert c.steps == c.inpaint_steps == 30 and c.resolution == 768 and c.device == "cpu"
    assert c.hint_mapping == "inverse" and c.hint_floor == 0.25
    assert (parse([]).depth_hint, parse([]).depth_floor) == ("linear", None)
    a = got["aligner"]  # the texturer's portraits are checked against the face model's landmarks
    assert a.landmarks is landmarks and (a.threshold, a.redraws) == (0.2, 4)
    with pytest.raises(ValueError, match="landmarks"):
        diffusion_from_args(args, load=fake_load)
    diffusion_from_args(parse(["--texturer", "diffusion", "--device", "cpu", "--no-diffusion-alignment-check"]), load=fake_load)
    assert got["aligner"] is None
    diffusion_from_args(parse(["--inpainter", "diffusion", "--device", "cpu"]), load=fake_load)
    assert not got["texturer"] and got["inpainter"] and got["aligner"] is None


def test_cli_arguments_fail_with_a_message():
    with pytest.raises(ValueError, match="ROLE=ID"):
        diffusion_from_args(parse(["--texturer", "diffusion", "--diffusion-model", "decoder"]), load=None)
    with pytest.raises(ValueError, match="multiple of 64"):
        diffusion_from_args(parse(["--texturer", "diffusion", "--diffusion-resolution", "100"]), load=None)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            diffusion_from_args(parse(["--texturer", "diffusion", "--device", "cuda"]), load=None)


def test_existing_device_option_is_kept():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda:3")
    add_diffusion_arguments(p)
    assert p.parse_args([]).device == "cuda:3"


# --------------------------------------------------------------------------- missing packages


def run_cli(argv, capsys):
    from pain3d import cli

    rc = cli.main(argv)
    err = capsys.readouterr().err
    return rc, err


@pytest.mark.parametrize("package", diffusion.DIFFUSION_PACKAGES + diffusion.ALIGNMENT_PACKAGES)
def test_a_hidden_package_is_one_line_naming_the_extra(package, tmp_path, monkeypatch, capsys):
    """Each package the backend needs, hidden in turn: one line naming it and the extra; --out untouched."""
    monkeypatch.setitem(sys.modules, package, None)  # import fails, find_spec says missing
    out = tmp_path / "out"
    rc, err = run_cli(["generate", "--out", str(out), "--identities", "1", "--expressions", "1", "--size", "32",
                       "--texturer", "diffusion", "--device", "cpu"], capsys)
    assert rc == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert package in line and "pip install 'pain3d[diffusion]'" in line
    assert not out.exists()


def test_the_alignment_packages_are_not_needed_without_the_check(tmp_path, monkeypatch, capsys):
    for package in diffusion.ALIGNMENT_PACKAGES:
        monkeypatch.setitem(sys.modules, package, None)
    monkeypatch.setattr(DiffusionAppearance, "from_config", classmethod(lambda cls, *a, **k: (_ for _ in ()).throw(OSError("stop here"))))
    rc, err = run_cli(["generate", "--out", str(tmp_path / "o"), "--identities", "1", "--texturer", "diffusion",
                       "--device", "cpu", "--no-diffusion-alignment-check"], capsys)
    assert rc == 2 and err.strip() == "pain3d: error: stop here"


def test_diffusers_placeholder_classes_are_one_line(tmp_path, monkeypatch, capsys):
    """Without transformers, diffusers hands out placeholders whose from_pretrained raises ImportError."""
    import diffusers

    class Placeholder:  # what diffusers.utils.dummy_torch_and_transformers_objects does then
        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            raise ImportError("KandinskyV22PriorPipeline requires the transformers library but it was not found in your environment.")

    monkeypatch.setattr(diffusers, "KandinskyV22PriorPipeline", Placeholder)
    with pytest.raises(diffusion.DiffusionUnavailable, match=r"kandinsky-2-2-prior.*pain3d\[diffusion\]"):
        DiffusionAppearance.from_config(DiffusionConfig(device="cpu"))
    rc, err = run_cli(["generate", "--out", str(tmp_path / "o"), "--identities", "1", "--texturer", "diffusion",
                       "--device", "cpu", "--no-diffusion-alignment-check"], capsys)
    # (transformers may first print its own torchvision notice on importing the pipelines)
    (line,) = [ln for ln in err.splitlines() if ln.startswith("pain3d: error:")]
    assert rc == 2 and "pain3d[diffusion]" in line and "Traceback" not in err and err.strip().endswith(line)


def test_the_extra_installs_every_package_the_backend_checks():
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def names(extra):
        out = set()
        for req in extras[extra]:
            name = req.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip()
            out |= names(req.split("[")[1].rstrip("]")) if name == "pain3d" else {name}
        return out

    dist = {"dlib": "dlib-bin"}  # module -> distribution, where they differ
    assert {dist.get(m, m) for m in diffusion.DIFFUSION_PACKAGES + diffusion.ALIGNMENT_PACKAGES} <= names("diffusion")


# --------------------------------------------------------------------------- portrait alignment

from generation.alignment import CORRESPONDENCES, PortraitAlignment, alignment_error, projected_landmarks  # noqa: E402


def test_alignment_error_by_hand():
    """68 points that put every corresponding landmark on the mesh's: 0; all moved by (3, 4) px: 5 / IOD."""
    projected = {k: np.array([10.0 * i, 7.0 * i + 20.0]) for i, k in enumerate(CORRESPONDENCES)}
    pts = np.zeros((68, 2))
    for k, idx in CORRESPONDENCES.items():
        pts[list(idx)] = projected[k]
    iod = np.linalg.norm(projected["left_eye"] - projected["right_eye"])
    assert alignment_error(pts, projected) == pytest.approx(0.0)
    assert alignment_error(pts + (3.0, 4.0), projected) == pytest.approx(5.0 / iod)
    moved = pts.copy()
    moved[48] += (0.0, 12.0)  # one lip corner off by 12 px: the mean over 6 landmarks
    assert alignment_error(moved, projected) == pytest.approx(12.0 / iod / len(CORRESPONDENCES))
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        alignment_error(pts[:5], projected)


@pytest.fixture(scope="module")
def portrait():
    """A frontal procedural render (perfectly aligned with its mesh) and a DiffusionConfig with the same camera."""
    pytest.importorskip("dlib")
    size = 256
    gcfg = GenerationConfig(identities=1, expressions=0, views=(0.0,), size=size, seed=0)
    gen = Generator(gcfg)
    res = gen.identity(0)
    cfg = DiffusionConfig(resolution=size, steps=2, prior_steps=2, device="cpu", camera_distance=gcfg.camera_distance,
                          fov_deg=gcfg.fov_deg, target=(0.0, -28.0, 40.0))
    cam = cfg.frontal_camera()
    assert np.allclose(cam.project(res.meshes[0]), gen.cameras[0].project(res.meshes[0]))
    return gen, res.meshes[0], res.faces, res.frames[0].image, cfg


def shifted(image, dx):
    """``image`` moved right by dx pixels (the left edge repeated)."""
    out = np.empty_like(image)
    out[:, dx:] = image[:, :-dx]
    out[:, :dx] = image[:, :1]
    return out


def test_alignment_check_measures_a_shifted_portrait(portrait):
    gen, verts, faces, image, cfg = portrait
    check = PortraitAlignment(gen.model.landmarks)
    cam = cfg.frontal_camera()
    pr = projected_landmarks(gen.model.landmarks(verts), cam)
    iod = float(np.linalg.norm(pr["left_eye"] - pr["right_eye"]))
    aligned = check.error(image, verts, cam)
    assert aligned < 0.08 and check.accepts(aligned)
    # Shifts of 1.4x and 2.2x the threshold (in this face's own inter-ocular distances).
    for factor in (1.4, 2.2):
        dx = int(np.ceil(factor * check.threshold * iod))
        err = check.error(shifted(image, dx), verts, cam)
        assert err == pytest.approx(dx / iod, abs=0.05)  # dlib follows the face: the error is the shift
        assert not check.accepts(err)
    assert check.error(np.full_like(image, 128), verts, cam) == float("inf")  # no face at all


class FakeTexturer:
    """Hands out given portraits in turn (PIL), recording each call's generator seed."""

    def __init__(self, images):
        self.images, self.seeds = list(images), []

    def embed(self, prompt, negative, generator):
        return None, None

    def __call__(self, hint, prompt, negative, generator, embeds=None):
        from PIL import Image

        self.seeds.append(generator.initial_seed())
        return Image.fromarray(self.images[len(self.seeds) - 1])


def test_a_misaligned_portrait_is_redrawn_with_the_next_seed(portrait):
    gen, verts, faces, image, cfg = portrait
    demo = Demographics("young", "woman", "Latino")

    def run(images, redraws=2):
        tex = FakeTexturer(images)
        app = DiffusionAppearance(cfg, tex, aligner=PortraitAlignment(gen.model.landmarks, threshold=0.1, redraws=redraws))
        return tex, app(verts, faces, demo, 0.2, np.random.default_rng(3))

    tex, out = run([shifted(image, 16), image, shifted(image, 20)])
    x = out.extras
    seed = x["diffusion_seed"]
    assert x["alignment_attempts"] == 2 and len(tex.seeds) == 2 and tex.seeds == [seed, seed + 1]
    assert x["alignment_errors"][0] > 0.1 > x["alignment_errors"][1] == x["alignment_error"]
    assert x["alignment_ok"] and x["texture_seed"] == seed + 1
    np.testing.assert_array_equal(out.neutral_image, image)  # the aligned draw is the texture
    np.testing.assert_array_equal(out.texture, project_texture(verts, faces, cfg.frontal_camera(), image)[1])

    # every draw off: all N + 1 tried, the best kept and flagged
    tex, out = run([shifted(image, 24), shifted(image, 12), shifted(image, 20)])
    x = out.extras
    assert x["alignment_attempts"] == 3 and not x["alignment_ok"] and x["texture_seed"] == x["diffusion_seed"] + 1
    assert x["alignment_error"] == min(x["alignment_errors"])
    np.testing.assert_array_equal(out.neutral_image, shifted(image, 12))
    # a good first draw is never redrawn; redraws=0 checks and records only
    tex, out = run([image])
    assert out.extras["alignment_attempts"] == 1 and len(tex.seeds) == 1
    tex, out = run([shifted(image, 24)], redraws=0)
    assert out.extras["alignment_attempts"] == 1 and not out.extras["alignment_ok"]


@pytest.mark.parametrize("layout", ["folder", "hub"])
def test_alignment_attempts_reach_the_labels(pipes, tmp_path, monkeypatch, capsys, layout):
    """pain3d generate --texturer diffusion: each frame's labels carry the backend's record (the
    folder layout's JSON ``diffusion`` object; the hub layout's ``appearance`` column, as JSON)."""
    import json

    import pyarrow.parquet as pq

    pytest.importorskip("dlib")

    def tiny(cls, config, texturer=True, inpainter=True, aligner=None):
        return cls(config, NeutralFaceGenerator(pipes["prior"], pipes["controlnet"], config), None, aligner)

    monkeypatch.setattr(DiffusionAppearance, "from_config", classmethod(tiny))
    out = tmp_path / "out"
    rc, err = run_cli(["generate", "--out", str(out), "--format", layout, "--identities", "1", "--expressions", "1",
                       "--views", "1", "--size", "48", "--quiet", "--texturer", "diffusion", "--device", "cpu",
                       "--diffusion-resolution", "64", "--diffusion-steps", "2", "--diffusion-prior-steps", "2",
                       "--diffusion-redraws", "1"], capsys)
    assert rc == 0, err
    if layout == "folder":
        records = [json.loads(p.read_text())["diffusion"] for p in sorted(out.glob("frames/*/*.json"))]
    else:
        records = [json.loads(a) for f in sorted(out.glob("data/frames/*.parquet")) for a in pq.read_table(f)["appearance"].to_pylist()]
    assert len(records) == 2
    for d in records:
        assert d == records[0]  # one record per identity, on each of its frames
        # the tiny pipelines paint noise: dlib finds no face, so both draws are made and flagged
        assert d["alignment_attempts"] == 2 and d["alignment_errors"] == [None, None] and d["alignment_ok"] is False
        assert "portrait photo" in d["prompt"] and d["texture_seed"] == d["diffusion_seed"]
