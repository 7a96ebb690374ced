"""pain3d Space: create synthetic pain faces with exact FACS AUs, and assess pain with ViTPain.

    python spaces/app.py                              # model: $PAIN3D_MODEL, else spaces/model/
    python spaces/app.py --model runs/student/best    # any save_pretrained folder or Hub id
    PAIN3D_MODEL=user/vitpain python spaces/app.py --port 7861

Generate tab: the AU sliders pose a cached identity (neutral mesh, colours, bound rig and the
neutral renders are built once per (seed, demographics, size)), so a slider change only
re-poses the mesh and renders three views (tens of milliseconds at 256x256 on one CPU core).

Assess tab: the upload is decoded defensively (corrupt files, huge images, 16-bit, grayscale,
alpha), the largest face is found with dlib's HOG frontal face detector (CPU, no model file to
download) and cropped with the framing of the generator's own frames, then ViTPain predicts the
PSPI class probabilities, the expected PSPI, six AU intensities and the AU query attention maps.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

HERE = Path(__file__).resolve().parent
# Run from a checkout (`python spaces/app.py`) or from a Space repository that holds copies of
# `generation/` and `vitpain_hf/` next to this file.
for _p in (HERE, HERE.parent):
    if (_p / "generation").is_dir() and str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from generation.demographics import AGE_GROUPS, ETHNICITIES, GENDERS, Demographics  # noqa: E402
from generation.facs import ALL_AUS, DISTRACTOR_CODES, PAIN_CODES, AUValueError, pspi, validate_aus  # noqa: E402
from generation.heatmaps import DEFAULT_SCALE_MM, heatmap_from_maps, overlay, vertex_displacement  # noqa: E402
from generation.pipeline import GenerationConfig  # noqa: E402
from vitpain_hf.face_crop import FaceCropper  # noqa: E402

MODEL_ENV = "PAIN3D_MODEL"
DEFAULT_MODEL_DIR = HERE / "model"
EXAMPLES_DIR = HERE / "examples"
BUILD_MODEL_COMMAND = "make space-model"
VIEWS = (-30.0, 0.0, 30.0)
SIZES = (128, 192, 256, 384)
DEFAULT_SIZE = 256
MESH_COLORS = ("albedo", "heatmap")  # the 3D view's colour modes
MESH_GAP_S = 1.5  # the shortest time between two GLBs sent to one browser session (see Pacer)
SEED_MAX = 2**31 - 1
CACHE_SIZE = 16  # identities kept (each ~2 MB of arrays plus its neutral renders)
# Uploads: decoded at most this big (longest side), detected at most DETECT_SIDE.
MAX_PIXELS = 80_000_000  # refuse larger non-JPEG images (JPEG decodes downscaled, any size)
MAX_SIDE = 1024
MIN_SIDE = 32
CROP_DISPLAY = 256
DEFAULT_PAIN = {"AU4": 3, "AU6": 2, "AU7": 2, "AU9": 0, "AU10": 3, "AU43": 0}  # PSPI 8
# The Generate API's parameters, in the order of its inputs, with their defaults (the UI's):
# AU intensities are whole numbers (FACS A-E = 1-5), AU43 a boolean, size a string choice.
CONTROLS = (
    *((code, bool(v) if code == "AU43" else v) for code, v in DEFAULT_PAIN.items()),
    *((code, 0) for code in DISTRACTOR_CODES),
    ("age_group", AGE_GROUPS[0]), ("gender", GENDERS[1]), ("ethnicity", ETHNICITIES[0]), ("seed", 0),
    ("size", str(DEFAULT_SIZE)),
)
AU_NAMES = {code: ALL_AUS[code].name for code in ALL_AUS}
PSPI_FORMULA = "AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43"


# ---------------------------------------------------------------------------------- Generate


def _num(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:g}"


def pspi_formula(aus: dict[str, float]) -> str:
    """'PSPI = 3 + max(2, 1) + max(0, 4) + 1 = 10' for the given pain AUs (missing ones are 0)."""
    a = {code: float(aus.get(code, 0.0)) for code in PAIN_CODES}
    total = pspi(a)
    return (
        f"PSPI = {_num(a['AU4'])} + max({_num(a['AU6'])}, {_num(a['AU7'])}) + "
        f"max({_num(a['AU9'])}, {_num(a['AU10'])}) + {_num(a['AU43'])} = {_num(total)}"
    )


@dataclass
class Identity:
    """Everything about one face that the AU sliders do not change."""

    key: tuple
    demographics: Demographics
    age: float
    appearance: Any
    neutral: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    gloss: np.ndarray
    background: np.ndarray
    renderer: Any
    cameras: list
    bound: Any
    neutral_images: list[np.ndarray] = field(default_factory=list)
    parts: tuple = ()


class FaceFactory:
    """Builds identities like ``generation.pipeline.Generator`` and caches them (LRU, thread-safe).

    Identity ``seed`` uses the generator's stream for identity 0 of ``--seed SEED``
    (``default_rng([seed, 0])``), with the demographics chosen in the UI.
    """

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        from generation.head import BuiltinHead
        from generation.rig import AURig

        from generation.mesh_asset import parts_from_components

        self.model = BuiltinHead()
        self.template = self.model.template()
        self.parts = parts_from_components(self.template.components, len(self.template.vertices))
        self.rig = AURig(self.model)
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, Identity] = OrderedDict()
        self._lock = threading.Lock()
        self.builds = 0

    def identity(self, seed: int, demo: Demographics, size: int) -> Identity:
        key = (int(seed), demo.age_group, demo.gender, demo.ethnicity, int(size))
        with self._lock:
            ident = self._cache.get(key)
            if ident is not None:
                self._cache.move_to_end(key)
                return ident
        ident = self._build(key, demo)  # outside the lock: other sessions keep rendering
        with self._lock:
            self._cache[key] = ident
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return ident

    def _build(self, key: tuple, demo: Demographics) -> Identity:
        from generation.pipeline import sample_person
        from generation.render import MeshRenderer, PerspectiveCamera

        seed, size = key[0], key[-1]
        cfg = GenerationConfig(identities=1, expressions=1, views=VIEWS, size=size, seed=seed)
        rng = np.random.default_rng([seed, 0])  # the pipeline's stream for identity 0
        person = sample_person(self.model, self.template, demo, size, rng)
        age, app, neutral, colors, bg = person.age, person.appearance, person.neutral, person.colors, person.background
        renderer = MeshRenderer(lights=person.lights, ssaa=cfg.ssaa)
        cameras = [
            PerspectiveCamera(yaw_deg=yaw, pitch_deg=cfg.pitch, distance=cfg.camera_distance,
                              fov_deg=cfg.fov_deg, image_size=size, target=(0.0, -28.0, 40.0))
            for yaw in VIEWS
        ]
        ident = Identity(key, demo, age, app, neutral, self.template.faces, colors, person.gloss, bg, renderer, cameras,
                         self.rig.bind(neutral), parts=self.parts)
        for cam in cameras:
            ident.neutral_images.append(
                renderer((neutral, ident.faces), cam, vertex_colors=colors, vertex_gloss=person.gloss, background=bg).rgb
            )
        with self._lock:
            self.builds += 1
        return ident


@dataclass
class Sample:
    identity: Identity
    aus: dict[str, float]  # the six pain AUs
    distractors: dict[str, float]
    pspi: float
    formula: str
    pain_images: list[np.ndarray]
    heats: list[np.ndarray]
    overlays: list[np.ndarray]
    timings: dict[str, float]
    posed: np.ndarray | None = None  # (V, 3) the pain mesh
    heat: np.ndarray | None = None  # (V,) heat per vertex (displacement / scale, clipped to [0, 1])


def pose_sample(factory: FaceFactory, aus: dict[str, float], distractors: dict[str, float],
                demo: Demographics, seed: int, size: int = DEFAULT_SIZE, render: bool = True) -> Sample:
    """Pose the (cached) identity with the AUs; ``render``: and render the pain face in every
    view (else the Sample holds the mesh and its heat only, for the 3D view)."""
    t0 = time.perf_counter()
    pain = {code: float(aus.get(code, 0.0)) for code in PAIN_CODES}
    dis = {code: float(v) for code, v in distractors.items() if float(v)}
    validate_aus({**pain, **dis})
    ident = factory.identity(seed, demo, size)
    t1 = time.perf_counter()
    posed = ident.bound.pose({**pain, **dis})
    disp = vertex_displacement(ident.neutral, posed)
    images, heats, overlays = [], [], []
    cameras = ident.cameras if render else []
    for cam in cameras:
        out = ident.renderer((posed, ident.faces), cam, vertex_colors=ident.colors, vertex_gloss=ident.gloss,
                             background=ident.background, extra_attrs={"disp": disp})
        heat = heatmap_from_maps(out.attrs["disp"], cam.rotation_translation()[0], DEFAULT_SCALE_MM).heat
        images.append(out.rgb)
        heats.append(heat)
        overlays.append(overlay(out.rgb, heat))
    t2 = time.perf_counter()
    return Sample(ident, pain, dis, float(pspi(pain)), pspi_formula(pain), images, heats, overlays,
                  {"identity": t1 - t0, "pose_render": t2 - t1}, posed,
                  np.clip(disp[:, 0] / DEFAULT_SCALE_MM, 0.0, 1.0))


def render_sample(factory: FaceFactory, aus: dict[str, float], distractors: dict[str, float],
                  demo: Demographics, seed: int, size: int = DEFAULT_SIZE) -> Sample:
    """Pose the (cached) identity with the AUs and render the pain face in every view."""
    return pose_sample(factory, aus, distractors, demo, seed, size)


def sample_asset(s: Sample, colors: str = "albedo"):
    """The posed head as a ``generation.mesh_asset.HeadAsset``: albedo, or the heatmap over it
    (``colors="heatmap"``), the parts and the labels."""
    from generation.mesh_asset import HeadAsset, albedo_uint8, mesh_labels

    ident = s.identity
    albedo = albedo_uint8(ident.colors)
    if colors == "heatmap":
        albedo = overlay(albedo, s.heat, alpha=1.0)
    labels = mesh_labels(f"space_s{ident.key[0]}", 1, "builtin", s.aus, s.distractors)
    return HeadAsset(s.posed, ident.faces, albedo, ident.parts, metadata=labels)


def _strip(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Views side by side with a thin white gap."""
    h = images[0].shape[0]
    sep = np.full((h, gap, 3), 255, np.uint8)
    parts = []
    for i, im in enumerate(images):
        parts += ([sep] if i else []) + [im]
    return np.concatenate(parts, axis=1)


def sample_labels(s: Sample) -> dict:
    ident = s.identity
    return {
        "aus": s.aus,
        "distractor_aus": s.distractors,
        "pspi": int(s.pspi),
        "pspi_formula": s.formula,
        "seed": ident.key[0],
        "age_group": ident.demographics.age_group,
        "gender": ident.demographics.gender,
        "ethnicity": ident.demographics.ethnicity,
        "age": round(ident.age, 4),
        "skin_tone": round(ident.appearance.skin_tone, 3),
        "size": ident.key[-1],
        "views_yaw_deg": list(VIEWS),
        "heatmap_scale_mm": DEFAULT_SCALE_MM,
        "max_heat_per_view": [round(float(h.max()), 4) for h in s.heats],
    }


def _parse_controls(values: list) -> tuple[dict, dict, Demographics, int, int, list[str]]:
    """UI values -> (pain AUs, distractor AUs, demographics, seed, size, notes)."""
    au4, au6, au7, au9, au10, au43, au1, au2, au12, au15, au25, au26, age_group, gender, ethnicity, seed, size = values
    notes = []

    def level(v, code):
        try:
            x = float(v if v is not None else 0.0)
        except (TypeError, ValueError):
            raise AUValueError(f"{code} must be a number from 0 to 5, got {v!r}") from None
        if not np.isfinite(x):
            raise AUValueError(f"{code} must be a number from 0 to 5, got {v!r}")
        if not x.is_integer():  # FACS intensities are levels A-E (1-5); PSPI labels stay integers
            raise AUValueError(f"{code} must be a whole number from 0 to 5 (FACS levels A-E are 1-5), got {v!r}")
        return x

    def closed(v):
        if isinstance(v, bool) or v is None:
            return float(bool(v))
        x = level(v, "AU43")
        if x not in (0.0, 1.0):
            raise AUValueError(f"AU43 (eyes closed) must be 0 or 1, got {v!r}")
        return x

    pain = {"AU4": level(au4, "AU4"), "AU6": level(au6, "AU6"), "AU7": level(au7, "AU7"),
            "AU9": level(au9, "AU9"), "AU10": level(au10, "AU10"), "AU43": closed(au43)}
    dis = {"AU1": level(au1, "AU1"), "AU2": level(au2, "AU2"), "AU12": level(au12, "AU12"),
           "AU15": level(au15, "AU15"), "AU25": level(au25, "AU25"), "AU26": level(au26, "AU26")}
    def choice(v, choices, name):
        if v is None or v == "":
            return choices[0]
        if not isinstance(v, str) or v not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}; got {v!r}")
        return v

    demo = Demographics(choice(age_group, AGE_GROUPS, "Age group"), choice(gender, GENDERS, "Gender"),
                        choice(ethnicity, ETHNICITIES, "Ethnicity"))
    try:
        seed_i = int(round(float(seed))) if seed is not None else 0
    except (TypeError, ValueError, OverflowError):
        notes.append(f"seed {seed!r} is not a number; using 0")
        seed_i = 0
    if not 0 <= seed_i <= SEED_MAX:
        notes.append(f"seed must be 0..{SEED_MAX}; using {min(max(seed_i, 0), SEED_MAX)}")
        seed_i = min(max(seed_i, 0), SEED_MAX)
    try:
        size_i = int(size) if size is not None else DEFAULT_SIZE
    except (TypeError, ValueError, OverflowError):
        size_i = -1
    if size_i not in SIZES or (isinstance(size, float) and not size.is_integer()):
        notes.append(f"size {size!r} is not one of {SIZES}; using {DEFAULT_SIZE}")
        size_i = DEFAULT_SIZE
    return pain, dis, demo, seed_i, size_i, notes


def pspi_markdown(s: Sample) -> str:
    letters = {0: "0", 1: "A", 2: "B", 3: "C", 4: "D", 5: "E"}
    au_list = ", ".join(
        f"{c} {_num(v)}" + (f" ({letters[int(v)]})" if c != "AU43" and float(v).is_integer() and v else "")
        for c, v in s.aus.items() if v
    ) or "none"
    dis = ", ".join(f"{c} {_num(v)}" for c, v in s.distractors.items()) or "none"
    return (
        f"### PSPI {_num(s.pspi)} / 16\n"
        f"`{s.formula}`\n\n"
        f"PSPI = {PSPI_FORMULA}. Active pain AUs: {au_list}. Distractor AUs (not in PSPI): {dis}."
    )


# ---------------------------------------------------------------------------------- Assess


class UploadError(ValueError):
    """An upload that cannot be assessed; the message is shown to the user."""


def _payload_path(payload: Any) -> str | None:
    if payload is None:
        return None
    if isinstance(payload, (str, os.PathLike)):
        return os.fspath(payload)
    if isinstance(payload, dict):
        return payload.get("path") or None
    return getattr(payload, "path", None)


def load_upload(payload: Any) -> tuple[Image.Image, list[str]]:
    """Decode an upload (path, Gradio file payload, PIL image or array) to an RGB PIL image.

    Huge images are downscaled to MAX_SIDE; grayscale, 16-bit, palette, CMYK and alpha images are
    converted; anything unreadable raises UploadError with a message for the user.
    """
    notes: list[str] = []
    if payload is None:
        raise UploadError("Upload a face image (or pick an example below) to assess it.")
    if isinstance(payload, np.ndarray):
        arr = payload
        if arr.ndim not in (2, 3) or arr.size == 0:
            raise UploadError(f"That array (shape {arr.shape}) is not an image.")
        if arr.dtype != np.uint8:
            arr = _to_uint8(arr.astype(np.float32))
        img = Image.fromarray(arr if arr.ndim == 2 or arr.shape[2] in (3, 4) else arr[..., 0])
    elif isinstance(payload, Image.Image):
        img = payload
    else:
        path = _payload_path(payload)
        if not path or not os.path.isfile(path):
            raise UploadError("The upload did not arrive; please try again.")
        if os.path.getsize(path) == 0:
            raise UploadError("That file is empty. Please upload a JPEG, PNG or WebP image of a face.")
        try:
            img = Image.open(path)
            if img.format == "JPEG" and max(img.size) > MAX_SIDE:
                img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # DCT-domain downscale: any size decodes cheaply
            elif img.size[0] * img.size[1] > MAX_PIXELS:
                raise UploadError(
                    f"That image is {img.size[0]}x{img.size[1]} pixels, too large to decode here; "
                    f"please downscale it (e.g. to {MAX_SIDE} px) and try again."
                )
            img.load()
        except UploadError:
            raise
        except Image.DecompressionBombError:
            raise UploadError("That image is far too large to decode safely; please downscale it and try again.") from None
        except (UnidentifiedImageError, SyntaxError):
            raise UploadError(
                "That file is not an image this app can read. Please upload a JPEG, PNG or WebP photo of a face."
            ) from None
        except (OSError, ValueError) as err:
            raise UploadError(f"That image file is damaged or truncated ({err}). Please upload another one.") from None
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # a bad EXIF block: keep the pixels as stored
        pass
    if img.size[0] > MAX_SIDE or img.size[1] > MAX_SIDE:
        notes.append(f"downscaled from {img.size[0]}x{img.size[1]}")
        img = img.copy()
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    mode = img.mode
    try:
        if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            img = Image.fromarray(_to_uint8(np.asarray(img, dtype=np.float32))).convert("RGB")
            notes.append(f"{mode} high-bit-depth image rescaled to 8 bits")
        elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba).convert("RGB")
            notes.append("transparency flattened onto white")
        elif mode != "RGB":
            img = img.convert("RGB")
            if mode in ("L", "1"):
                notes.append("grayscale image")
    except (OSError, ValueError) as err:
        raise UploadError(f"Cannot convert a {mode} image to RGB ({err}); please upload an RGB image.") from None
    if min(img.size) < MIN_SIDE:
        raise UploadError(f"That image is only {img.size[0]}x{img.size[1]} pixels; please upload one at least {MIN_SIDE} px on each side.")
    return img, notes


def _to_uint8(a: np.ndarray) -> np.ndarray:
    a = np.nan_to_num(a.astype(np.float32))
    lo, hi = float(a.min()), float(a.max())
    return np.zeros(a.shape, np.uint8) if hi <= lo else ((a - lo) / (hi - lo) * 255 + 0.5).astype(np.uint8)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(HERE.parent))
    except ValueError:
        return str(path)


def load_model(spec: str | None) -> tuple[Any, str]:
    """(model or None, a line describing what was loaded or why not)."""
    explicit = spec or os.environ.get(MODEL_ENV) or None
    target = explicit or str(DEFAULT_MODEL_DIR)
    if not explicit and not (DEFAULT_MODEL_DIR / "config.json").is_file():
        return None, (
            f"No ViTPain model is loaded: the default checkpoint `{_shown(DEFAULT_MODEL_DIR)}/` "
            f"has not been built yet. Build it with `{BUILD_MODEL_COMMAND}` (trains the small ViTPain recipe on "
            f"generated data), or start the app with `--model DIR_OR_HUB_ID` or `{MODEL_ENV}=DIR_OR_HUB_ID`."
        )
    looks_local = target.startswith(("/", ".", "~")) or target.count("/") > 1 or os.path.exists(target)
    if looks_local and not (Path(target).expanduser() / "config.json").is_file():
        return None, (
            f"Could not load the ViTPain model `{target}`: no such model folder (it needs config.json and "
            f"model.safetensors from `save_pretrained`). Build the default with `{BUILD_MODEL_COMMAND}`."
        )
    try:
        import torch  # noqa: F401

        from vitpain_hf import ViTPainModel

        model = ViTPainModel.from_pretrained(str(Path(target).expanduser()) if looks_local else target)
        model.eval()
        processor = model._default_processor()
    except Exception as err:  # a bad path/id must not take the Generate tab down
        return None, (f"Could not load the ViTPain model `{target}`: {type(err).__name__}: {err}. "
                      f"Build the default with `{BUILD_MODEL_COMMAND}`.")
    model.space_processor = processor
    cfg = model.config
    h, w = cfg.image_size
    desc = (
        f"Model `{target}`: ViTPain, {cfg.modality} input {h}x{w}, {cfg.num_pspi_classes} PSPI classes, "
        f"AUs {', '.join(cfg.au_names)}" + (", uses a neutral reference" if cfg.use_reference else "")
    )
    return model, desc


def attention_overlays(face: Image.Image, maps: np.ndarray | None, names: list[str]) -> list[tuple[np.ndarray, str]]:
    """One (overlay image, caption) per AU: its query's attention over patches, on the face."""
    if maps is None:
        return []
    base = np.asarray(face.resize((CROP_DISPLAY, CROP_DISPLAY), Image.Resampling.BILINEAR))
    out = []
    for m, name in zip(maps, names):
        m = np.asarray(m, np.float32)
        m = (m - m.min()) / max(float(m.max() - m.min()), 1e-8)
        up = np.asarray(Image.fromarray(m).resize((CROP_DISPLAY, CROP_DISPLAY), Image.Resampling.BICUBIC), np.float32)
        out.append((overlay(base, np.clip(up, 0, 1), alpha=0.7), f"{name} ({AU_NAMES.get(name, 'attention')})"))
    return out


@dataclass
class Assessment:
    ok: bool
    message: str
    face: Image.Image | None = None
    result: dict | None = None
    notes: list[str] = field(default_factory=list)


class Assessor:
    def __init__(self, model: Any, model_info: str, cropper: FaceCropper | None = None) -> None:
        self.model = model
        self.model_info = model_info
        self.cropper = cropper or FaceCropper()

    def face_of(self, payload: Any, whole_image: bool, what: str = "image") -> tuple[Image.Image, list[str]]:
        img, notes = load_upload(payload)
        if whole_image or not self.cropper.available:
            if not self.cropper.available and not whole_image:
                notes.append("face detector unavailable (install dlib-bin): using the whole image")
            return img, notes
        boxes = self.cropper.detect(img)
        if not boxes:
            raise UploadError(
                f"No face was found in the {what}. Try a clearer, roughly frontal photo where the face is at "
                "least ~80 pixels wide, or tick 'Use the whole image' if it is already a face crop."
            )
        if len(boxes) > 1:
            notes.append(f"{len(boxes)} faces found; assessing the largest")
        return FaceCropper.crop(img, boxes[0]), notes

    def __call__(self, image: Any, reference: Any = None, whole_image: bool = False) -> Assessment:
        try:
            face, notes = self.face_of(image, whole_image)
        except UploadError as err:
            return Assessment(False, str(err))
        if self.model is None:
            return Assessment(False, self.model_info, face=face, notes=notes)
        ref_face = None
        if self.model.config.use_reference:
            if reference is None:
                notes.append("this model compares with a neutral reference; none was given, so the image is its own reference")
                ref_face = face
            else:
                try:
                    ref_face, ref_notes = self.face_of(reference, whole_image, what="reference image")
                except UploadError as err:
                    return Assessment(False, f"Reference image: {err}", face=face, notes=notes)
                notes += [f"reference: {n}" for n in ref_notes]
        elif reference is not None:
            notes.append("the loaded model does not use a neutral reference; the reference image was ignored")
        try:
            # face_crop=False: `face_of` already cropped (with the notes above), or the user chose the whole image.
            res = self.model.predict([face], self.model.space_processor, face_crop=False,
                                     reference_images=None if ref_face is None else [ref_face])[0]
        except Exception as err:  # report, never crash the worker
            return Assessment(False, f"The model failed on this image: {type(err).__name__}: {err}", face=face, notes=notes)
        return Assessment(True, "ok", face=face, result=res, notes=notes)


def assessment_markdown(a: Assessment) -> str:
    r = a.result
    probs = np.asarray(r["pspi_probs"])
    top = np.argsort(-probs)[:3]
    rows = "\n".join(
        f"| {name} | {AU_NAMES.get(name, '')} | {v:.2f} |" for name, v in r["au_intensities"].items()
    )
    return (
        f"### Expected PSPI {r['expected_pspi']:.2f} / 16\n"
        f"Most likely PSPI class: **{r['pspi']}** (p = {probs[r['pspi']]:.2f}); "
        f"top 3: {', '.join(f'{k} ({probs[k]:.2f})' for k in top)}.\n\n"
        f"| AU | name | intensity (0-5) |\n|---|---|---|\n{rows}"
    )


# ---------------------------------------------------------------------------------- examples


def make_examples(out_dir: Path, factory: FaceFactory | None = None) -> list[tuple[str, str | None]]:
    """Write example faces made by the generator (pain frame + its neutral) and a face-less image."""
    from generation.texture import background

    factory = factory or FaceFactory()
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = [  # (seed, demographics, pain AUs, distractor AUs, view index)
        (3, Demographics("young", "woman", "East Asian"), {"AU4": 4, "AU6": 3, "AU7": 4, "AU9": 2, "AU10": 3, "AU43": 1}, {}, 1),
        (11, Demographics("elderly", "man", "White"), {"AU4": 2, "AU6": 1, "AU7": 2, "AU10": 1}, {}, 1),
        (5, Demographics("young", "man", "Black"), {"AU4": 5, "AU6": 4, "AU7": 5, "AU9": 4, "AU10": 5, "AU43": 1}, {}, 2),
        (8, Demographics("elderly", "woman", "South Asian"), {}, {"AU12": 4, "AU25": 2}, 2),  # a smile: PSPI 0
    ]
    pairs = []
    for seed, demo, aus, dis, view in specs:
        s = render_sample(factory, aus, dis, demo, seed, 256)
        tag = f"seed{seed}_{demo.age_group}_{demo.gender}_{demo.ethnicity.replace(' ', '-')}".lower()
        pain = out_dir / f"pspi{int(s.pspi):02d}_{tag}.jpg"
        neutral = out_dir / f"neutral_{tag}.jpg"
        Image.fromarray(s.pain_images[view]).save(pain, quality=90)
        Image.fromarray(s.identity.neutral_images[view]).save(neutral, quality=90)
        pairs.append((str(pain), str(neutral)))
    noface = out_dir / "no_face.jpg"
    Image.fromarray(background(256, np.random.default_rng(1))).save(noface, quality=90)
    pairs.append((str(noface), None))
    return pairs


def example_pairs(factory: FaceFactory) -> list[tuple[str, str | None]]:
    """Shipped examples (spaces/examples), else freshly generated ones in a temporary folder."""
    pain = sorted(EXAMPLES_DIR.glob("pspi*.jpg"))
    if pain:
        pairs = []
        for p in pain:
            n = p.with_name("neutral_" + p.name.split("_", 1)[1])
            pairs.append((str(p), str(n) if n.is_file() else None))
        if (EXAMPLES_DIR / "no_face.jpg").is_file():
            pairs.append((str(EXAMPLES_DIR / "no_face.jpg"), None))
        return pairs
    return make_examples(Path(tempfile.mkdtemp(prefix="pain3d-examples-")), factory)


# ---------------------------------------------------------------------------------- UI


class ImageFiles:
    """Writes output images to unique files for Gradio to copy into its cache.

    Returning arrays makes Gradio 6.31 encode them to a content-hashed cache path and rewrite that
    file in place (``save_pil_to_cache``), so two sessions producing the same image at once (e.g.
    the same default sliders) can serve a half-written file. A file path is instead copied into
    the cache under a temporary name and renamed (``save_file_to_cache``): no torn reads.
    Files older than ``max_age_s`` are removed (Gradio has its own copy by then).
    """

    def __init__(self, max_age_s: float = 300.0) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pain3d-space-img-"))
        self.max_age_s = max_age_s
        self._count = 0
        self._lock = threading.Lock()
        self._last_prune = time.time()

    def write(self, img: np.ndarray | Image.Image, fmt: str = "jpeg") -> str:
        pil = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img))
        with self._lock:
            self._count += 1
            n = self._count
        ext = "jpg" if fmt == "jpeg" else fmt
        path = self.dir / f"{os.getpid()}_{threading.get_ident()}_{n}.{ext}"
        pil.save(path, format=fmt.upper(), **({"quality": 92} if fmt == "jpeg" else {"compress_level": 1}))
        self._prune()
        return str(path)

    def write_bytes(self, data: bytes, ext: str) -> str:
        """Any file (e.g. a GLB) under a unique name, like ``write``."""
        with self._lock:
            self._count += 1
            n = self._count
        path = self.dir / f"{os.getpid()}_{threading.get_ident()}_{n}.{ext}"
        path.write_bytes(data)
        self._prune()
        return str(path)

    def _prune(self) -> None:
        now = time.time()
        if now - self._last_prune < 30:
            return
        self._last_prune = now
        for f in self.dir.iterdir():
            try:
                if now - f.stat().st_mtime > self.max_age_s:
                    f.unlink()
            except OSError:
                pass


class Pacer:
    """Spaces one session's successive answers from an endpoint at least ``gap_s`` apart.

    Gradio 6.31's Model3D viewer (Babylon) aborts a GLB that is still loading when the next one
    arrives ("New model is being loaded before previous model finished loading") and now and then
    stays blank; sliders moved quickly send a burst of GLBs. ``trigger_mode="always_last"`` keeps
    only the newest request waiting, and this spacing gives the viewer time to finish each load.
    ``clock`` and ``sleep`` are injectable for tests; the oldest sessions are forgotten past
    ``max_sessions``.
    """

    def __init__(self, gap_s: float, clock=time.monotonic, sleep=time.sleep, max_sessions: int = 4096) -> None:
        self.gap_s = gap_s
        self._clock, self._sleep = clock, sleep
        self._max = max_sessions
        self._next: OrderedDict[str, float] = OrderedDict()  # session -> earliest time of its next answer
        self._lock = threading.Lock()

    def wait(self, session: str) -> float:
        """Block until ``session`` may have its next answer; the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next.pop(session, now))
            self._next[session] = start + self.gap_s
            while len(self._next) > self._max:
                self._next.popitem(last=False)
        if start > now:
            self._sleep(start - now)
        return start - now


class App:
    """The Space's functions, independent of the Gradio layout (used by tests and the benchmark).

    ``generate``/``assess`` return arrays and PIL images; the UI binds ``generate_ui``/``assess_ui``,
    which hand Gradio the same images as files (see ImageFiles).
    """

    def __init__(self, model_spec: str | None = None) -> None:
        self.factory = FaceFactory()
        model, info = load_model(model_spec)
        self.assessor = Assessor(model, info)
        self.model_info = info
        self.zip_dir = Path(tempfile.mkdtemp(prefix="pain3d-space-"))
        self.files = ImageFiles()
        self.mesh_pacer = Pacer(MESH_GAP_S)

    # Generate ---------------------------------------------------------------------------------
    def generate(self, *values):
        """Slider/identity change -> (PSPI markdown, neutral strip, pain strip, heatmap strip, labels)."""
        import gradio as gr

        try:
            pain, dis, demo, seed, size, notes = _parse_controls(list(values))
            s = render_sample(self.factory, pain, dis, demo, seed, size)
        except (AUValueError, ValueError) as err:
            gr.Warning(str(err))
            return f"### Cannot render\n{err}", None, None, None, {"error": str(err)}
        for n in notes:
            gr.Info(n)
        labels = sample_labels(s)
        labels["timings_ms"] = {k: round(v * 1000, 1) for k, v in s.timings.items()}
        return (pspi_markdown(s), _strip(s.identity.neutral_images), _strip(s.pain_images),
                _strip(s.overlays), labels)

    def generate_ui(self, *values):
        """The Generate API: the PSPI text, the neutral, pain and heatmap strips (yaw -30, 0, +30)
        as images, and the labels (JSON)."""
        md, neutral, pain, heat, labels = self.generate(*values)
        files = [None if im is None else self.files.write(im) for im in (neutral, pain, heat)]
        return (md, *files, labels)

    def mesh(self, *values):
        """Slider/identity change (+ colour mode last) -> the posed head as GLB bytes, or None
        with a warning when the controls are refused."""
        import gradio as gr

        from generation.mesh_asset import export_asset

        *values, colors = values
        try:
            if colors not in MESH_COLORS:
                raise ValueError(f"colors must be one of {', '.join(MESH_COLORS)}; got {colors!r}")
            pain, dis, demo, seed, size, _ = _parse_controls(list(values))
            s = pose_sample(self.factory, pain, dis, demo, seed, size, render=False)
        except (AUValueError, ValueError) as err:
            gr.Warning(str(err))
            return None
        return export_asset(sample_asset(s, colors), "glb", "head")["head.glb"]

    def mesh_ui(self, *values, request=None):
        """The 3D view: the posed head as a GLB file (albedo or heatmap colours, named parts,
        labels), at most one per ``MESH_GAP_S`` to each session (see ``Pacer``)."""
        data = self.mesh(*values)
        session = getattr(request, "session_hash", None)
        if session:
            self.mesh_pacer.wait(session)
        return None if data is None else self.files.write_bytes(data, "glb")

    def download(self, *values):
        """The current sample as a zip: the dataset's frame files (JPEG, heatmaps, JSON), the
        neutral and pain meshes as GLB, and sample.json; the zip's path."""
        import gradio as gr

        from generation.layout import identity_files
        from generation.pipeline import Frame, IdentityResult

        try:
            pain, dis, demo, seed, size, _ = _parse_controls(list(values))
            s = render_sample(self.factory, pain, dis, demo, seed, size)
        except (AUValueError, ValueError) as err:
            gr.Warning(str(err))
            return None
        ident = s.identity
        name = f"space_s{seed}"
        frames = []
        for e in (0, 1):
            for j, cam in enumerate(ident.cameras):
                frames.append(Frame(
                    identity=name, expression=e, view=j, yaw=float(cam.yaw_deg), pitch=float(cam.pitch_deg),
                    image=ident.neutral_images[j] if e == 0 else s.pain_images[j],
                    heat=None if e == 0 else s.heats[j], direction=None,
                    aus={k: (0.0 if e == 0 else v) for k, v in s.aus.items()},
                    distractor_aus={} if e == 0 else dict(s.distractors),
                    pspi=0.0 if e == 0 else s.pspi, demographics=demo, age=float(ident.age), seed=seed,
                    appearance=ident.appearance,
                ))
        result = IdentityResult(0, name, frames, [ident.neutral, s.posed], ident.faces, ident.colors, parts=ident.parts)
        files = identity_files(result, DEFAULT_SCALE_MM, meshes="glb")
        for j in range(len(ident.cameras)):
            buf = io.BytesIO()
            Image.fromarray(s.overlays[j]).save(buf, format="PNG")
            files[f"{name}_e01_v{j}_overlay.png"] = buf.getvalue()
        files["sample.json"] = (json.dumps(sample_labels(s), indent=1) + "\n").encode()
        stem = f"pain3d_seed{seed}_pspi{int(s.pspi):02d}"
        path = Path(tempfile.mkdtemp(dir=self.zip_dir)) / f"{stem}.zip"  # Gradio copies it to its cache
        self._prune_zips()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for fname, data in files.items():
                zf.writestr(f"{stem}/{fname}", data)
        return str(path)

    def _prune_zips(self, keep: int = 16) -> None:
        def age(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except OSError:  # pruned by a concurrent download
                return 0.0

        for old in sorted(self.zip_dir.iterdir(), key=age)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)

    def assess_ui(self, image, reference=None, whole_image=False):
        status, face, plot, summary, gallery, details = self.assess(image, reference, whole_image)
        face = None if face is None else self.files.write(face, "png")
        gallery = [(self.files.write(im), caption) for im, caption in gallery]
        return status, face, plot, summary, gallery, details

    # Assess -----------------------------------------------------------------------------------
    def assess(self, image, reference=None, whole_image=False):
        """-> (status, face crop, PSPI bar chart data, summary markdown, attention gallery, details)."""
        import gradio as gr
        import pandas as pd

        empty_plot = pd.DataFrame({"PSPI": [], "probability": []})
        if image is None:
            return ("Upload a face image, or pick an example below.", None, empty_plot, "", [], {})
        a = self.assessor(image, reference, bool(whole_image))
        notes = ("\n\n_Notes: " + "; ".join(a.notes) + "._") if a.notes else ""
        if not a.ok:
            if a.face is None or self.assessor.model is not None:
                gr.Warning(a.message)
            face = None if a.face is None else a.face.resize((CROP_DISPLAY, CROP_DISPLAY))
            prefix = "Could not assess:" if a.face is None else "Face found, but no prediction:"
            return (f"**{prefix}** {a.message}{notes}", face, empty_plot, "", [], {"error": a.message})
        r = a.result
        probs = [float(p) for p in r["pspi_probs"]]
        plot = pd.DataFrame({"PSPI": [str(k) for k in range(len(probs))], "probability": probs})
        gallery = attention_overlays(a.face, r["attention_maps"], r["au_names"])
        details = {
            "pspi_probs": probs,
            "pspi": int(r["pspi"]),
            "expected_pspi": float(r["expected_pspi"]),
            "au_intensities": {k: float(v) for k, v in r["au_intensities"].items()},
            "notes": a.notes,
        }
        status = f"**Face found and assessed.**{notes}"
        return (status, a.face.resize((CROP_DISPLAY, CROP_DISPLAY)), plot, assessment_markdown(a), gallery, details)


GENERATE_INTRO = """\
Set FACS Action Unit intensities (0 = absent, 1-5 = A-E) and the face is re-posed and rendered from
three views (yaw -30°, 0°, +30°) with the built-in 3D head. The heatmap shows where the skin moved
(displacement from the neutral face, 10 mm = hottest). The PSPI pain score is computed from the
pain AUs; distractor AUs move the face but do not count. The 3D view shows the posed head itself
(coloured by its skin, or by the heatmap); the zip holds it as GLB files."""

ASSESS_INTRO = """\
Upload a face photo (or pick a generated example). The face is found with dlib's HOG frontal face
detector on the CPU and cropped with the framing of the generator's frames; ViTPain then predicts
the PSPI class probabilities, the expected PSPI, six AU intensities, and where each AU query looks."""


def with_control_names(fn, extra: tuple = (), request: bool = False):
    """``fn(*values)`` under the Generate controls' names and defaults (``CONTROLS`` + ``extra``
    pairs), so the API lists ``AU4``, ..., ``size`` instead of ``param_0``, ... and takes them
    by keyword. ``request=True`` also hands ``fn`` Gradio's request (``request=``; not an API
    parameter), e.g. for its session."""
    import functools
    import inspect

    import gradio as gr

    @functools.wraps(fn)
    def named(*values):
        if request:
            *values, req = values
            return fn(*values, request=req)
        return fn(*values)

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(n, kind, default=d) for n, d in (*CONTROLS, *extra)]
    named.__annotations__ = {}
    if request:
        # Gradio finds its special arguments by the annotation (typing.get_type_hints)
        params.append(inspect.Parameter("request", kind, default=None, annotation=gr.Request))
        named.__annotations__ = {"request": gr.Request}
    named.__signature__ = inspect.Signature(params)
    return named


def build_demo(app: App | None = None, model_spec: str | None = None):
    import gradio as gr

    app = app or App(model_spec)
    app.generate(3, 2, 1, 0, 4, True, 0, 0, 0, 0, 0, 0, AGE_GROUPS[0], GENDERS[1], ETHNICITIES[0], 0, DEFAULT_SIZE)  # JIT warm-up

    # delete_cache: a long-running Space drops rendered images and zips older than an hour.
    with gr.Blocks(title="pain3d: synthetic pain faces and ViTPain", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# pain3d: controllable 3D pain faces and ViTPain pain assessment")
        with gr.Tabs():
            with gr.Tab("Generate", id="generate"):
                gr.Markdown(GENERATE_INTRO)
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        with gr.Group():
                            pain_sliders = [
                                gr.Slider(0, 5, value=v, step=1, precision=0, label=f"{code}: {AU_NAMES[code]}", elem_id=code.lower())
                                for code, v in DEFAULT_PAIN.items() if code != "AU43"
                            ]
                            au43 = gr.Checkbox(value=bool(DEFAULT_PAIN["AU43"]), label="AU43: eyes closed", elem_id="au43")
                        with gr.Accordion("Distractor AUs (move the face, not in PSPI)", open=False):
                            dis_sliders = [
                                gr.Slider(0, 5, value=0, step=1, precision=0, label=f"{code}: {AU_NAMES[code]}", elem_id=code.lower())
                                for code in DISTRACTOR_CODES
                            ]
                        with gr.Group():
                            age = gr.Dropdown(list(AGE_GROUPS), value=AGE_GROUPS[0], label="Age group", elem_id="age_group")
                            gender = gr.Dropdown(list(GENDERS), value=GENDERS[1], label="Gender", elem_id="gender")
                            eth = gr.Dropdown(list(ETHNICITIES), value=ETHNICITIES[0], label="Ethnicity", elem_id="ethnicity")
                            with gr.Row():
                                seed = gr.Number(value=0, precision=0, minimum=0, maximum=SEED_MAX, label="Identity seed", elem_id="seed", scale=3)
                                dice = gr.Button("New identity", scale=1, elem_id="new-identity")
                            size = gr.Radio([str(v) for v in SIZES], value=str(DEFAULT_SIZE), label="Image size (px)", elem_id="size")
                    with gr.Column(scale=2):
                        pspi_md = gr.Markdown(elem_id="pspi")
                        neutral_img = gr.Image(label="Neutral (yaw -30°, 0°, +30°)", format="jpeg", interactive=False, elem_id="neutral")
                        pain_img = gr.Image(label="Pain", format="jpeg", interactive=False, elem_id="pain")
                        heat_img = gr.Image(label="Heatmap overlay (skin displacement, 10 mm = hottest)", format="jpeg", interactive=False, elem_id="heat")
                        head3d = gr.Model3D(label="The posed head in 3D (drag to turn; GLB)", clear_color=(0.93, 0.93, 0.95, 1.0),
                                            camera_position=(90, 90, 700), height=420, elem_id="head3d")
                        mesh_colors = gr.Radio(list(MESH_COLORS), value=MESH_COLORS[0], label="3D colours: skin albedo, or the heatmap over it",
                                               elem_id="mesh-colors")
                        with gr.Row():
                            zip_btn = gr.Button("⬇️ Download this sample (.zip: images, GLB meshes, JSON labels)", elem_id="download-btn")
                            zip_file = gr.File(label="Sample zip", interactive=False, elem_id="download-file")
                        with gr.Accordion("Labels (JSON)", open=False):
                            labels = gr.JSON(elem_id="labels")
                controls = [*pain_sliders, au43, *dis_sliders, age, gender, eth, seed, size]
                gen_outputs = [pspi_md, neutral_img, pain_img, heat_img, labels]
                # preprocess=False: _parse_controls checks raw values, with a message instead of a traceback
                generate_fn = with_control_names(app.generate_ui)
                gr.on(
                    triggers=[c.change for c in controls], fn=generate_fn, inputs=controls, outputs=gen_outputs,
                    api_name="generate", trigger_mode="always_last", show_progress="minimal",
                    concurrency_limit=4, concurrency_id="render", preprocess=False,
                )
                # the 3D view is its own endpoint, so /generate's answer (and latency) stays images + labels
                mesh_fn = with_control_names(app.mesh_ui, (("colors", MESH_COLORS[0]),), request=True)
                gr.on(
                    triggers=[c.change for c in (*controls, mesh_colors)], fn=mesh_fn, inputs=[*controls, mesh_colors],
                    outputs=head3d, api_name="mesh", trigger_mode="always_last", show_progress="hidden",
                    concurrency_limit=4, concurrency_id="mesh", preprocess=False,  # its own: a paced answer waits
                )
                dice.click(lambda: int(np.random.default_rng().integers(0, 100_000)), None, seed, api_visibility="private")
                zip_btn.click(with_control_names(app.download), controls, zip_file, api_name="download",
                              concurrency_id="render", preprocess=False)
                demo.load(generate_fn, controls, gen_outputs, api_visibility="private", concurrency_id="render", preprocess=False)
                demo.load(mesh_fn, [*controls, mesh_colors], head3d, api_visibility="private", concurrency_id="mesh", preprocess=False)

            with gr.Tab("Assess", id="assess"):
                gr.Markdown(ASSESS_INTRO)
                gr.Markdown(app.model_info, elem_id="model-info")
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        image = gr.Image(type="filepath", label="Face image", sources=["upload", "clipboard"], elem_id="assess-input")
                        whole = gr.Checkbox(False, label="Use the whole image (it is already a face crop; skip face detection)")
                        use_ref = app.assessor.model is not None and app.assessor.model.config.use_reference
                        with gr.Accordion("Neutral reference (reference-based ViTPain only)", open=bool(use_ref)):
                            gr.Markdown(
                                "The loaded model " + ("**uses**" if use_ref else "does **not** use")
                                + " a neutral reference face of the same person."
                            )
                            reference = gr.Image(type="filepath", label="Neutral reference (optional)", sources=["upload", "clipboard"], elem_id="assess-reference")
                        run = gr.Button("Assess pain", variant="primary", elem_id="assess-btn")
                        pairs = example_pairs(app.factory)
                        gr.Examples([[p, n] for p, n in pairs], inputs=[image, reference], label="Generated examples (pain frame, neutral reference)")
                    with gr.Column(scale=2):
                        status = gr.Markdown(elem_id="assess-status")
                        with gr.Row():
                            face = gr.Image(label="Face crop (model input)", interactive=False, format="png", elem_id="assess-face")
                            bars = gr.BarPlot(x="PSPI", y="probability", title="PSPI class probabilities", y_lim=[0, 1],
                                              sort=[str(k) for k in range(17)], elem_id="assess-bars")
                        summary = gr.Markdown(elem_id="assess-summary")
                        gallery = gr.Gallery(label="AU query attention (where each AU's query looks)", columns=6, rows=1, height=230, object_fit="contain", elem_id="assess-attention")
                        with gr.Accordion("Raw outputs (JSON)", open=False):
                            details = gr.JSON(elem_id="assess-details")
                assess_in = [image, reference, whole]
                assess_out = [status, face, bars, summary, gallery, details]
                # preprocess=False: the raw upload reaches `assess`, which reports corrupt files
                # itself instead of Gradio's generic error.
                run.click(app.assess_ui, assess_in, assess_out, api_name="assess", preprocess=False,
                          concurrency_limit=2, concurrency_id="model")
                image.change(app.assess_ui, assess_in, assess_out, api_visibility="private", preprocess=False,
                             concurrency_limit=2, concurrency_id="model", trigger_mode="always_last")
    demo.queue(max_size=64, default_concurrency_limit=2)
    demo.pain3d_app = app
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help=f"ViTPain folder or Hub id (default: ${MODEL_ENV}, else {DEFAULT_MODEL_DIR})")
    p.add_argument("--host", default=None, help="server name (default: Gradio's, 127.0.0.1 or $GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860 or $GRADIO_SERVER_PORT)")
    p.add_argument("--make-examples", metavar="DIR", default=None, help="write the example images to DIR and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.make_examples:
        for pair in make_examples(Path(args.make_examples)):
            print(*[p for p in pair if p])
        return
    demo = build_demo(model_spec=args.model)
    print(demo.pain3d_app.model_info, flush=True)
    demo.launch(server_name=args.host, server_port=args.port, allowed_paths=[str(EXAMPLES_DIR)],
                max_file_size="50mb")


if __name__ == "__main__":
    main()
