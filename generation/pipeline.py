"""The generator: demographics + AU choices -> rendered neutral/pain frames with labels.

Everything about identity ``i`` is drawn from ``default_rng([seed, i])``, and the dataset-wide
plan (balanced demographics, balanced PSPI targets) from ``seed`` alone, so any identity can be
generated on its own (process pools, sharded runs) and gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

import numpy as np

from .demographics import Demographics, balanced_demographics
from .face_model import FaceModel, skin_mask
from .facs import (
    DISTRACTOR_CODES,
    PAIN_CODES,
    AUValueError,
    pspi,
    sample_aus_for_pspi,
    sample_distractors,
    sample_pspi_targets,
    validate_aus,
)
from .hair import hair_layer
from .limits import check_counts, check_finite, check_seed
from .heatmaps import DEFAULT_SCALE_MM, heatmap_from_maps, vertex_displacement
from .mesh import Mesh
from .mesh_asset import parts_from_components, texture_albedo
from .render import Lights, PerspectiveCamera, default_views, srgb_to_linear
from .render.backends import RENDERERS, check_device, make_renderer
from .rig import AURig
from .texture import Appearance, background, sample_appearance, vertex_albedo, vertex_gloss

FACE_MODELS = ("builtin", "flame")
MESH_STORAGE = ("none", "vertices", "glb")  # none: no meshes; vertices: arrays; glb: one GLB per mesh
YAW_LIMIT = 180.0  # degrees, camera yaw
PITCH_LIMIT = 89.0  # degrees, camera pitch (90 looks straight down the up axis)


@dataclass(frozen=True)
class GenerationConfig:
    """What to generate. ``views`` are camera yaws in degrees (+ = from the subject's left)."""

    identities: int = 8
    expressions: int = 10
    views: tuple[float, ...] = (-30.0, 0.0, 30.0)
    pitch: float = 0.0
    size: int = 256
    seed: int = 0
    face_model: str = "builtin"
    flame_path: str | None = None
    distractor_probability: float = 0.0
    heatmap_scale_mm: float = DEFAULT_SCALE_MM
    # PSPI targets of the pain expressions; None: 1-16, or 0-16 with distractors (see pain_target_range)
    pspi_range: tuple[int, int] | None = None
    fixed_aus: Mapping[str, float] | None = None
    weights: Mapping | None = None
    ssaa: int = 1
    camera_distance: float = 650.0
    fov_deg: float = 22.0
    renderer: str = "numba"  # or "pytorch3d" (generation.render.backends): same frames, other hardware
    device: str = "cpu"
    meshes: str = "vertices"  # what the dataset stores of the meshes: none, vertices or glb

    def __post_init__(self) -> None:
        for name in ("identities", "expressions", "size", "ssaa"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise ValueError(f"--{name} must be a whole number, got {v!r}")
        if len(self.views) == 0:
            raise ValueError("at least one view is needed (e.g. --views 3)")
        for yaw in self.views:
            check_finite(yaw, "--yaws", -YAW_LIMIT, YAW_LIMIT)
        check_finite(self.pitch, "--pitch", -PITCH_LIMIT, PITCH_LIMIT)
        check_seed(self.seed)
        check_counts(self.identities, self.expressions, len(self.views), self.size, self.ssaa)
        if self.face_model not in FACE_MODELS:
            raise ValueError(f"unknown face model {self.face_model!r}; choose one of {', '.join(FACE_MODELS)}")
        if self.face_model == "flame" and not self.flame_path:
            raise ValueError("--face-model flame needs --flame-path PATH to a FLAME model file")
        if not 0.0 <= self.distractor_probability <= 1.0:
            raise ValueError(f"--distractors must be a probability in [0, 1], got {self.distractor_probability}")
        if self.pspi_range is None:
            object.__setattr__(self, "pspi_range", pain_target_range(self.distractor_probability))
        lo, hi = self.pspi_range
        if not (0 <= lo <= hi <= 16):
            raise AUValueError(f"PSPI range {lo}..{hi} is impossible: PSPI targets must lie in 0..16")
        if self.fixed_aus is not None:
            object.__setattr__(self, "fixed_aus", validate_aus(self.fixed_aus))
            if not any(self.fixed_aus.values()) and self.distractor_probability == 0:
                raise ValueError(
                    "--au sets no AU above 0: every pain expression would copy the neutral face; "
                    "give a pain AU (e.g. AU4=2) or a distractor AU (e.g. AU12=2)"
                )
        check_finite(self.heatmap_scale_mm, "heatmap scale (mm)", 1e-6, 1e6)
        if self.renderer not in RENDERERS:
            raise ValueError(f"unknown renderer {self.renderer!r}; choose one of {', '.join(RENDERERS)}")
        check_device(self.renderer, self.device)
        if self.meshes not in MESH_STORAGE:
            raise ValueError(f"--meshes must be one of {', '.join(MESH_STORAGE)}, got {self.meshes!r}")

    @staticmethod
    def view_yaws(n: int) -> tuple[float, ...]:
        """Default yaws for ``n`` views (3 -> -30, 0, +30)."""
        if n < 1:
            raise ValueError(f"--views must be at least 1, got {n}")
        return tuple(float(v) for v in default_views(n))


def pain_target_range(distractor_probability: float) -> tuple[int, int]:
    """Default PSPI targets of the pain expressions: 1-16, so that no pain expression copies the
    neutral face; with distractors, 0-16, a PSPI 0 target then being a distractor-only expression
    (non-pain AUs only), so PSPI 0 has examples other than the neutral face."""
    return (0, 16) if distractor_probability > 0 else (1, 16)


def ensure_movement(pain: Mapping[str, float], distractors: dict[str, int], rng: np.random.Generator) -> dict[str, int]:
    """``distractors``, plus one drawn distractor AU (intensity 1-3) when neither they nor the pain
    AUs move the face: an expression never duplicates the neutral image."""
    if any(pain.values()) or any(distractors.values()):
        return distractors
    code = DISTRACTOR_CODES[int(rng.integers(len(DISTRACTOR_CODES)))]
    return {**distractors, code: int(rng.integers(1, 4))}


@dataclass
class Frame:
    """One rendered frame and its labels."""

    identity: str
    expression: int
    view: int
    yaw: float
    pitch: float
    image: np.ndarray  # (H, W, 3) uint8
    heat: np.ndarray | None  # (H, W) float32 in [0, 1]; None for neutral frames
    direction: np.ndarray | None  # (H, W, 3) float32 unit vectors (view space)
    aus: dict[str, float]
    distractor_aus: dict[str, float]
    pspi: float
    demographics: Demographics
    age: float
    seed: int
    appearance: Appearance
    extras: dict = field(default_factory=dict)


@dataclass
class IdentityResult:
    """All frames of one identity, plus its meshes (for the dataset's meshes config).

    albedo: (V, 3) float32 in [0, 1], the colour of each vertex (sampled from the texture when
    an appearance backend made one); uvs (V, 2) + texture (Th, Tw, 3) uint8: that texture, or
    None; parts: the face model's separately closed shells (head, eyeballs, eyelids).
    """

    index: int
    name: str
    frames: list[Frame]
    meshes: list[np.ndarray]  # per expression, (V, 3) float32
    faces: np.ndarray
    albedo: np.ndarray | None = None
    uvs: np.ndarray | None = None
    texture: np.ndarray | None = None
    parts: tuple = ()


@dataclass
class BackendAppearance:
    """What an appearance backend gives one identity; None fields keep the procedural choice.

    uvs (V, 2) + texture (Th, Tw, 3): one texture for the neutral and every pain mesh (the
        topology is fixed, so identity and skin detail stay put while the AUs move them).
    lights: replaces the identity's sampled light rig.
    finish: ``finish(rgb, mask, view, expression) -> rgb`` on every rendered frame (e.g.
        inpainting around the face; ``mask`` is the renderer's coverage).
    neutral_image: the image the texture came from, if any; extras: copied into each Frame.
    """

    uvs: np.ndarray | None = None
    texture: np.ndarray | None = None
    lights: Lights | None = None
    finish: Callable[[np.ndarray, np.ndarray, int, int], np.ndarray] | None = None
    neutral_image: np.ndarray | None = None
    extras: dict = field(default_factory=dict)


class AppearanceBackend(Protocol):
    """``backend(neutral vertices (V, 3), faces (F, 3), demographics, age, rng)``."""

    def __call__(
        self, vertices: np.ndarray, faces: np.ndarray, demographics: Demographics, age: float, rng: np.random.Generator
    ) -> BackendAppearance: ...


# Stream of the identity's generator handed to an appearance backend: its draws never shift
# the procedural ones, so AUs, labels and geometry are the same with or without a backend.
BACKEND_STREAM = 2**31 + 1


def build_face_model(config: GenerationConfig) -> FaceModel:
    """The face model the config asks for."""
    if config.face_model == "flame":
        from .flame import FlameFaceModel

        return FlameFaceModel(config.flame_path)
    from .head import BuiltinHead

    return BuiltinHead()


# Subsurface scattering as wrap lighting (``Lights.wrap``): red light travels furthest under the
# skin (a few mm against about 1 for green and blue), so it wraps furthest past the terminator.
SKIN_WRAP = (0.3, 0.15, 0.1)


def sample_lights(rng: np.random.Generator) -> Lights:
    """A portrait light rig with per-identity variation: key direction, warmth and contrast; the
    skin's subsurface scattering as wrap lighting (``SKIN_WRAP``)."""
    side = rng.choice([-1.0, 1.0])
    key = (side * rng.uniform(0.2, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.6, 0.9))
    fill = (-side * rng.uniform(0.4, 0.8), rng.uniform(-0.1, 0.2), 0.8)
    warm = rng.uniform(0.0, 0.08)
    return Lights(
        directions=(key, fill),
        colors=((1.0, 1.0 - warm, 1.0 - 2 * warm), (1.0 - warm, 1.0 - 0.5 * warm, 1.0)),
        diffuse=(rng.uniform(0.65, 0.85), rng.uniform(0.2, 0.4)),
        ambient=rng.uniform(0.18, 0.28),
        specular=rng.uniform(0.06, 0.16),
        wrap=SKIN_WRAP,
    )


EXPOSURE_TARGET = 0.45  # sRGB grey that a camera's exposure meters a face towards
# How far (in log luminance) the exposure brings a face towards EXPOSURE_TARGET: 0 is a fixed
# camera (skin photographs at its own lightness), 1 a camera that meters every face to the
# same grey. A quarter keeps three quarters of the skin's own spread, so light skin reads light
# and dark skin dark, while a very dark face is not rendered near black.
EXPOSURE_METERING = 0.25


def exposure(skin_rgb) -> float:
    """The exposure gain (on linear light) a camera gives a face of this skin colour (sRGB):
    ``EXPOSURE_METERING`` of the way (in log luminance) towards ``EXPOSURE_TARGET``."""
    y = float(np.dot(srgb_to_linear(skin_rgb), [0.2126, 0.7152, 0.0722]))
    return float(np.clip((float(srgb_to_linear(EXPOSURE_TARGET)) / max(y, 1e-4)) ** EXPOSURE_METERING, 0.25, 8.0))


@dataclass(frozen=True)
class Person:
    """One identity before any expression: its neutral mesh (hair included) and its look."""

    age: float
    neutral: np.ndarray  # (V, 3) float32
    appearance: Appearance
    colors: np.ndarray  # (V, 3) float32 albedo
    gloss: np.ndarray  # (V,) float32 share of the lights' highlight (texture.vertex_gloss)
    background: np.ndarray  # (size, size, 3) uint8
    lights: Lights


def sample_person(model: FaceModel, template: Mesh, demo: Demographics, size: int, rng: np.random.Generator) -> Person:
    """Draw an identity of ``demo``: age, face shape, appearance, hair, backdrop and lights.

    The one place that turns a generator stream into a person (the dataset and the Space both
    call it, so the same seed gives the same face everywhere).
    """
    age = demo.sample_age(rng)
    shape = model.sample_shape(rng)
    bare = model.identity(shape, age=age, gender=demo.gender_value, ethnicity=demo.ethnicity)
    app = sample_appearance(demo, age, rng)
    landmarks = model.landmarks(bare)
    hair = hair_layer(template.with_vertices(bare), landmarks, skin_mask(model), app.hair_style)
    neutral = (bare + hair.offsets).astype(np.float32)
    mesh = template.with_vertices(neutral)
    colors = vertex_albedo(mesh, landmarks, app, hair)
    bg = background(size, rng)
    gloss = vertex_gloss(mesh)
    return Person(age, neutral, app, colors, gloss, bg, sample_lights(rng).exposed(exposure(app.skin_rgb)))


def identity_name(index: int) -> str:
    return f"id_{index:05d}"


class Generator:
    """Generates identities for a config; ``generator.identity(i)`` is deterministic.

    appearance_backend: optional ``AppearanceBackend`` (e.g. ``generation.diffusion.
    DiffusionAppearance``) replacing the procedural texture, lights or backdrop; None keeps
    the procedural CPU path, byte for byte.
    """

    def __init__(
        self,
        config: GenerationConfig,
        model: FaceModel | None = None,
        appearance_backend: AppearanceBackend | None = None,
    ) -> None:
        self.config = config
        self.appearance_backend = appearance_backend
        self.model = model if model is not None else build_face_model(config)
        self.template: Mesh = self.model.template()
        self.rig = AURig(self.model)
        self.parts = parts_from_components(self.template.components, len(self.template.vertices))
        self.demographics = balanced_demographics(config.identities, config.seed, config.weights)
        lo, hi = config.pspi_range
        n_pain = config.identities * config.expressions
        targets = sample_pspi_targets(n_pain, np.random.default_rng([config.seed, 2**31]), lo, hi)
        self.pspi_targets = targets.reshape(config.identities, config.expressions)
        self.cameras = [
            PerspectiveCamera(
                yaw_deg=yaw,
                pitch_deg=config.pitch,
                distance=config.camera_distance,
                fov_deg=config.fov_deg,
                image_size=config.size,
                target=(0.0, -28.0, 40.0),
            )
            for yaw in config.views
        ]

    def expression_aus(self, index: int, rng: np.random.Generator) -> list[tuple[dict, dict]]:
        """(pain AUs, distractor AUs) per expression; expression 0 is the neutral face."""
        cfg = self.config
        out: list[tuple[dict, dict]] = [({k: 0 for k in PAIN_CODES}, {})]
        for e in range(cfg.expressions):
            if cfg.fixed_aus is not None:
                pain = {k: cfg.fixed_aus.get(k, 0) for k in PAIN_CODES}
                dis = {k: v for k, v in cfg.fixed_aus.items() if k in DISTRACTOR_CODES}
            else:
                pain = sample_aus_for_pspi(int(self.pspi_targets[index, e]), rng)
                dis = {}
            if cfg.distractor_probability > 0:
                drawn = sample_distractors(rng, probability=cfg.distractor_probability)
                dis = {**drawn, **dis}
            out.append((pain, ensure_movement(pain, dis, rng)))
        return out

    def identity(self, index: int) -> IdentityResult:
        """Render the neutral face and every pain expression of identity ``index`` in all views."""
        cfg = self.config
        if not 0 <= index < cfg.identities:
            raise IndexError(f"identity {index} is outside 0..{cfg.identities - 1}")
        rng = np.random.default_rng([cfg.seed, index])
        demo = self.demographics[index]
        person = sample_person(self.model, self.template, demo, cfg.size, rng)
        age, neutral, app, bg, lights = person.age, person.neutral, person.appearance, person.background, person.lights
        shading = {"vertex_colors": person.colors, "vertex_gloss": person.gloss}
        backend, extras = None, {}
        if self.appearance_backend is not None:
            brng = np.random.default_rng([cfg.seed, index, BACKEND_STREAM])
            backend = self.appearance_backend(neutral, self.template.faces, demo, age, brng)
            if backend.texture is not None:
                shading = {"uvs": backend.uvs, "texture": backend.texture, "vertex_gloss": person.gloss}
            lights = backend.lights or lights
            extras = backend.extras
        renderer = make_renderer(cfg.renderer, lights, cfg.ssaa, cfg.device)
        bound = self.rig.bind(neutral)
        name = identity_name(index)
        frames, meshes = [], []
        expressions = self.expression_aus(index, rng)
        for e, (pain, dis) in enumerate(expressions):
            meshes.append(bound.pose({**pain, **dis}) if e else neutral)
        attrs = [{"disp": vertex_displacement(neutral, posed)} if e else None for e, posed in enumerate(meshes)]
        # All expressions x views in one call: a GPU backend renders them as one batch.
        outs = renderer.render_batch(meshes, self.template.faces, self.cameras, **shading, background=bg, extra_attrs=attrs)
        for e, (pain, dis) in enumerate(expressions):
            for j, cam in enumerate(self.cameras):
                out = next(outs)
                image = out.rgb
                if backend is not None and backend.finish is not None:
                    image = backend.finish(out.rgb, out.mask, j, e)
                heat = direction = None
                if e:
                    hm = heatmap_from_maps(out.attrs["disp"], cam.rotation_translation()[0], cfg.heatmap_scale_mm)
                    heat, direction = hm.heat, hm.direction
                frames.append(
                    Frame(
                        identity=name,
                        expression=e,
                        view=j,
                        yaw=float(cam.yaw_deg),
                        pitch=float(cam.pitch_deg),
                        image=image,
                        heat=heat,
                        direction=direction,
                        aus={k: float(v) for k, v in pain.items()},
                        distractor_aus={k: float(v) for k, v in dis.items()},
                        pspi=float(pspi(pain)),
                        demographics=demo,
                        age=float(age),
                        seed=cfg.seed,
                        appearance=app,
                        extras=dict(extras),
                    )
                )
        albedo, uvs, texture = person.colors, None, None
        if "texture" in shading:
            uvs, texture = shading["uvs"], np.asarray(shading["texture"])
            albedo = texture_albedo(uvs, texture).astype(np.float32) / 255.0
        return IdentityResult(index, name, frames, meshes, self.template.faces, albedo, uvs, texture, self.parts)
