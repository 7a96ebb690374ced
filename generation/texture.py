"""Procedural appearance: skin albedo, brows, lips, irises, hair colour and backgrounds.

The CPU stand-in for the paper's diffusion texturing and inpainting. Colours are per vertex, so
they move with the rig; every choice is drawn from a seeded generator. Skin tones follow the
10-step Monk Skin Tone scale; each ethnicity draws from a broad, overlapping range of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .curves import segment_distance, smoothstep
from .demographics import Demographics
from .face_model import EYE_COLOUR_EDGES, vermilion_outline
from .hair import HairLayer, HairStyle, sample_hair
from .mesh import Mesh, vertex_normals
from .render.shading import linear_to_srgb, srgb_to_linear

# Range of Monk steps (1-based, inclusive) each group draws from: broad and overlapping.
SKIN_TONE_RANGE = {
    "White": (1.5, 4.5),
    "East Asian": (2.0, 5.0),
    "Middle Eastern": (2.5, 6.5),
    "Latino": (2.5, 7.5),
    "South Asian": (4.0, 8.5),
    "Black": (6.0, 10.0),
}

HAIR_COLOURS = {
    "black": (0.05, 0.045, 0.04),
    "dark_brown": (0.16, 0.1, 0.07),
    "brown": (0.32, 0.2, 0.12),
    "blonde": (0.72, 0.58, 0.36),
    "red": (0.5, 0.2, 0.1),
    "grey": (0.55, 0.55, 0.55),
    "white": (0.86, 0.86, 0.84),
}
IRIS_COLOURS = {
    "dark_brown": (0.16, 0.09, 0.05),
    "brown": (0.3, 0.17, 0.08),
    "hazel": (0.4, 0.32, 0.15),
    "green": (0.28, 0.4, 0.25),
    "blue": (0.3, 0.45, 0.62),
    "grey": (0.45, 0.5, 0.55),
}


@dataclass(frozen=True)
class Appearance:
    """Per-identity appearance choices (all sampled by ``sample_appearance``)."""

    skin_tone: float  # Monk step, 1 (light) .. 10 (dark)
    skin_rgb: tuple[float, float, float]
    hair: str  # colour, a key of HAIR_COLOURS
    hair_style: HairStyle
    iris: str
    brow_thickness: float  # mm at the head of the brow
    brow_arch: float  # mm the arch rises above a straight brow
    brow_tilt: float  # mm the tail rises (+) or falls (-) over the brow's length
    brow_darkness: float  # 0..1, how much of the hair colour shows through the skin
    lip_tint: float  # 0..1, how much redder/darker than the skin
    lip_hue: tuple[float, float, float]  # lip colour as a multiple of the skin colour
    wrinkles: float  # 0..1, from age
    seed: int


# Facial skin albedo (CIELAB, D65) at each Monk Skin Tone step, light (1) to dark (10). The
# Monk swatches themselves are a display palette for annotators, near grey on the light side
# (a* 0.2-3.5 for steps 1-5), and rendered that way faces came out khaki-grey. Measured skin is
# never grey: spectrocolorimeter studies of faces find a* about 8-13 and b* about 13-19 at every
# pigmentation, b* highest for tan and brown skin; lightness runs from very light (ITA above 55
# degrees, the classes of Chardon et al. 1991) to dark (ITA below -30).
SKIN_LAB = np.array(
    [
        [69.0, 8.0, 13.0], [65.0, 9.0, 14.5], [61.0, 10.0, 16.0], [57.0, 11.0, 17.5], [53.0, 11.5, 18.5],
        [49.0, 12.0, 19.0], [44.0, 12.0, 18.5], [39.0, 11.5, 17.0], [33.0, 11.0, 15.0], [26.0, 10.0, 12.0],
    ]
)


# The two matrices IEC 61966-2-1 publishes (each rounded, so not exactly each other's inverse).
_XYZ_FROM_LINEAR = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_LINEAR_FROM_XYZ = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
_D65 = np.array([0.95047, 1.0, 1.08883])


def srgb_to_cielab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB colours (..., 3) in [0, 1]."""
    xyz = srgb_to_linear(rgb) @ _XYZ_FROM_LINEAR.T / _D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def cielab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] of CIELAB (D65) colours (..., 3), clipped to the sRGB gamut."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _D65
    return np.clip(linear_to_srgb(np.clip(xyz @ _LINEAR_FROM_XYZ.T, 0, 1)), 0, 1)


def skin_colour(step: float, undertone=(0.0, 0.0)) -> np.ndarray:
    """sRGB skin albedo at a (fractional) Monk step in [1, 10]; ``undertone`` adds (a*, b*)."""
    s = float(np.clip(step, 1.0, 10.0)) - 1.0
    i = min(int(s), 8)
    t = s - i
    lab = (1 - t) * SKIN_LAB[i] + t * SKIN_LAB[i + 1]
    lab[1:] += np.asarray(undertone, dtype=np.float64)
    return cielab_to_srgb(lab)


def sample_appearance(demo: Demographics, age: float, rng: np.random.Generator) -> Appearance:
    """Draw skin, hair (colour and style), brows, lips, eyes and wrinkle strength for one identity."""
    lo, hi = SKIN_TONE_RANGE[demo.ethnicity]
    tone = float(rng.uniform(lo, hi))
    skin = skin_colour(tone, 1.5 * rng.normal(0.0, 1.0, 3)[:2])  # undertone: a*, b* jitter
    dark = tone >= 6
    if age > 0.6 and rng.random() < 0.75:
        hair = str(rng.choice(["grey", "white", "grey"]))
    elif dark or demo.ethnicity in ("East Asian", "South Asian"):
        hair = str(rng.choice(["black", "black", "dark_brown"]))
    elif demo.ethnicity == "White":
        hair = str(rng.choice(["dark_brown", "brown", "blonde", "red", "black"], p=[0.3, 0.3, 0.2, 0.05, 0.15]))
    else:
        hair = str(rng.choice(["black", "dark_brown", "brown"], p=[0.45, 0.4, 0.15]))
    if demo.ethnicity == "White":
        iris = str(rng.choice(list(IRIS_COLOURS), p=[0.15, 0.25, 0.15, 0.1, 0.25, 0.1]))
    else:
        iris = str(rng.choice(["dark_brown", "brown", "hazel"], p=[0.6, 0.3, 0.1]))
    man = demo.gender == "man"
    # Lips: redder on light skin, browner and darker on dark skin.
    lip_hue = np.array([0.86, 0.58, 0.6]) if tone < 5 else np.array([0.78, 0.6, 0.62])
    lip_hue = lip_hue * (1 + rng.normal(0, 0.04, 3))
    return Appearance(
        skin_tone=tone,
        skin_rgb=tuple(float(c) for c in skin),
        hair=hair,
        hair_style=sample_hair(demo.gender, demo.ethnicity, age, rng),
        iris=iris,
        brow_thickness=float(rng.uniform(4.0, 7.5) * (1.15 if man else 0.85)),
        brow_arch=float(rng.uniform(0.5, 4.5) * (0.7 if man else 1.2)),
        brow_tilt=float(rng.normal(0.0 if man else 2.0, 2.0)),
        brow_darkness=float(rng.uniform(0.6, 0.95)),
        lip_tint=float(rng.uniform(0.35, 0.8)),
        lip_hue=tuple(float(c) for c in lip_hue),
        wrinkles=float(np.clip((age - 0.45) / 0.5, 0, 1)),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def age_folds(x: np.ndarray, y: np.ndarray, landmarks: dict[str, np.ndarray], eye_y: float) -> np.ndarray:
    """(N,) how much darker the skin is, at the oldest age, along the folds that deepen with
    age: the nasolabial folds from beside the alae to beside the mouth corners, the marionette
    lines down from the corners, and the tear troughs under the eyes. ``x``, ``y``: mm from the
    eyes' midpoint. Painted as shade, they move with the skin when the rig moves it."""
    ax = np.abs(x)
    nose_y = landmarks["nose_tip"][1] - eye_y
    mouth_y = landmarks["mouth_center"][1] - eye_y
    corner = abs(landmarks["mouth_left"][0] - landmarks["mouth_right"][0]) / 2
    eye_x = abs(landmarks["left_eye"][0] - landmarks["right_eye"][0]) / 2
    nasolabial = segment_distance(ax, y, 15.0, nose_y - 2.0, corner + 4.0, mouth_y - 5.0)
    marionette = segment_distance(ax, y, corner + 1.0, mouth_y - 2.0, corner + 4.0, mouth_y - 18.0)
    trough = segment_distance(ax, y, eye_x - 10.0, -7.5, eye_x + 9.0, -12.0)
    shade = 0.28 * np.exp(-((nasolabial / 1.8) ** 2)) * smoothstep(mouth_y - 8.0, mouth_y + 2.0, y)
    shade += 0.16 * np.exp(-((marionette / 1.4) ** 2)) * smoothstep(mouth_y - 20.0, mouth_y - 8.0, y)
    shade += 0.15 * np.exp(-((trough / 2.2) ** 2))
    return shade


def lip_colour(skin: np.ndarray, app: Appearance) -> np.ndarray:
    """The vermilion's albedo on ``skin``: redder and darker than the skin, by as much as real
    lips are. Measured lips differ from the facial skin beside them by about 10-15 CIELAB L*
    darker and 8-15 a* redder on light skin (Stephen and McKeegan 2010; Porcheron et al. 2013);
    the tinted colour alone is twice that (a salmon band), so the vermilion sits halfway
    between it and the skin."""
    tinted = skin * np.asarray(app.lip_hue) * (1 - 0.2 * app.lip_tint) + np.array([0.08, 0.0, 0.01]) * app.lip_tint
    return 0.5 * (tinted + skin)


def vertex_albedo(
    mesh: Mesh, landmarks: dict[str, np.ndarray], app: Appearance, hair: HairLayer | None = None
) -> np.ndarray:
    """(V, 3) float32 albedo for a neutral identity mesh (colours then travel with the rig).

    ``hair`` (from ``generation.hair.hair_layer``) says where scalp and facial hair cover the
    skin; without it the face is painted bald and clean-shaven.
    """
    v = mesh.vertices.astype(np.float64)
    rng = np.random.default_rng(app.seed)
    skin = np.asarray(app.skin_rgb)
    le, re = landmarks["left_eye"], landmarks["right_eye"]
    eye_y = 0.5 * (le[1] + re[1])
    nose, mouth = landmarks["nose_tip"], landmarks["mouth_center"]
    x, y, z = v[:, 0] - 0.5 * (le[0] + re[0]), v[:, 1] - eye_y, v[:, 2]
    ax = np.abs(x)
    col = np.tile(skin, (len(v), 1))

    # Blush on cheeks and nose, slightly darker around the eyes and under the jaw.
    red = np.array([0.75, 0.3, 0.25])
    w = 0.10 * np.exp(-(((ax - 40) / 16) ** 2) - ((y + 25) / 14) ** 2)
    w += 0.06 * np.exp(-((x / 10) ** 2) - ((y - (nose[1] - eye_y)) / 10) ** 2)
    col = col * (1 - w[:, None]) + red * w[:, None]
    col *= (1 - 0.08 * np.exp(-(((ax - 31) / 14) ** 2) - ((y + 2) / 9) ** 2))[:, None]
    # Skin texture: a smooth random field in 3D (so it does not follow the mesh's rows), fine
    # mottling plus broader blotches; age spots, wrinkle lines and darker folds (age_folds) with age.
    col *= (1 + solid_noise(v, rng, 0.025, (7.0, 14.0)) + solid_noise(v, rng, 0.025, (18.0, 45.0)))[:, None]
    if app.wrinkles > 0:
        fore = smoothstep(18, 28, y) * smoothstep(62, 50, y) * smoothstep(50, 35, ax)
        lines = np.clip(np.cos(y * 2 * np.pi / 7.5) - 0.75, 0, 1) * 4
        crow = np.exp(-(((ax - 47) / 5) ** 2) - (y / 8) ** 2) * np.clip(np.cos(np.arctan2(y, ax - 45) * 9) - 0.4, 0, 1)
        dark = app.wrinkles * (0.22 * fore * lines + 0.3 * crow)
        spots = (rng.random(len(v)) < 0.01 * app.wrinkles) * rng.uniform(0.1, 0.25, len(v))
        folds = app.wrinkles * age_folds(x, y, landmarks, eye_y) * (z > mouth[2] - 30)
        col *= (1 - dark - folds - spots)[:, None]

    # Lips: the vermilion between the borders found from the lips' midline peaks (the border
    # lies about twice the peak's height from the lip line), a Cupid's bow on the upper lip,
    # tapering to the corners; a darker rim along the border and a dark line where they meet.
    my = mouth[1] - eye_y
    mw = abs(landmarks["mouth_left"][0] - landmarks["mouth_right"][0]) / 2 + 1.5
    up_v, lo_v = vermilion_outline(x, landmarks)
    top, bottom = my + up_v, my - lo_v
    inside = smoothstep(top + 0.6, top - 0.6, y) * smoothstep(bottom - 0.8, bottom + 0.8, y)
    lip_w = inside * (ax < mw) * (z > mouth[2] - 15)
    rim = np.exp(-(((y - top) / 0.8) ** 2)) * (ax < mw - 1) * (z > mouth[2] - 15)
    lip_col = lip_colour(skin, app)
    col = col * (1 - 0.9 * lip_w[:, None]) + lip_col * 0.9 * lip_w[:, None]
    col *= (1 - 0.12 * rim)[:, None]
    # The lip line doubles as the mouth interior: when AU10/AU25/AU26 part the lips, these
    # vertices spread into a dark opening.
    line = np.exp(-(((y - my) / 1.0) ** 4)) * smoothstep(mw, mw - 4, ax)
    col = col * (1 - 0.85 * line[:, None]) + np.array([0.12, 0.03, 0.03]) * 0.85 * line[:, None]
    # The mouth slot's own rows (the back of the mouth when the lips part): darker still.
    back = np.exp(-(((y - my) / 0.5) ** 4)) * smoothstep(mw, mw - 4, ax)
    col = col * (1 - 0.8 * back[:, None]) + np.array([0.05, 0.012, 0.012]) * 0.8 * back[:, None]
    # Nostrils: dark under the nose tip.
    ny = nose[1] - eye_y
    nost = np.exp(-(((ax - 6.0) / 2.6) ** 2) - ((y - (ny - 5.5)) / 1.8) ** 2) * (z < nose[2] - 8)
    col *= (1 - 0.6 * nost)[:, None]

    hair_rgb = np.asarray(HAIR_COLOURS[app.hair])
    brow_rgb = np.minimum(hair_rgb, 0.3) * 0.75
    # Eyebrows: an arched band above each eye, thick at the head and tapering to the tail; on
    # the skin only (painted on the lids, they would rotate down over the eye when it closes).
    on_skin = np.ones(len(v), bool)
    for name, idx in mesh.regions.items():
        if name.endswith(("_lid", "_eyeball")):
            on_skin[idx] = False
    for e in (le, re):
        s = np.sign(e[0]) if e[0] != 0 else 1.0
        u = (v[:, 0] - e[0]) * s  # + towards the temple
        arch = e[1] + 13.0 + app.brow_arch * np.exp(-(((u - 6) / 11) ** 2)) + app.brow_tilt * (u + 14) / 38
        half = 0.5 * app.brow_thickness * (1.0 - 0.55 * smoothstep(-8, 22, u))
        wb = smoothstep(half + 1.0, half - 0.6, np.abs(v[:, 1] - arch)) * smoothstep(-16, -12, u) * smoothstep(24, 19, u)
        wb *= (z > e[2]) * on_skin * app.brow_darkness
        col = col * (1 - wb[:, None]) + brow_rgb * wb[:, None]

    if hair is not None:
        strand = 1 + 0.12 * np.sin(v[:, 0] * 1.7 + v[:, 2] * 0.9) * rng.uniform(0.5, 1.0)
        hc = hair_rgb * strand[:, None]
        col = col * (1 - hair.scalp[:, None]) + hc * hair.scalp[:, None]
        # Facial hair: the hair's colour a shade darker, broken into tufts so the skin shows
        # through where it is sparse and at its edges; stubble is a faint shadow of it.
        style = app.hair_style
        if style.facial != "none":
            # Stubble is short dots of hair; longer facial hair lies in strands, combed down
            # and fanning out from the philtrum: the same noise stretched along the strands.
            stubble = style.facial == "stubble"
            where, scale = (v, (1.5, 4.0)) if stubble else (strand_space(v, x), (1.0, 2.5))
            tufts = np.clip(1.0 + solid_noise(where, rng, 0.35, scale), 0.0, 1.0)
            if stubble:
                beard_a = 0.3 * hair.facial**1.5 * tufts
                beard_rgb = skin * 0.5 + hair_rgb * 0.15
            else:
                beard_a = hair.facial**1.5 * (0.45 + 0.45 * style.beard_density) * tufts
                beard_rgb = hair_rgb * 0.8 * strand[:, None]
            col = col * (1 - beard_a[:, None]) + beard_rgb * beard_a[:, None]

    # Baked ambient occlusion: creases and hollows (eye sockets, nasolabial folds, nostrils,
    # lip corners) and surfaces facing down (under the brows, nose and jaw) get less light.
    col *= ambient_occlusion(mesh)[:, None]

    # Eyes: sclera, iris with a darker limbus, pupil; lash lines on the lid margins.
    iris = np.asarray(IRIS_COLOURS[app.iris])
    for side, e in (("left", le), ("right", re)):
        comp = mesh.components.get(f"{side}_eyeball", mesh.regions.get(f"{side}_eyeball"))
        if comp is None:
            continue
        d = v[comp] - e
        g = np.arccos(np.clip(d[:, 2] / np.maximum(np.linalg.norm(d, axis=1), 1e-9), -1, 1))
        # Sclera: off-white, shaded towards the canthi (the ball turns away) and under the upper lid.
        az = np.abs(np.arctan2(d[:, 0], d[:, 2]))
        el = np.arctan2(d[:, 1], np.hypot(d[:, 0], d[:, 2]))
        shade = (1 - 0.3 * smoothstep(0.45, 1.0, az)) * (1 - 0.2 * smoothstep(0.12, 0.4, el))
        c = np.array([0.88, 0.85, 0.82]) * shade[:, None]
        pupil, inner, iris_edge, limbus = EYE_COLOUR_EDGES
        c[g < limbus] = iris * 0.45  # the dark limbal ring
        c[g < iris_edge] = iris
        c[g < inner] = iris * 0.8
        c[g < pupil] = 0.02
        col[comp] = c
        for kind in ("upper", "lower"):
            lid = mesh.regions.get(f"{side}_{kind}_lid")
            margin = mesh.regions.get(f"{side}_{kind}_lid_margin")
            if lid is not None:
                col[lid] = col[lid] * (0.88 if kind == "upper" else 0.93)
            if margin is not None:
                col[margin] = col[margin] * LASH_LINE
    return np.clip(col, 0, 1).astype(np.float32)


# How much of the lid's colour its lash line keeps, upper and lower alike: dlib's tracker finds
# the lower lid, and follows it as AU6/AU7 raise it, by its lash line as much as the upper's
# (0.3 on the lower lid read AU6/AU7 0.01 lower on the development seeds).
LASH_LINE = 0.18


# The share of the lights' broad (skin) highlight the eyeballs take. An eye's cornea is a
# mirror: its reflection of a light is a small catchlight, not skin's broad sheen, which
# spread over the whole iris and turned every iris grey (a brown one the grey of the sclera).
EYE_GLOSS = 0.0


# Where the surface turns sharply, a crease the relief draws as a fold (the lid-cheek
# junction, the nose bridge's sides, the lips' borders), the lights' highlight gathered into a
# thin bright line, a seam that ringed the eyes like goggles. The gloss fades out as the
# surface's curvature goes from a radius of CREASE_RADIUS[0] mm (a nose tip's, about 5 mm,
# keeps its sheen) to CREASE_RADIUS[1] mm (a fold).
CREASE_RADIUS = (5.0, 2.5)
# crease_curvature's neighbour footprint: 4 rounds of smoothing spread a vertex's normal over
# about 1.41 of the mesh's spacings, measured on spheres of any radius and tessellation.
_FOOTPRINT = 1.41


def crease_curvature(mesh: Mesh) -> np.ndarray:
    """(V,) float64 how sharply the surface bends at each vertex, 1/mm (about 1/r on a sphere
    of radius r), the same on a coarse mesh as on a fine one: the mean of the unit normals
    about a vertex is shorter the more they disagree (1 - its length is about (h / r)^2 / 2
    for neighbours h apart), divided by the local spacing h."""
    v = mesh.vertices.astype(np.float64)
    n = vertex_normals(mesh.vertices, mesh.faces).astype(np.float64)
    turn = np.maximum(1.0 - np.linalg.norm(mesh.smoothed(n, 4), axis=1), 0.0)
    # h: the root mean square distance to the edge neighbours, mean_j |v_j|^2 - 2 v . mean_j v_j + |v|^2
    mean, sq = mesh.neighbour_mean(), np.einsum("ij,ij->i", v, v)
    spacing = np.sqrt(np.maximum(mean @ sq - 2.0 * np.einsum("ij,ij->i", v, mean @ v) + sq, 0.0))
    return np.sqrt(2.0 * turn) / (_FOOTPRINT * np.maximum(spacing, 1e-6))


# Under each eye, where the socket turns forward into the cheek, the skin faces the lights from
# below them and took their highlight as a ring round the lower half of the eye (goggles, worst
# on dark skin). That band (UNDER_EYE_BAND: mm from the eye's axis, fading in and out, below
# the eye's centre) keeps UNDER_EYE_GLOSS of the highlight, as the thin skin of the lower lid
# and the lid-cheek junction is less oily than the nose and forehead.
UNDER_EYE_BAND = (9.0, 11.0, 15.0, 18.0)
UNDER_EYE_GLOSS = 0.2


def vertex_gloss(mesh: Mesh) -> np.ndarray:
    """(V,) float32 share of the lights' highlight per vertex: ``EYE_GLOSS`` on the eyeballs,
    faded on sharp creases (``CREASE_RADIUS``) and under the eyes (``UNDER_EYE_GLOSS``), 1
    elsewhere. Give the identity's own neutral mesh: its creases are its own."""
    sharp = smoothstep(1.0 / CREASE_RADIUS[0], 1.0 / CREASE_RADIUS[1], crease_curvature(mesh))
    gloss = (1.0 - sharp).astype(np.float32)
    v = mesh.vertices
    a, b, c, d = UNDER_EYE_BAND
    for side in ("left", "right"):
        comp = mesh.components.get(f"{side}_eyeball", mesh.regions.get(f"{side}_eyeball"))
        if comp is None:
            continue
        centre = 0.5 * (v[comp].min(0) + v[comp].max(0))
        rho = np.hypot(v[:, 0] - centre[0], v[:, 1] - centre[1])
        band = smoothstep(a, b, rho) * smoothstep(d, c, rho) * smoothstep(2.0, -2.0, v[:, 1] - centre[1]) * (v[:, 2] > centre[2])
        gloss *= (1.0 - (1.0 - UNDER_EYE_GLOSS) * band).astype(np.float32)
        gloss[comp] = EYE_GLOSS
    return gloss


def strand_space(points: np.ndarray, x: np.ndarray, stretch: float = 5.0, fan: float = 0.45) -> np.ndarray:
    """``points`` (N, 3) mm mapped so that a ``solid_noise`` field over them runs in strands:
    along each strand (down the face, turned up to ``fan`` radians outwards either side of the
    midline, as a moustache and beard grow) lengths shrink ``stretch`` times. ``x``: (N,) mm
    from the face's midline."""
    tilt = fan * np.sign(x) * smoothstep(2.0, 20.0, np.abs(x))
    dx, dy = np.sin(tilt), -np.cos(tilt)  # down and outwards
    along = points[:, 0] * dx + points[:, 1] * dy
    across = points[:, 0] * -dy + points[:, 1] * dx
    return np.stack([across, along / stretch, points[:, 2]], axis=1)


def solid_noise(points: np.ndarray, rng: np.random.Generator, std: float, wavelengths: tuple[float, float], waves: int = 24) -> np.ndarray:
    """(N,) smooth random field of standard deviation ``std`` over 3D ``points`` (mm): a sum
    of plane waves with random directions, phases and wavelengths in ``wavelengths`` (mm).
    Unlike per-vertex noise, it looks the same however densely the mesh is sampled."""
    d = rng.normal(size=(waves, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    k = 2 * np.pi / rng.uniform(*wavelengths, waves)
    phase = rng.uniform(0, 2 * np.pi, waves)
    # float32: the phases stay accurate to ~1e-5 rad over a head, and cos runs twice as fast.
    arg = np.asarray(points, np.float32) @ (d * k[:, None]).T.astype(np.float32) + phase.astype(np.float32)
    return std * np.sqrt(2.0 / waves) * np.cos(arg).sum(axis=1, dtype=np.float64)


def ambient_occlusion(mesh: Mesh, iterations: int = 6) -> np.ndarray:
    """(V,) float64 in [0.55, 1]: a cheap occlusion estimate from the mesh alone.

    Concavity: how far a few rounds of neighbour averaging move each vertex along its normal
    (outwards = the vertex sits in a hollow); openness to the sky: surfaces facing down see
    less of the upper hemisphere's light.
    """
    v = mesh.vertices.astype(np.float64)
    n = vertex_normals(mesh.vertices, mesh.faces).astype(np.float64)
    smooth = mesh.smoothed(v, iterations)
    hollow = np.einsum("ij,ij->i", smooth - v, n)  # mm; > 0 in creases and hollows
    ao = 1.0 - 0.16 * np.clip(hollow, 0.0, 2.5)
    ao *= 0.86 + 0.14 * (0.5 + 0.5 * n[:, 1])  # facing up: 1.0, sideways: 0.93, down: 0.86
    return np.clip(ao, 0.55, 1.0)


def background(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) uint8 varied backdrop: a two-colour gradient with soft blobs."""
    a, b = rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    t = np.clip(0.5 + (xx - 0.5) * np.cos(ang) + (yy - 0.5) * np.sin(ang), 0, 1)[..., None]
    img = a * (1 - t) + b * t
    for _ in range(int(rng.integers(2, 6))):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.35)
        w = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (r * r))[..., None] * rng.uniform(0.2, 0.6)
        img = img * (1 - w) + rng.uniform(0, 1, 3) * w
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)
