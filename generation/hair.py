"""Hair as geometry: scalp hair styles and men's facial hair, as skin offsets plus coverage.

A hair layer lifts the skin along its normals where hair grows (volume on the crown, a fringe
over the forehead, a curtain of long hair beside the neck, a beard along the jaw) and says how
much hair covers each vertex, so the albedo paints exactly the lifted skin. Hairlines are
smooth curves (widow's peak, receding temples, side parts, the sideburn running down and back
to the ear), not mesh rows, and the volume tapers to nothing at them. Short styles are cut
around the outer ears; long hair, a bob and an afro cover them. Works on any face model:
positions are taken relative to its landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .curves import smoothstep
from .face_model import vermilion_heights, vermilion_outline
from .mesh import Mesh, vertex_normals

# Scalp styles: (volume on the crown mm, volume at the sides mm, long, fringe, frizz/curl mm).
HAIR_STYLES: Mapping[str, tuple[float, float, bool, bool, float]] = {
    "bald": (0.0, 0.0, False, False, 0.0),
    "shaved": (1.0, 1.0, False, False, 0.0),
    "cropped": (4.0, 3.0, False, False, 0.3),
    "short": (10.0, 6.0, False, False, 0.6),
    "side_part": (9.0, 5.0, False, False, 0.4),
    "quiff": (18.0, 5.0, False, False, 0.8),
    "fringe": (9.0, 7.0, False, True, 0.4),
    "bob": (10.0, 12.0, True, True, 0.5),
    "long": (8.0, 9.0, True, False, 0.6),
    "bun": (5.0, 3.0, False, False, 0.2),
    "afro": (30.0, 24.0, False, False, 2.5),
    "coily_short": (6.0, 5.0, False, False, 1.2),
}
EAR_COVERING_STYLES = ("long", "bob", "afro")  # the others are cut around the ears
EAR_FRONT = 8.0  # mm the ear reaches forward of its rim's outline (see ear_distance)
EAR_MARGIN = 3.0  # mm of bare skin between an ear and short hair
AFRO_BOTTOM = 52.0  # mm below eye level an afro reaches at the sides and back (the ears end ~45 mm below)
HAIR_TAPER_ROUNDS = 40  # smoothing rounds of the coverage that tapers the hair volume
# A moustache is trimmed: its hair covers this share of the upper lip's skin, so the lip's
# border and AU9/AU10's lift of it show through. Full cover hid them: dlib's tracker read the
# upper lip's rise of men with hair over it at rank correlation 0.22-0.40 on the development
# seeds (0.73-0.77 without), 0.45-0.62 at this cover (`benchmarks/au_by_group.py`).
MOUSTACHE_COVER = 0.6
FACIAL_HAIR = ("none", "stubble", "moustache", "goatee", "beard", "full_beard")


@dataclass(frozen=True)
class HairStyle:
    """One identity's hair: the scalp style and where its hairline runs, and facial hair."""

    style: str
    hairline: float  # mm above eye level at the midline
    recession: float  # mm the hairline recedes at the temples
    part: float  # -1..1, side of the part (asymmetric volume and hairline); 0 = none
    length: float  # mm below eye level that long hair reaches
    sideburn: float = 18.0  # mm below eye level that the hair in front of the ears reaches
    facial: str = "none"
    beard_density: float = 0.0  # 0..1


@dataclass(frozen=True)
class HairLayer:
    """Per-vertex hair: offsets (V, 3) mm to add to the skin, scalp and facial coverage (V,)."""

    offsets: np.ndarray
    scalp: np.ndarray
    facial: np.ndarray


def sample_hair(gender: str, ethnicity: str, age: float, rng: np.random.Generator) -> HairStyle:
    """Draw a hair style for one identity (styles and hairlines vary with gender and age)."""
    if gender == "man":
        styles = ["cropped", "short", "side_part", "quiff", "shaved", "long", "bald"]
        p = np.array([0.24, 0.26, 0.18, 0.1, 0.08, 0.04, 0.0])
        if ethnicity == "Black":
            styles += ["coily_short", "afro"]
            p = np.concatenate([p * 0.5, [0.4, 0.1]])
        p[styles.index("bald")] += 0.35 * age
        recession = rng.uniform(0, 6) + 22 * age * rng.random()
    else:
        styles = ["long", "bob", "fringe", "bun", "short", "side_part"]
        p = np.array([0.36, 0.16, 0.16, 0.14, 0.08, 0.1])
        if ethnicity == "Black":
            styles += ["afro", "coily_short"]
            p = np.concatenate([p * 0.6, [0.25, 0.15]])
        recession = rng.uniform(0, 5)
    style = str(rng.choice(styles, p=p / p.sum()))
    facial, density = "none", 0.0
    if gender == "man" and rng.random() < 0.45:
        facial = str(rng.choice(FACIAL_HAIR[1:], p=[0.35, 0.15, 0.15, 0.2, 0.15]))
        density = float(rng.uniform(0.45, 1.0))
    return HairStyle(
        style=style,
        hairline=float(rng.normal(50.0, 5.0) + 6.0 * age * (gender == "man")),
        recession=float(recession),
        part=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0)) if style in ("side_part", "bob", "long", "short") else 0.0,
        length=float(rng.uniform(60.0, 160.0)),
        sideburn=float(rng.uniform(18.0, 30.0) if gender == "man" else rng.uniform(6.0, 16.0)),
        facial=facial,
        beard_density=density,
    )


def hair_layer(mesh: Mesh, landmarks: dict[str, np.ndarray], skin: np.ndarray, hair: HairStyle) -> HairLayer:
    """The hair layer of a neutral mesh; ``skin`` (V,) bool marks vertices hair may lift
    (not eyeballs or lids)."""
    v = mesh.vertices.astype(np.float64)
    le, re = landmarks["left_eye"], landmarks["right_eye"]
    cx, eye_y = 0.5 * (le[0] + re[0]), 0.5 * (le[1] + re[1])
    face_z = float(landmarks["nose_tip"][2])
    x, y, z = v[:, 0] - cx, v[:, 1] - eye_y, v[:, 2]
    ax = np.abs(x)
    crown, side, long_hair, fringe, frizz = HAIR_STYLES[hair.style]
    scalp = np.zeros(len(v))
    thin = 1.0  # how much of the hair's volume is left near the ears
    if hair.style != "bald":
        # Front hairline: recedes at the temples, dips with a side part, lowered by a fringe.
        line = hair.hairline - hair.recession * smoothstep(8, 40, ax) - 10.0 * smoothstep(34, 58, ax)
        line = line + 5.0 * hair.part * np.tanh(x / 25.0)
        if fringe:
            line = np.minimum(line, 32.0 + 3.0 * np.cos(x / 9.0) + 6.0 * smoothstep(25, 55, ax))
        # The hair fades in over 8 mm (fine hair thins out at a hairline), two or more of the
        # forehead's rows: a 4 mm fade stepped along the rows, drawn as a staircase.
        front = smoothstep(line - 3.5, line + 4.5, y)
        # Sides and back: above the ears, behind the temples; the nape for long hair. The back
        # reaches as low as the sides (the sideburn's foot), and at least 20 mm below eye level.
        # An afro stands out all round the head down to below the ears (ending at the sideburn's
        # height, it let the earlobes hang out under it).
        low = -AFRO_BOTTOM if hair.style == "afro" else -hair.sideburn
        back_low = min(low, -20.0)
        back = smoothstep(face_z - 75, face_z - 92, z) * smoothstep(back_low - 12.0, back_low, y)
        # Sides: hair behind a curve that runs from the temple down and back to the sideburn's
        # foot in front of the ear (one smooth hairline, not the corner of two straight edges).
        t = smoothstep(np.maximum(line, 10.0), -hair.sideburn, y)
        edge = face_z - 52.0 - 16.0 * t
        sides = smoothstep(edge + 5.0, edge - 5.0, z) * smoothstep(low - 4.0, low + 2.0, y) * smoothstep(44, 56, ax)
        scalp = np.maximum.reduce([front, back, sides])
        if long_hair:
            nape = smoothstep(face_z - 88, face_z - 105, z) * smoothstep(-hair.length - 10, -hair.length + 10, y)
            scalp = np.maximum(scalp, nape)
        if hair.style == "bun":
            scalp = np.maximum(scalp, smoothstep(face_z - 60, face_z - 75, z) * smoothstep(-40, -30, y))
        ear = ear_distance(mesh, x, y, z, face_z)
        if hair.style not in EAR_COVERING_STYLES:
            scalp = scalp * smoothstep(EAR_MARGIN, EAR_MARGIN + 3.0, ear)
            thin = smoothstep(EAR_MARGIN + 3.0, EAR_MARGIN + 9.0, ear)  # the volume thins to the cut
    scalp = scalp * skin
    facial = _facial_cover(x, y, z, landmarks, eye_y, hair) * skin
    tuck = np.zeros_like(v)
    if hair.style in EAR_COVERING_STYLES:
        # Hair over an ear presses it to the head: the covered ear sinks to a membrane stretched
        # over it, so the hair drapes over a soft bulge instead of taking the ear's shape.
        on_ear = smoothstep(EAR_MARGIN, 0.0, ear)
        tuck[:, 0] = (membrane(mesh, v[:, 0], on_ear) - v[:, 0]) * scalp
    n = vertex_normals((v + tuck).astype(np.float32), mesh.faces).astype(np.float64)
    # Thickness: crown volume above the temples, less at the sides; curl adds a ripple.
    thick = side + (crown - side) * smoothstep(20, 90, y) * smoothstep(55, 15, ax)
    if hair.part:
        thick = thick * (1 + 0.25 * hair.part * np.tanh(x / 30.0))
    if fringe:
        thick = np.where(y < 40, np.minimum(thick, 5.0), thick)
    if hair.style == "bun":
        bun = np.exp(-((x / 22) ** 2) - ((y - 40) / 22) ** 2) * smoothstep(face_z - 100, face_z - 140, z)
        thick = thick + 35.0 * bun
    ripple = frizz * np.sin(0.9 * v[:, 0]) * np.sin(0.8 * v[:, 1] + 0.7 * v[:, 2])
    # Volume tapers to nothing at the hair's edges (hair lies flat at the hairline): lifting
    # every covered vertex by the full thickness raises a cliff along the mesh's cells, which
    # draws the hairline as a staircase. The taper follows the coverage smoothed over the mesh.
    lift = scalp * smoothstep(0.5, 1.0, mesh.smoothed(scalp, HAIR_TAPER_ROUNDS)) * thin
    offsets = tuck + n * (lift * (thick + ripple))[:, None]
    if long_hair:
        # Hair hangs: below the ears it falls straight down beside the neck, not along it.
        hang = lift * smoothstep(-5, -45, y) * smoothstep(face_z - 95, face_z - 120, z)
        width = 66.0 + side
        push = np.maximum(width - ax, 0.0) * hang
        offsets[:, 0] += np.sign(x) * push
    beard = 0.4 + 2.2 * (hair.facial in ("beard", "full_beard", "goatee")) * hair.beard_density
    offsets += n * (facial**2 * beard)[:, None]
    return HairLayer(offsets.astype(np.float32), scalp.astype(np.float32), facial.astype(np.float32))


def membrane(mesh: Mesh, values: np.ndarray, free: np.ndarray, rounds: int = 100) -> np.ndarray:
    """``values`` (V,) with the ``free`` (V,) 0..1 part replaced by a membrane stretched over it
    (each free vertex moved to its neighbours' mean, ``rounds`` times; the rest held): the head's
    side as it would be without the ear."""
    mean = mesh.neighbour_mean()
    out = np.asarray(values, dtype=np.float64).copy()
    for _ in range(rounds):
        out = values + free * (mean @ out - values)
    return out


def ear_distance(mesh: Mesh, x: np.ndarray, y: np.ndarray, z: np.ndarray, face_z: float) -> np.ndarray:
    """(V,) mm from each vertex to the nearest outer ear's outline seen from the side (negative
    inside it; inf away from the sides), so short hair is cut around the ears as a barber cuts
    it. Works on any face model with ears: the ear's rim is what stands out sideways from the
    head's smoothed sides, and the ear is everything inside the rim's outline (its convex hull),
    the concha included, swept ``EAR_FRONT`` mm forward for the front edge, which joins the
    head and stands out too little to count as rim."""
    from scipy.spatial import ConvexHull, QhullError

    band = (np.abs(x) > 45) & (z < face_z - 90) & (z > face_z - 160) & (y > -65) & (y < 35)  # beside the face, behind the jaw
    out = np.abs(x) - np.abs(mesh.smoothed(x, 30))  # mm out from the sides smoothed over ~15 mm
    dist = np.full(len(x), np.inf)
    for side in (-1.0, 1.0):
        here = band & (np.sign(x) == side)
        rim = here & (out > 2.0)
        if rim.sum() < 8:
            continue
        try:
            hull = ConvexHull(np.stack([y[rim], z[rim]], 1))
        except QhullError:  # degenerate (all on a line): no ear here
            continue
        pts = np.stack([y[here], z[here], np.ones(here.sum())], 1)
        # outside an edge: unit normal . point + offset > 0; the largest is the distance
        dist[here] = np.min([((pts - [0.0, shift, 0.0]) @ hull.equations.T).max(1) for shift in np.linspace(0.0, EAR_FRONT, 5)], axis=0)
    return dist


def _facial_cover(x, y, z, landmarks, eye_y, hair: HairStyle) -> np.ndarray:
    """Where a man's facial hair grows: moustache over the upper lip, chin, jaw and cheeks."""
    if hair.facial == "none":
        return np.zeros_like(x)
    ax = np.abs(x)
    mouth_y = landmarks["mouth_center"][1] - eye_y
    nose_y = landmarks["nose_tip"][1] - eye_y
    half = 0.5 * abs(landmarks["mouth_left"][0] - landmarks["mouth_right"][0])
    chin_y = landmarks["chin"][1] - eye_y
    # The lips' paint tapers at the corners; the beard keeps its gap under the whole lower lip.
    lip_top, lip_bottom = mouth_y + vermilion_outline(x, landmarks)[0], mouth_y - vermilion_heights(landmarks)[1]
    front = smoothstep(landmarks["nose_tip"][2] - 80, landmarks["nose_tip"][2] - 60, z)
    lips = smoothstep(lip_top + 1.5, lip_top - 0.5, y) * smoothstep(lip_bottom - 1.5, lip_bottom + 0.5, y) * smoothstep(half + 3, half, ax)
    # Moustache: grows on the upper lip's skin from under the nose down to the vermilion
    # border, following its bow (so it rises with the lip under AU10, as a real moustache
    # does), its ends turning down past the lip corners.
    droop = 6.0 * smoothstep(half - 6, half + 6, ax)
    # Its upper edge starts under the nose and slants down towards the cheeks.
    upper = nose_y - 8.0 - 0.3 * np.maximum(ax - 10.0, 0.0)
    moustache = smoothstep(lip_top - 0.5 - droop, lip_top + 1.0 - droop, y) * smoothstep(upper + 1.5, upper - 1.5, y)
    moustache *= smoothstep(half + 8, half + 3, ax)
    if hair.facial != "stubble":  # stubble is one faint shadow over the lip, chin and jaw alike
        moustache *= MOUSTACHE_COVER
    # Chin tuft: an ellipse under the lower lip.
    chin = np.clip(1.6 - np.hypot(x / (0.75 * half + 4), (y - 0.5 * (lip_bottom + chin_y)) / (0.5 * (lip_bottom - chin_y) + 8)), 0, 1)
    chin = chin * smoothstep(lip_bottom + 1, lip_bottom - 2, y)
    # Beard: the lower face below a line from the ears down to beside the mouth, and under the chin.
    cheek_line = mouth_y + 6 + (-8 - mouth_y) * smoothstep(half + 6, 62, ax)
    jaw = smoothstep(cheek_line + 2, cheek_line - 3, y) * smoothstep(chin_y - 16, chin_y - 6, y)
    high = mouth_y + 14 + (-14 - mouth_y) * smoothstep(half + 6, 60, ax)  # sideburns reach the ears
    cheeks = smoothstep(high + 2, high - 3, y) * smoothstep(chin_y - 16, chin_y - 6, y) * smoothstep(half, half + 8, ax)
    parts = {
        "stubble": np.maximum.reduce([moustache, chin, jaw, cheeks]),
        "moustache": moustache,
        "goatee": np.maximum(moustache, chin),
        "beard": np.maximum.reduce([moustache, chin, jaw]),
        "full_beard": np.maximum.reduce([moustache, chin, jaw, cheeks]),
    }[hair.facial]
    return parts * front * (1 - lips)
