"""The built-in parametric head: a procedural, closed head mesh with eyeballs and eyelids.

Written for this project (no third-party model files). The skin is a lofted surface (stacked
horizontal cross-sections, closed by a pole at the crown and a cap under the neck) sculpted
with smooth analytic features (brow ridge, eye sockets, nose, cheekbones, lips, jaw, chin,
ears). Each eye is a separate closed eyeball plus two closed eyelid shells that rotate about
the eyeball centre, so the rig can close the eyes without lids passing through the eyeballs;
each lid carries its lashes as a fin along its margin, turning with it.
Identity is a vector of ``N_SHAPE`` values in standard-deviation units: one per feature
parameter, then one per correlated whole-face mode. Age, gender and population shift the
means (e.g. older faces get deeper nasolabial folds, thinner lips, jowls). Rows of the skin
grid are placed per identity, densest at its own lip line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .curves import catmull_rom, gauss2, segment_distance, smin, smoothstep
from .face_model import EYE_COLOUR_EDGES, Eyelid
from .mesh import Mesh, grid_faces, is_closed_manifold

# (name, mean, std, age effect at age=1, gender effect at gender=+1 (woman))
SHAPE_PARAMETERS: tuple[tuple[str, float, float, float, float], ...] = (
    ("head_width", 1.0, 0.035, 0.0, -0.025),
    ("head_height", 1.0, 0.035, 0.0, -0.02),
    ("head_depth", 1.0, 0.035, 0.0, -0.02),
    ("face_length", 1.0, 0.045, 0.02, -0.035),
    ("forehead_slope", 0.0, 1.0, 0.0, -0.5),
    ("forehead_bulge", 0.0, 1.0, 0.0, 0.8),
    ("jaw_width", 1.0, 0.05, 0.03, -0.07),
    ("chin_width", 1.0, 0.09, 0.0, -0.1),
    ("chin_protrusion", 0.0, 2.5, -0.5, -1.5),
    ("chin_height", 0.0, 2.5, 0.0, 1.0),
    ("cheekbone_height", 0.0, 2.5, 0.0, 0.0),
    ("cheekbone_prominence", 1.0, 0.25, -0.15, 0.05),
    ("cheek_fullness", 0.0, 1.5, -1.0, 0.8),
    ("brow_ridge", 1.0, 0.22, 0.0, -0.35),
    ("eye_spacing", 0.0, 1.9, 0.0, -0.5),  # per eye: IPD sd 3.8 mm (Dodgson 2004)
    ("eye_height", 0.0, 1.5, 0.0, 0.0),
    ("eye_size", 1.0, 0.1, -0.12, 0.06),
    ("eye_width", 1.0, 0.05, 0.0, 0.0),
    ("canthal_tilt", 3.0, 3.0, -2.0, 1.0),
    ("eye_depth", 0.0, 1.2, 1.0, -0.3),
    ("nose_length", 1.0, 0.07, 0.05, -0.06),
    ("nose_protrusion", 1.0, 0.11, 0.05, -0.1),
    ("nose_width", 1.0, 0.11, 0.06, -0.08),
    ("nose_bridge", 1.0, 0.22, 0.0, -0.1),
    ("nose_tip", 1.0, 0.14, 0.08, -0.05),
    ("nose_hump", 0.0, 1.0, 0.2, -0.3),
    ("mouth_width", 1.0, 0.07, 0.0, -0.03),
    ("upper_lip", 1.0, 0.18, -0.3, 0.15),
    ("lower_lip", 1.0, 0.18, -0.25, 0.15),
    ("mouth_protrusion", 0.0, 1.8, -0.5, 0.0),
    ("philtrum", 1.0, 0.09, 0.12, -0.05),
    ("nasolabial", 1.0, 0.3, 1.3, -0.2),
    ("jowls", 0.0, 0.5, 2.5, -0.3),
    ("ear_size", 1.0, 0.09, 0.12, -0.06),
    ("ear_protrusion", 1.0, 0.3, 0.0, 0.0),
    ("neck_width", 1.0, 0.05, 0.0, -0.1),
    ("temple_hollow", 0.0, 1.0, 1.5, 0.0),
    ("asymmetry", 0.0, 0.6, 0.2, 0.0),
    ("mode_a", 0.0, 1.0, 0.0, 0.0),
    ("mode_b", 0.0, 1.0, 0.0, 0.0),
    ("mode_c", 0.0, 1.0, 0.0, 0.0),
    ("mode_d", 0.0, 1.0, 0.0, 0.0),
)
N_PARAMS = len(SHAPE_PARAMETERS)

# Mean shifts by population, in each parameter's own units (added to the mean), from published
# craniofacial anthropometry (e.g. Farkas et al. 2005, international norms): broader, flatter
# noses and fuller lips in Black and East Asian groups, wider intercanthal distance and flatter
# nasal bridge and brow ridge in East Asian faces, stronger brow ridges and longer, higher noses
# in Middle Eastern and White faces; South Asian and Latino in between.
ETHNICITY_OFFSETS: dict[str, dict[str, float]] = {
    "White": {"nose_protrusion": 0.06, "nose_bridge": 0.2, "brow_ridge": 0.12, "nose_width": -0.04,
              "upper_lip": -0.08, "lower_lip": -0.06, "eye_depth": 0.8, "head_width": -0.01},
    "Middle Eastern": {"nose_protrusion": 0.1, "nose_bridge": 0.3, "nose_hump": 0.8, "brow_ridge": 0.15,
                       "nose_length": 0.05, "eye_depth": 0.6, "face_length": 0.02},
    "Latino": {"nose_width": 0.06, "cheekbone_prominence": 0.12, "upper_lip": 0.05, "lower_lip": 0.06,
               "head_width": 0.015, "face_length": -0.01},
    "South Asian": {"nose_width": 0.05, "nose_tip": 0.08, "upper_lip": 0.06, "lower_lip": 0.1,
                    "eye_size": 0.04, "face_length": 0.01},
    "Black": {"nose_width": 0.2, "nose_protrusion": -0.12, "nose_bridge": -0.25, "nose_tip": 0.22,
              "upper_lip": 0.35, "lower_lip": 0.3, "mouth_protrusion": 2.0, "mouth_width": 0.05,
              "eye_spacing": 1.2, "brow_ridge": 0.05},
    "East Asian": {"nose_width": 0.1, "nose_protrusion": -0.14, "nose_bridge": -0.4, "brow_ridge": -0.3,
                   "eye_spacing": 1.6, "canthal_tilt": 3.0, "eye_depth": -1.4, "eye_size": -0.08,
                   "head_width": 0.04, "head_depth": -0.02, "cheekbone_prominence": 0.2,
                   "upper_lip": 0.08, "lower_lip": 0.08, "mouth_protrusion": 1.0},
}
# Identity spread: each parameter's standard deviation is scaled by this factor. Single
# measurements already follow the norms' spreads; what sets real faces apart is many features
# varying at once, so the shape prior also draws correlated whole-face modes (FACE_MODES).
SPREAD = 1.0
# Correlated modes (parameter -> loading per unit of the mode), each drawn ~N(0, 1): a round
# short face with full cheeks vs a long narrow one; a strong, angular jaw and chin; a
# prominent midface (nose and cheekbones forward) vs a flat one.
FACE_MODES: tuple[dict[str, float], ...] = (
    {"face_length": -0.04, "head_width": 0.03, "cheek_fullness": 1.2, "jaw_width": 0.04, "chin_width": 0.06},
    {"jaw_width": 0.06, "chin_protrusion": 2.0, "chin_width": 0.08, "chin_height": -1.5, "brow_ridge": 0.15},
    {"nose_protrusion": 0.05, "cheekbone_prominence": 0.25, "nose_bridge": 0.15, "mouth_protrusion": -1.0, "eye_depth": 0.8},
)
# The identity vector: one entry per parameter, then one per correlated mode (SD units).
N_SHAPE = N_PARAMS + len(FACE_MODES)
PARAM_INDEX = {p[0]: i for i, p in enumerate(SHAPE_PARAMETERS)}

EYE_RADIUS = 12.0  # mm, adult eyeball
_UPPER_LID_GAP = (0.55, 1.65)  # inner/outer shell radius beyond the eyeball, mm
_LOWER_LID_GAP = (0.4, 1.35)
# The open lid margins, as angles about the eyeball centre (degrees): upper and lower margin
# elevation at the middle, and the half-width at which they meet in the canthi.
_LID_UPPER, _LID_LOWER, _LID_CORNER = 23.0, 16.5, 58.0
_LASH_UPPER, _LASH_LOWER = 6.0, 2.0  # mm the lashes reach beyond the lid in the middle
LOWER_SOCKET_ROUNDING = 1.5  # mm over which the eye socket's lower edge turns into the cheek
MOUTH_DEPTH = 12.0  # mm the mouth slot reaches behind the lip line
_CORNER_GROOVE = 0.7  # mm: the lip corner is where the lip-line groove gets shallower than this


@dataclass(frozen=True)
class HeadResolution:
    """Tessellation of the built-in head (the defaults give ~23.1k skin vertices, ~53k triangles in all)."""

    cranium_rows: int = 34
    face_rows: int = 112
    columns: int = 128  # the face's column spacing is that of a ring of this many (see _column_angles)
    eye_rings: int = 20
    eye_segments: int = 32
    lid_rows: int = 9
    lid_columns: int = 27


def _params(shape: np.ndarray, age: float, gender: float, ethnicity: str | None = None) -> dict[str, float]:
    shape = np.asarray(shape, dtype=np.float64)
    if shape.shape != (N_SHAPE,):
        raise ValueError(f"shape parameters must have shape ({N_SHAPE},), got {shape.shape}")
    if ethnicity is not None and ethnicity not in ETHNICITY_OFFSETS:
        raise ValueError(f"unknown ethnicity {ethnicity!r}; choose one of {', '.join(ETHNICITY_OFFSETS)}")
    shift = ETHNICITY_OFFSETS.get(ethnicity, {})
    p = {
        name: mean + SPREAD * std * float(shape[i]) + a * age + g * gender + shift.get(name, 0.0)
        for i, (name, mean, std, a, g) in enumerate(SHAPE_PARAMETERS)
    }
    for k, mode in enumerate(FACE_MODES):
        for name, loading in mode.items():
            p[name] += loading * float(shape[N_PARAMS + k])
    return p


def _features_y(p: dict[str, float]) -> tuple[float, float, float]:
    """Heights (mm) of the nose tip, the nose base and the lip line for parameters ``p``."""
    y_tip = -33.0 * p["nose_length"] * p["face_length"]
    y_base = y_tip - 8.5 * p["nose_protrusion"]
    return y_tip, y_base, y_base - 14.0 * p["philtrum"] - 2.0


def _row_heights(n: int, top: float, bottom: float, p: dict[str, float]) -> np.ndarray:
    """Face/neck row heights for this identity: densest at its own lip line (so the lips and
    the mouth opening are resolved), dense over the lips, nose and eyes."""
    y_tip, y_base, ym = _features_y(p)
    ys = np.linspace(top, bottom, 4000)
    dens = 0.35 + 1.0 * smoothstep(-135, -118, ys) * smoothstep(30, 18, ys)
    dens += 0.9 * np.exp(-(((ys - ym) / 9) ** 2))  # lips
    dens += 2.2 * np.exp(-(((ys - ym) / 2.0) ** 2))  # the lip line
    dens += 0.4 * np.exp(-(((ys - y_base) / 5) ** 2))  # nose base
    dens += 0.4 * np.exp(-(((ys - p["eye_height"] - 2) / 10) ** 2))  # eyes
    cum = np.concatenate([[0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.abs(np.diff(ys)))])
    return np.interp(np.linspace(0, cum[-1], n), cum, ys)


# The columns behind the face are spaced by arc length along the mean head's cross-section at
# ear height (half-width, front and back depth in mm, as ``BuiltinHead._profiles`` at y = -10):
# EAR_ARC over the outer ears (z from EAR_ZONE[0] to EAR_ZONE[1]), BACK_ARC behind them.
EAR_SECTION = (73.0, 90.0, 94.0)
EAR_ZONE = (-38.0, 20.0)
EAR_ARC = 2.8
BACK_ARC = 9.0


def _column_angles(n: int) -> np.ndarray:
    """Azimuths in (-pi, pi), 0 = front, increasing; symmetric about the midline.

    Over the face (within 1.2 rad) the columns of an ``n``-column ring that is densest at the
    front; beyond, columns ``EAR_ARC`` mm apart over the ears (so an ear's rim is a clean
    curve), widening to ``BACK_ARC`` behind them."""
    u = np.linspace(-1.0, 1.0, n, endpoint=False) + 1.0 / n
    ring = np.pi * (0.42 * u + 0.58 * u**3)
    front = ring[np.abs(ring) < 1.2]
    last, step = front[-1], front[-1] - front[-2]
    phi = np.linspace(last, np.pi, 4000)
    w, zf, zb = EAR_SECTION
    cp = np.cos(phi)
    x, z = w * np.sin(phi), np.where(cp > 0, zf * np.abs(cp) ** 0.72, -zb * np.abs(cp) ** 0.9)
    ds = np.hypot(np.gradient(x, phi), np.gradient(z, phi))  # mm per rad
    lo, hi = EAR_ZONE
    arc = EAR_ARC + (step * ds[0] - EAR_ARC) * smoothstep(hi, z[0], z) + (BACK_ARC - EAR_ARC) * smoothstep(lo, lo - 25.0, z)
    density = ds / arc  # columns per rad
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(phi))])
    count = int(round(cum[-1] - 0.5))  # the last column half a step short of the back
    side = np.interp(np.arange(1, count + 1) * cum[-1] / (count + 0.5), cum, phi)
    return np.concatenate([-side[::-1], front, side])


class BuiltinHead:
    """The project's own parametric head (implements ``generation.face_model.FaceModel``)."""

    name = "builtin"
    n_shape = N_SHAPE

    def __init__(self, resolution: HeadResolution = HeadResolution()) -> None:
        self.res = resolution
        self._phi = _column_angles(resolution.columns)  # the skin grid's column azimuths
        self._template_mesh: Mesh | None = None
        self._lids: list[Eyelid] | None = None
        # Layout of the vertex array, filled by _build.
        mean = np.zeros(N_SHAPE)
        verts, faces, layout = self._build(_params(mean, 0.3, 0.0), layout_only=False)
        self._layout = layout
        self._faces = faces
        self._template_vertices = verts
        self._regions = self._make_regions(verts)

    # ------------------------------------------------------------------ FaceModel API
    def template(self) -> Mesh:
        return Mesh(
            self._template_vertices,
            self._faces,
            None,
            self._regions,
            {k: np.arange(a, b, dtype=np.int32) for k, (a, b) in self._layout.items()},
        )

    def identity(
        self, shape: np.ndarray, age: float = 0.0, gender: float = 0.0, ethnicity: str | None = None
    ) -> np.ndarray:
        verts, _, _ = self._build(_params(shape, float(age), float(gender), ethnicity), layout_only=False)
        return verts

    def sample_shape(self, rng: np.random.Generator) -> np.ndarray:
        return np.clip(rng.standard_normal(N_SHAPE), -2.5, 2.5)

    def landmarks(self, vertices: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for side in ("left", "right"):
            a, b = self._layout[f"{side}_eyeball"]
            out[f"{side}_eye"] = 0.5 * (vertices[a] + vertices[b - 1])  # front and back poles
        out.update({k: p.astype(np.float32) for k, p in self._feature_points(vertices).items()})
        out["eye_radius"] = np.float32(EYE_RADIUS)
        return out

    def eyelids(self) -> list[Eyelid]:
        if self._lids is None:
            self._lids = self._make_eyelids()
        return self._lids

    # ------------------------------------------------------------------ construction
    def _build(self, p: dict[str, float], layout_only: bool) -> tuple[np.ndarray, np.ndarray, dict]:
        r = self.res
        skin_v = self._skin(p)
        rows = r.cranium_rows + r.face_rows
        cols = len(self._phi)
        n_skin = len(skin_v)
        # faces: top pole fan, grid, bottom cap fan
        top = 0
        grid0 = 1
        bottom = n_skin - 1
        f_top = np.stack(
            [np.full(cols, top), grid0 + np.arange(cols), grid0 + (np.arange(cols) + 1) % cols], 1
        )
        f_grid = grid_faces(rows, cols, wrap_cols=True, offset=grid0)
        last = grid0 + (rows - 1) * cols
        f_bot = np.stack(
            [np.full(cols, bottom), last + (np.arange(cols) + 1) % cols, last + np.arange(cols)], 1
        )
        parts_v = [skin_v]
        parts_f = [_orient_outward(skin_v, np.concatenate([f_top, f_grid, f_bot]))]
        layout = {"head": (0, n_skin)}
        n = n_skin
        eyes = self._eye_geometry(p)
        for side in ("left", "right"):
            c = eyes[side]
            ev, ef = _eyeball(c, EYE_RADIUS, r.eye_rings, r.eye_segments)
            ef = _orient_outward(ev - c, ef)
            parts_v.append(ev)
            parts_f.append(ef + n)
            layout[f"{side}_eyeball"] = (n, n + len(ev))
            n += len(ev)
            for kind in ("upper", "lower"):
                lv, lf = _lid_shell(c, eyes["shape"][side], kind, r.lid_rows, r.lid_columns)
                parts_v.append(lv)
                parts_f.append(lf + n)
                layout[f"{side}_{kind}_lid"] = (n, n + len(lv))
                n += len(lv)
        verts = np.concatenate(parts_v).astype(np.float32)
        faces = np.concatenate(parts_f).astype(np.int32)
        return verts, faces, layout

    def _eye_geometry(self, p: dict[str, float]) -> dict:
        ex = 31.5 + p["eye_spacing"]
        ey = p["eye_height"]
        out: dict = {"shape": {}}
        for side, s in (("left", 1.0), ("right", -1.0)):
            x = s * ex
            zf = self._face_depth(np.array([x]), np.array([ey]), p, with_sockets=False)[0]
            z = zf - 16.0 - p["eye_depth"]
            out[side] = np.array([x, ey + 0.4 * s * p["asymmetry"], z])
            out["shape"][side] = {
                "upper": np.radians(_LID_UPPER) * p["eye_size"],
                "lower": -np.radians(_LID_LOWER) * p["eye_size"],
                "corner": np.radians(_LID_CORNER) * p["eye_width"],
                "tilt": np.radians(p["canthal_tilt"]),
                "side": s,
            }
        return out

    # skin ---------------------------------------------------------------------------
    def _profiles(self, p: dict[str, float]):
        """Cross-section half-width W, front depth Zf, back depth Zb, centre cz per height."""
        hw, hd = p["head_width"], p["head_depth"]
        fl = p["face_length"]
        nw = p["neck_width"]
        ys = np.array([30, 0, -20, -45, -62, -80, -100, -122, -140, -175, -215.0])
        ys = np.where(ys < 0, ys * np.where(ys > -125, fl, 1.0), ys)
        W = np.array([75, 74, 72.5, 68, 64, 58, 53, 51, 52, 56, 58.0]) * hw
        W[-4:] = np.array([49, 47, 52, 56.0]) * nw
        Zf = np.array([90, 91, 89, 87, 84, 74, 60, 42, 38, 44, 50.0]) * hd
        Zb = np.array([100, 97, 92, 84, 74, 68, 62, 60, 60, 62, 62.0]) * hd
        cz = np.array([0, 0, 0, -2, -5, -10, -14, -16, -18, -18, -18.0])
        return ys, W, Zf, Zb, cz

    def _skin(self, p: dict[str, float]) -> np.ndarray:
        r = self.res
        ys, W, Zf, Zb, cz = self._profiles(p)
        y_top = 118.0 * p["head_height"]
        y0 = ys[0]
        # cranium rows: elliptical dome over the first cross-section
        th = np.linspace(0, np.pi / 2, r.cranium_rows + 1)[1:]
        th = th - 0.5 * (th[1] - th[0]) * (th < np.pi / 2)  # keep the last row exactly at y0
        th[-1] = np.pi / 2
        slope = 1.0 + 0.06 * p["forehead_slope"]
        cran_y = y0 + (y_top - y0) * np.cos(th)
        cran_s = np.sin(th)
        face_y = _row_heights(r.face_rows + 1, y0, -215.0, p)[1:]
        row_y = np.concatenate([cran_y, face_y])
        row_W = np.concatenate([W[0] * cran_s, catmull_rom(face_y, ys[::-1], W[::-1])])
        row_Zf = np.concatenate(
            [Zf[0] * cran_s ** slope, catmull_rom(face_y, ys[::-1], Zf[::-1])]
        )
        row_Zb = np.concatenate([Zb[0] * cran_s, catmull_rom(face_y, ys[::-1], Zb[::-1])])
        row_cz = np.concatenate([np.full(len(cran_y), cz[0]), catmull_rom(face_y, ys[::-1], cz[::-1])])

        phi = self._phi
        sp, cp = np.sin(phi), np.cos(phi)
        front = cp > 0
        ang = np.abs(cp) ** np.where(front, 0.72, 0.9) * np.sign(cp)
        X = row_W[:, None] * sp[None, :]
        Zd = np.where(front[None, :], row_Zf[:, None], row_Zb[:, None])
        Z = row_cz[:, None] + Zd * ang[None, :]
        Y = np.repeat(row_y[:, None], len(phi), axis=1)

        # Frontal relief: offsets along z, faded out towards the sides.
        fw = smoothstep(0.05, 0.45, cp)[None, :] * np.ones_like(X)
        Z = Z + fw * self._relief(X, Y, p)
        # Eye sockets: the skin dips onto the eyelid shells (hidden between their layers)
        # and, inside the palpebral opening, behind the eyeball.
        eyes = self._eye_geometry(p)
        for side in ("left", "right"):
            bowl = _socket_depth(X, Y, eyes[side], eyes["shape"][side])
            Z = np.where(fw > 0.5, smin(Z, bowl, 2.5), Z)
        # Ears: bumps outwards on the sides.
        X = X + self._ears(Y, Z, sp[None, :], p)
        # Hair volume is added per identity by generation.hair, not here.
        verts = np.stack([X, Y, Z], axis=-1).reshape(-1, 3)
        top = np.array([[0.0, y_top, row_cz[0]]])
        bottom = np.array([[0.0, face_y[-1], row_cz[-1]]])
        return np.concatenate([top, verts, bottom])

    def _face_depth(self, x, y, p, with_sockets: bool) -> np.ndarray:
        """Front-surface depth z(x, y) near the midline region (for placing the eyes)."""
        ys, W, Zf, Zb, cz = self._profiles(p)
        base_w = catmull_rom(y, ys[::-1], W[::-1])
        base_zf = catmull_rom(y, ys[::-1], Zf[::-1])
        base_cz = catmull_rom(y, ys[::-1], cz[::-1])
        phi = np.arcsin(np.clip(x / base_w, -1, 1))
        z = base_cz + base_zf * np.cos(phi) ** 0.72
        return z + self._relief(x, y, p)

    def _relief(self, X: np.ndarray, Y: np.ndarray, p: dict[str, float]) -> np.ndarray:
        """Sum of the facial features as z offsets (mm) at frontal coordinates (X, Y)."""
        ax = np.abs(X)
        fl = p["face_length"]
        ey = p["eye_height"]
        z = np.zeros_like(X, dtype=np.float64)
        # Forehead and brow ridge.
        z += 2.0 * p["forehead_bulge"] * gauss2(X, Y, 0, 45, 38, 22)
        z += 4.2 * p["brow_ridge"] * np.exp(-(((Y - ey - 12.5) / 6.0) ** 2)) * smoothstep(58, 30, ax)
        z -= 1.2 * p["brow_ridge"] * gauss2(X, Y, 0, ey + 8, 6, 6)  # glabella dip
        z -= 2.0 * p["temple_hollow"] * gauss2(ax, Y, 64, 18, 9, 14)
        # Cheekbones and cheeks.
        chy = -18 * fl + p["cheekbone_height"]
        z += 6.0 * p["cheekbone_prominence"] * gauss2(ax, Y, 44, chy, 14, 10)
        z += p["cheek_fullness"] * gauss2(ax, Y, 38, -42 * fl, 16, 16)
        # Nose.
        nl, npr, nw = p["nose_length"], p["nose_protrusion"], p["nose_width"]
        y_tip, y_base, ym = _features_y(p)
        y_root = ey + 2.0
        prof_y = np.array([y_base - 3, y_base, y_tip - 4, y_tip, 0.5 * (y_root + y_tip), y_root, y_root + 12])
        prof_z = np.array([0, 2.5, 15, 22.5, 13 + 2.5 * p["nose_hump"], 8.0 * p["nose_bridge"], 0]) * np.array(
            [1, 1, npr, npr, npr, 1, 1]
        )
        prof_w = np.array([6.0, 6.0, 7.0, 6.0 * p["nose_tip"], 5.5, 6.5, 9]) * np.array([nw, nw, nw, 1, nw, 1, 1])
        order = np.argsort(prof_y)
        pz = catmull_rom(Y, prof_y[order], prof_z[order])
        pw = catmull_rom(Y, prof_y[order], prof_w[order])
        inside = (Y > prof_y.min()) & (Y < prof_y.max())
        z += np.where(inside, pz * np.exp(-0.5 * (X / pw) ** 2), 0.0)
        # Alae: a rounded wing each side of the tip, set off from the cheek by the alar crease.
        ala_x, ala_y = 11.5 * nw, y_tip - 5.0
        z += 9.0 * npr * gauss2(ax, Y, ala_x, ala_y, 5.0 * nw, 4.8)
        ring = np.hypot((ax - ala_x) / (6.5 * nw), (Y - ala_y) / 6.0)
        z -= 1.5 * np.exp(-(((ring - 1.0) / 0.3) ** 2)) * smoothstep(ala_x - 2.0, ala_x + 2.0, ax + 0.6 * (ala_y - Y))
        # Mouth: muzzle, lips, lip line, philtrum.
        mw = 26.0 * p["mouth_width"]
        z += (6.0 + p["mouth_protrusion"]) * gauss2(X, Y, 0, ym - 2, 36, 24)
        corner = smoothstep(mw, mw * 0.55, ax)
        bow = 1.4 * np.exp(-((X / 5.5) ** 2))
        ul = p["upper_lip"]
        z += 4.2 * ul * corner * np.exp(-(((Y - (ym + 4.0 * ul - 0.4 * bow)) / (3.6 * ul)) ** 2))
        ll = p["lower_lip"]
        z += 6.5 * ll * corner * np.exp(-(((Y - (ym - 5.2 * ll)) / (4.0 * ll)) ** 2))
        z -= 2.0 * smoothstep(mw + 1, mw - 6, ax) * np.exp(-(((Y - ym) / 0.9) ** 2))
        # The mouth slot: between the lips the lip line runs MOUTH_DEPTH mm back into the head
        # (the two rows nearest it; the rows are densest there), so lips that part (AU10, AU25,
        # AU26) open onto a dark interior instead of stretched lip.
        z -= MOUTH_DEPTH * smoothstep(mw - 8, mw - 14, ax) * np.exp(-(((Y - ym) / 0.5) ** 4))
        z -= 0.6 * np.exp(-((X / 2.6) ** 2)) * smoothstep(ym + 2, ym + 5, Y) * smoothstep(y_base, y_base - 3, Y)
        # Nasolabial folds from the alae to beside the mouth corners.
        d = segment_distance(ax, Y, 15.0 * nw + 4, y_tip - 4, mw + 3, ym - 4)
        z -= 0.8 * p["nasolabial"] * np.exp(-((d / 3.5) ** 2))
        # Chin and jaw.
        ych = -108 * fl + p["chin_height"]
        z += (8.0 + p["chin_protrusion"]) * gauss2(X, Y, 0, ych + 6, 16 * p["chin_width"], 12)
        jaw = gauss2(ax, Y, 0, -96 * fl, 48 * p["jaw_width"], 16)
        z += 12.0 * jaw * smoothstep(ych - 9, ych + 1, Y)
        z += 2.5 * p["jowls"] * gauss2(ax, Y, 36, -86 * fl, 9, 9)
        # Low-frequency identity modes and a little asymmetry.
        z += 1.6 * p["mode_a"] * gauss2(X, Y, 0, -20, 45, 50)
        z += 1.2 * p["mode_b"] * np.sin(Y / 38.0) * gauss2(X, Y, 0, -30, 55, 70)
        z += 1.2 * p["mode_c"] * np.cos(X / 22.0) * gauss2(X, Y, 0, -10, 60, 60)
        z += 1.0 * p["mode_d"] * gauss2(ax, Y, 30, -60, 20, 25)
        z += 0.8 * p["asymmetry"] * np.tanh(X / 30.0) * gauss2(X, Y, 0, -30, 60, 60)
        return z

    def _ears(self, Y: np.ndarray, Z: np.ndarray, sp: np.ndarray, p: dict[str, float]) -> np.ndarray:
        """The outer ears, as relief pushed out of the head's sides (mm along x).

        Each ear is about 62 x 34 mm (times ``ear_size``), from the brow's height to the nose
        base's, its long axis leaning back 15 degrees. It is joined to the head along its front
        edge and stands out towards its back rim (``ear_protrusion``: 17 mm there), so seen from
        the front it is a flap beyond the head's outline; the helix is a raised rim and the
        concha a bowl in front of the ear's middle."""
        es = p["ear_size"]
        side = np.sign(sp) * smoothstep(0.75, 0.95, np.abs(sp))
        half_h, half_w, tilt = 31.0 * es, 17.0 * es, np.radians(15.0)
        back, up = -(Z + 8.0), Y + 13.0  # from the ear's centre: towards the back of the head, up
        v = back * np.sin(tilt) + up * np.cos(tilt)  # along the ear, up
        u = back * np.cos(tilt) - up * np.sin(tilt)  # across it, towards its back rim
        vn = np.clip(v / half_h, -1.5, 1.5)
        w = half_w * (0.82 + 0.22 * vn)  # the top (helix) wider than the lobe
        r = np.hypot(u / w, v / half_h)
        inside = smoothstep(1.0, 0.9, r)
        stand = 17.0 * p["ear_protrusion"] * (0.3 + 0.7 * smoothstep(-0.9, 0.7, u / w))
        rim = np.exp(-(((r - 0.84) / 0.1) ** 2)) * smoothstep(-0.6, 0.2, u / w + 0.5 * vn)
        concha = np.exp(-(((u + 0.25 * w) / (0.42 * w)) ** 2) - ((v + 0.12 * half_h) / (0.33 * half_h)) ** 2)
        return side * inside * np.maximum(stand * (1.0 + 0.25 * rim) - 6.0 * concha, 0.5)

    # eyelids, regions, landmarks ------------------------------------------------------
    def _make_eyelids(self) -> list[Eyelid]:
        lids = []
        for side in ("left", "right"):
            for kind in ("upper", "lower"):
                a, b = self._layout[f"{side}_{kind}_lid"]
                closure = _lid_closure(kind, self.res.lid_rows, self.res.lid_columns)
                lids.append(Eyelid(side, kind, np.arange(a, b, dtype=np.int32), closure))
        return lids

    def _make_regions(self, v: np.ndarray) -> dict[str, np.ndarray]:
        a, b = self._layout["head"]
        skin = np.arange(a, b)
        x, y, z = v[skin].T
        front = z > 35
        ax = np.abs(x)
        reg = {
            "forehead": front & (y > 22) & (y < 70) & (ax < 45),
            "brows": front & (y > 6) & (y < 24) & (ax > 6) & (ax < 52),
            "glabella": front & (y > 2) & (y < 22) & (ax <= 9),
            "eyes": front & (y > -12) & (y < 10) & (ax > 14) & (ax < 50),
            "nose": front & (y > -46) & (y < 6) & (ax < 20),
            "cheeks": front & (y > -55) & (y < -8) & (ax > 20) & (ax < 62),
            "upper_lip": front & (y > -64) & (y < -44) & (ax < 30),
            "lower_lip": front & (y > -76) & (y < -63) & (ax < 28),
            "chin": front & (y > -125) & (y <= -76) & (ax < 30),
            "scalp": (y > 40) | ((z < 0) & (y > -40)),
            "neck": y < -125,
        }
        out = {k: skin[m].astype(np.int32) for k, m in reg.items()}
        for side in ("left", "right"):
            for kind in ("upper", "lower"):
                a, b = self._layout[f"{side}_{kind}_lid"]
                out[f"{side}_{kind}_lid"] = np.arange(a, b, dtype=np.int32)
                # Loop positions per column: outer rows 0..R-1, the lashes' tip R, inner rows R+1..2R.
                # The lash line: the two outer rows nearest the margin, the lashes, the inner margin.
                R = self.res.lid_rows
                pos = np.arange(b - a - 2) % (2 * R + 1)
                out[f"{side}_{kind}_lid_margin"] = (a + np.where((pos >= R - 2) & (pos <= R + 1))[0]).astype(np.int32)
                out[f"{side}_{kind}_lid_lashes"] = (a + np.where(pos == R)[0]).astype(np.int32)
            a, b = self._layout[f"{side}_eyeball"]
            out[f"{side}_eyeball"] = np.arange(a, b, dtype=np.int32)
        return out

    def _feature_points(self, v: np.ndarray) -> dict[str, np.ndarray]:
        """Nose, mouth and chin landmarks found on this mesh's own relief (not the template's
        rows), so they follow each identity's nose length, philtrum and lips.

        The skin is a (rows, columns) grid at fixed heights; the two middle columns straddle
        the midline. upper_lip / lower_lip are the lips' most protruding midline points.
        """
        r = self.res
        rows, cols = r.cranium_rows + r.face_rows, len(self._phi)
        a, _ = self._layout["head"]
        grid = v[a + 1 : a + 1 + rows * cols].astype(np.float64).reshape(rows, cols, 3)
        mid = 0.5 * (grid[:, cols // 2 - 1] + grid[:, cols // 2])  # (rows, 3) midline profile
        y, z = mid[:, 1], mid[:, 2]

        def argmax_in(lo, hi, values):
            idx = np.where((y > lo) & (y < hi))[0]
            return idx[np.argmax(values[idx])]

        tip = argmax_in(-50, 0, z)
        root = argmax_in(-2, 14, -z)
        # Lip line: the deepest midline groove 15-40 mm below the nose tip.
        idx = np.where((y < y[tip] - 15) & (y > y[tip] - 40))[0]
        idx = idx[(idx >= 2) & (idx < len(z) - 2)]
        resid = z[idx] - 0.5 * (z[idx - 2] + z[idx + 2])  # depth below the rows 2 above and below
        line = idx[np.argmin(resid)]
        ym = y[line]
        # The lips' most protruding midline points (a posed mouth may leave a window empty).
        # The upper window stops below the nose: on a face whose upper lip has no bump of its
        # own, z rises all the way to the nose tip.
        up_top = ym + min(6.0, 0.3 * (y[tip] - ym))
        up_rows, low_rows = np.where((y > ym + 0.5) & (y < up_top))[0], np.where((y > ym - 8.0) & (y < ym - 0.5))[0]
        up = 1 if y[line + 1] > ym else -1  # the row index step that goes up the face
        upper = up_rows[np.argmax(z[up_rows])] if len(up_rows) else line + up
        lower = low_rows[np.argmax(z[low_rows])] if len(low_rows) else line - up
        chin = argmax_in(ym - 60, ym - 20, z)
        # Lip corners: where the lip-line groove (depth below the rows 2 above and below) fades.
        # (An absolute depth: the mouth slot makes the middle of the groove far deeper than the
        # lip-line crease that fades at the corners.)
        groove = 0.5 * (grid[line - 2, :, 2] + grid[line + 2, :, 2]) - grid[line, :, 2]
        deep = groove > _CORNER_GROOVE
        front = grid[line, :, 2] > z[line] - 40
        corners = {}
        for name, side in (("mouth_left", 1.0), ("mouth_right", -1.0)):
            ok = np.where(deep & front & (side * grid[line, :, 0] > 0))[0]
            corners[name] = grid[line, ok[np.argmax(side * grid[line, ok, 0])]]
        # The lip line's centre on the skin: its own row runs into the mouth slot, so its depth
        # is that of the lips' surface either side.
        centre = mid[line].copy()
        centre[2] = 0.5 * (z[line - 2] + z[line + 2])
        return {
            "nose_tip": mid[tip],
            "nose_root": mid[root],
            "mouth_center": centre,
            **corners,
            "upper_lip": mid[upper],
            "lower_lip": mid[lower],
            "chin": mid[chin],
        }


# --------------------------------------------------------------------------- eye parts
def _eyeball(center: np.ndarray, radius: float, rings: int, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed sphere with its pole pointing forward (+z); rings are dense near the cornea.

    Vertex 0 is the front pole, the last vertex the back pole; ring k sits at polar angle
    ``_eye_ring_angles(rings)[k]`` from the forward axis.
    """
    g = _eye_ring_angles(rings)
    t = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    sg, cg = np.sin(g)[:, None], np.cos(g)[:, None]
    pts = np.stack([sg * np.cos(t), sg * np.sin(t), cg * np.ones_like(t)], -1).reshape(-1, 3)
    v = np.concatenate([[[0, 0, 1.0]], pts, [[0, 0, -1.0]]]) * radius + center
    n = segments
    f_front = np.stack([np.zeros(n), 1 + np.arange(n), 1 + (np.arange(n) + 1) % n], 1)
    f_grid = grid_faces(rings, n, wrap_cols=True, offset=1)
    last = 1 + (rings - 1) * n
    back = len(v) - 1
    f_back = np.stack([np.full(n, back), last + (np.arange(n) + 1) % n, last + np.arange(n)], 1)
    return v, np.concatenate([f_front, f_grid, f_back]).astype(np.int32)


# Half the angular gap (radians, about 0.1 mm on the eyeball) between the two rings that hold
# each of the eye's colour edges.
_EDGE_GAP = 0.008


def _eye_ring_angles(rings: int) -> np.ndarray:
    """Polar angles of the eyeball rings: dense over the cornea, with a ring just inside and
    just outside each colour edge (``EYE_COLOUR_EDGES``), so that pupil, iris and limbal ring
    end in circles, not in the zigzag that interpolating colour across wide rings draws."""
    edges = [e + d for e in EYE_COLOUR_EDGES for d in (-_EDGE_GAP, _EDGE_GAP)]
    front = np.array(sorted([0.09, 0.38, *edges, 0.56, 0.66]))
    back = np.linspace(0.8, np.pi - 0.15, rings - len(front))
    return np.concatenate([front, back])


def _almond(beta: np.ndarray, corner: float) -> np.ndarray:
    """The lid margins' profile across the eye: 1 in the middle, 0 at the canthi (azimuth
    ``corner``), almond-shaped between."""
    return np.cos(0.5 * np.pi * np.clip(beta / corner, -1, 1)) ** 0.9


def _socket_depth(X: np.ndarray, Y: np.ndarray, center: np.ndarray, shape: dict) -> np.ndarray:
    """Skin depth of the eye socket: on a sphere inside the lid slab, behind the eyeball in
    the opening (enlarged by a few degrees so the step stays hidden under the lids)."""
    ex, ey, ez = center
    r_skin = EYE_RADIUS + 0.5 * sum(_UPPER_LID_GAP)
    dx, dy = X - ex, Y - ey
    rho = np.hypot(dx, dy)
    # Just under each lid's outer surface, so skin and lid meet at a grazing angle and no seam
    # rings the eye (a ring reads as an open eye to a tracker even when the lids are shut).
    r_bowl = EYE_RADIUS + np.where(dy > 0, _UPPER_LID_GAP[1] - 0.2, _LOWER_LID_GAP[1] - 0.15)
    # The lids show a few millimetres beyond their margins; further out the skin folds over
    # them (the upper lid crease, the lid-cheek junction) and the brow sits on that skin.
    rc = np.where(dy > 0, 0.68, 0.88) * r_bowl
    # Below the eye the sphere's edge is rounded over LOWER_SOCKET_ROUNDING mm, so the skin
    # turns from the sphere to the cheek in a curve. Where it met the cheek's rise at a sharp
    # edge, a flat shelf under the lid ended in a wall that faced the lights: a bright ring
    # under every eye (goggles).
    clamped = np.minimum(rho, rc)
    rounded = rc - LOWER_SOCKET_ROUNDING * np.logaddexp(0.0, (rc - rho) / LOWER_SOCKET_ROUNDING)
    rho_c = clamped + smoothstep(0.0, -3.0, dy) * (rounded - clamped)
    z = ez + np.sqrt(np.maximum(r_bowl**2 - rho_c**2, 0.0)) + 0.3 * np.maximum(rho - rc, 0.0) ** 2
    z = z + 0.12 * np.maximum(-dy - 5.0, 0.0) ** 2  # the cheek meets the lower lid sooner
    beta = np.arcsin(np.clip(dx / r_skin, -1, 1))
    alpha = np.arcsin(np.clip(dy / (r_skin * np.cos(beta)), -1, 1))
    g = _almond(beta, shape["corner"])
    tilt = shape["tilt"] * 0.5 * (beta * shape["side"]) / shape["corner"]
    m = np.radians(5.0)
    inside = np.minimum(tilt + shape["upper"] * g + m - alpha, alpha - (tilt + shape["lower"] * g) + m)
    inside = np.minimum(inside, shape["corner"] + m - np.abs(beta))
    hole = smoothstep(0.0, np.radians(3.0), inside) * (rho < r_skin)
    return z - 9.0 * hole


def _lid_angles(kind: str, shape: dict, rows: int, cols: int, closure: float = 0.0):
    """(rows, cols) elevation angles and (cols,) azimuths of a lid shell's grid."""
    beta = np.linspace(-np.radians(80), np.radians(80), cols)
    # The lid margin: an almond outline meeting at the canthi, tilted by the canthal angle.
    g = _almond(beta, shape["corner"])
    tilt = shape["tilt"] * 0.5 * (beta * shape["side"]) / shape["corner"]
    margin_u = tilt + shape["upper"] * g
    margin_l = tilt + shape["lower"] * g
    t = np.linspace(0.0, 1.0, rows)[:, None]
    if kind == "upper":
        far = np.radians(80)
        margin = margin_u
    else:
        far = -np.radians(76)
        margin = margin_l
    return far + t * (margin[None, :] - far), beta


def _lid_closure(kind: str, rows: int, cols: int) -> np.ndarray:
    """Per-vertex rotation (radians) that closes the lid, for the shell vertex layout.

    The upper lid rotates down until its margin passes 3 degrees below the open lower-lid
    margin; the lower lid rotates up by 0.65 of the aperture (its margin's middle rises about
    4.5 mm at AU7 = 5, near the 4 mm open face rigs give AU7; a tracker reads about half of a
    lower lid's movement, ``benchmarks/tracker_ceiling.py``).
    Rotation is proportional to the row parameter t (0 at the far edge, 1 at the margin),
    which keeps the shell on its sphere and never inverts its rows.
    """
    shape = {"upper": np.radians(_LID_UPPER), "lower": -np.radians(_LID_LOWER), "corner": np.radians(_LID_CORNER), "tilt": 0.0, "side": 1.0}
    beta = np.linspace(-np.radians(80), np.radians(80), cols)
    g = _almond(beta, shape["corner"])
    t = np.linspace(0.0, 1.0, rows)[:, None]
    if kind == "upper":
        travel = (shape["upper"] - shape["lower"]) * g + np.radians(3.0)
    else:
        travel = 0.65 * (shape["upper"] - shape["lower"]) * g
    per_vertex = t * travel[None, :]  # (rows, cols)
    # Shell vertex order: for each column, the loop outer rows 0..R-1, the lashes' tip (it turns
    # with the margin), then inner rows R-1..0, followed by the two end-cap centres.
    loop = np.concatenate([per_vertex, per_vertex[-1:], per_vertex[::-1]], axis=0)  # (2R + 1, cols)
    body = loop.T.reshape(-1)
    caps = np.array([loop[:, 0].mean(), loop[:, -1].mean()])
    return np.concatenate([body, caps]).astype(np.float32)


def _lid_shell(center: np.ndarray, shape: dict, kind: str, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """A closed eyelid slab on two spheres about the eyeball centre, with a fin of lashes
    along its margin.

    Directions are (sin b, cos b sin a, cos b cos a): rotating about the x axis through the
    centre changes the elevation a only, which is how the rig opens and closes the lid.
    """
    alpha, beta = _lid_angles(kind, shape, rows, cols)
    gap = _UPPER_LID_GAP if kind == "upper" else _LOWER_LID_GAP
    r_in, r_out = EYE_RADIUS + gap[0], EYE_RADIUS + gap[1]
    # Thinner towards the margin, as real lids are.
    # The lashes: a fin from the margin, out and away from the eye (up for the upper lid), long
    # in the middle and short at the canthi. Open, the upper lashes point forward and up, a dark
    # band over the eye; closed, they point forward and down, seen end-on: a thin line.
    g = _almond(beta, shape["corner"])
    length, lift = (_LASH_UPPER, np.radians(8.0)) if kind == "upper" else (_LASH_LOWER, -np.radians(5.0))
    tip_a = alpha[-1] + lift * g
    tip_r = r_out + length * (0.25 + 0.75 * g)
    loop_a = np.concatenate([alpha, tip_a[None], alpha[::-1]], axis=0)  # (2R + 1, cols)
    radius = np.concatenate([np.full((rows, len(beta)), r_out), tip_r[None], np.full((rows, len(beta)), r_in)])
    b = beta[None, :]
    d = np.stack([np.sin(b) * np.ones_like(loop_a), np.cos(b) * np.sin(loop_a), np.cos(b) * np.cos(loop_a)], -1)
    pts = (d * radius[..., None]).transpose(1, 0, 2).reshape(-1, 3)  # column-major: (cols, 2R + 1)
    n_loop = 2 * rows + 1
    f = grid_faces(cols, n_loop, wrap_cols=True)
    cap0 = pts[:n_loop].mean(0)
    cap1 = pts[-n_loop:].mean(0)
    v = np.concatenate([pts, [cap0, cap1]]) + center
    i0, i1 = len(pts), len(pts) + 1
    ring0 = np.arange(n_loop)
    ring1 = (cols - 1) * n_loop + np.arange(n_loop)
    f0 = np.stack([np.full(n_loop, i0), (ring0 + 1) % n_loop, ring0], 1)
    f1 = np.stack([np.full(n_loop, i1), ring1, ring1[0] + (ring0 + 1) % n_loop], 1)
    faces = np.concatenate([f, f0, f1])
    # The caps must wind like the body; the whole shell then faces outwards by volume sign.
    if not is_closed_manifold(faces):
        faces = np.concatenate([f, f0[:, ::-1], f1[:, ::-1]])
    faces = _orient_outward(v, faces)
    return v, faces.astype(np.int32)


def _orient_outward(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Flip all faces of a closed mesh if its signed volume is negative."""
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    vol = np.einsum("ij,ij->i", a, np.cross(b, c)).sum()
    return f if vol > 0 else f[:, ::-1].copy()
