"""Shading as pure functions of fragments: attribute interpolation, texture lookup, Blinn-Phong.

Every function here is also available per pixel inside numba (the ``_..._px`` helpers), so the
renderer's fused kernel and these array functions compute exactly the same numbers.

Texture coordinates follow OpenGL/pytorch3d: u in [0, 1] runs left to right across the
texture, v in [0, 1] runs bottom to top (v = 1 is texture row 0); texel centres sit at
((col + 0.5) / Tw, 1 - (row + 0.5) / Th); lookups outside clamp to the edge texels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numba
import numpy as np

from .rasterizer import Fragments

Vec3 = tuple[float, float, float]
SPECULAR_TABLE_SIZE = 4096  # intervals of the tabulated specular lobe (see Lights.specular_table)
SRGB_TABLE_SIZE = 4096  # intervals of the tabulated sRGB transfer curves (see srgb_tables)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """Linear light of sRGB-encoded values in [0, 1] (IEC 61966-2-1)."""
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """sRGB encoding of linear light in [0, 1] (IEC 61966-2-1), what a camera writes."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def srgb_tables() -> tuple[np.ndarray, np.ndarray]:
    """(decode, encode) (SRGB_TABLE_SIZE + 1,) float64: the two curves sampled on [0, 1]; the
    renderer interpolates them per sample instead of calling pow (error below 0.3 of a level)."""
    x = np.linspace(0.0, 1.0, SRGB_TABLE_SIZE + 1)
    return srgb_to_linear(x), linear_to_srgb(x)


@dataclass(frozen=True)
class Lights:
    """Directional lights for Blinn-Phong shading of a face portrait.

    directions: per light, a vector pointing from the surface TOWARDS the light (normalised
        internally), in world space (head frame), or in the frontal camera's frame carried
        round with the camera when ``follow_camera`` is True.
    colors: per light RGB in [0, 1]; diffuse: per light intensity.
    ambient, ambient_color: uniform light added to every lit pixel.
    specular: strength of the white Blinn-Phong highlight (scaled per light by colour and
        intensity); shininess: its exponent.
    wrap: per colour channel, how far diffuse light wraps past the terminator (0: Lambert):
        max(0, (n.l + w) / (1 + w)), the wrap-lighting approximation of subsurface scattering
        (Green 2004, GPU Gems ch. 16). In skin red light scatters furthest, so a lit face's
        shadow edges turn soft and warm.

    The defaults are a portrait rig: a warm key light from above, in front and to image left
    in the frontal view (the subject's right, -x), and a soft cool fill from image right.
    """

    directions: tuple[Vec3, ...] = ((-0.5, 0.55, 0.67), (0.6, 0.0, 0.8))
    colors: tuple[Vec3, ...] = ((1.0, 0.97, 0.92), (0.85, 0.9, 1.0))
    diffuse: tuple[float, ...] = (0.75, 0.3)
    ambient: float = 0.22
    ambient_color: Vec3 = (1.0, 1.0, 1.0)
    specular: float = 0.12
    shininess: float = 20.0
    follow_camera: bool = False
    wrap: Vec3 = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        n = len(self.directions)
        if len(self.colors) != n or len(self.diffuse) != n:
            raise ValueError(
                f"directions, colors and diffuse need one entry per light; got "
                f"{n}, {len(self.colors)}, {len(self.diffuse)}"
            )
        for d in self.directions:
            if len(d) != 3 or not np.linalg.norm(d) > 0:
                raise ValueError(f"each direction must be a non-zero 3-vector, got {d}")
        if self.shininess <= 0:
            raise ValueError(f"shininess must be positive, got {self.shininess}")
        if len(self.wrap) != 3 or not all(0.0 <= w < 1.0 for w in self.wrap):
            raise ValueError(f"wrap must be three values in [0, 1), one per colour channel, got {self.wrap}")

    def exposed(self, gain: float) -> "Lights":
        """These lights times ``gain``: a camera's exposure, which scales the whole image of the
        lit face (the highlights scale with each light's diffuse intensity, see ``packed``)."""
        if not gain > 0:
            raise ValueError(f"exposure gain must be positive, got {gain}")
        return replace(self, diffuse=tuple(gain * d for d in self.diffuse), ambient=gain * self.ambient)

    def specular_table(self) -> np.ndarray:
        """(SPECULAR_TABLE_SIZE + 1,) float64 specular * x**shininess at x = 0, 1/N, ..., 1.

        The kernels interpolate it linearly instead of calling pow per pixel (pow was half the
        shading time); with N = 4096 the error is below 1e-5 for shininess <= 100.
        """
        x = np.linspace(0.0, 1.0, SPECULAR_TABLE_SIZE + 1)
        return self.specular * x**self.shininess

    def packed(
        self, view_rotation: np.ndarray | None = None, spec_table: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        """(dirs (L, 3), colours x diffuse (L, 3), ambient rgb (3,), specular table, wrap (6,):
        the three wraps, then 1 / (1 + wrap)) float64 arrays for the kernels; ``view_rotation``
        (camera R) is used when following the camera, ``spec_table`` (a cached
        ``specular_table()``) saves recomputing it."""
        dirs = np.asarray(self.directions, dtype=np.float64).reshape(-1, 3)
        dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        if self.follow_camera and view_rotation is not None:
            frontal = np.diag([1.0, -1.0, -1.0])  # world -> view rotation at yaw = pitch = 0
            dirs = dirs @ frontal.T @ view_rotation  # frontal world -> view -> this world
        cols = np.asarray(self.colors, dtype=np.float64).reshape(-1, 3)
        cols = cols * np.asarray(self.diffuse, dtype=np.float64)[:, None]
        amb = self.ambient * np.asarray(self.ambient_color, dtype=np.float64)
        return (
            np.ascontiguousarray(dirs),
            np.ascontiguousarray(cols),
            amb,
            self.specular_table() if spec_table is None else spec_table,
            np.concatenate([self.wrap, 1.0 / (1.0 + np.asarray(self.wrap))]).astype(np.float64),
        )


# --------------------------------------------------------------------------- per-pixel helpers


@numba.njit(cache=True, inline="always")
def _blinn_phong_px(nx, ny, nz, ar, ag, ab, vx, vy, vz, dirs, cols, amb, spec, wrap, gloss):
    """Blinn-Phong colour of one point; normal and view direction need not be unit length.

    spec is ``Lights.specular_table()``: specular * x**shininess sampled on [0, 1]; wrap is
    ``Lights.wrap`` then 1 / (1 + wrap) (``Lights.packed``): the diffuse term per channel is
    max(0, (n.l + w) / (1 + w)); gloss scales the highlight (the surface's own, 1 = the lights').
    """
    nn = np.sqrt(nx * nx + ny * ny + nz * nz)
    if nn > 0.0:
        nx, ny, nz = nx / nn, ny / nn, nz / nn
    vn = np.sqrt(vx * vx + vy * vy + vz * vz)
    if vn > 0.0:
        vx, vy, vz = vx / vn, vy / vn, vz / vn
    dr, dg, db = amb[0], amb[1], amb[2]
    sr = sg = sb = 0.0
    n_tab = spec.shape[0] - 1
    has_spec = spec[n_tab] > 0.0
    wr, wg, wb = wrap[0], wrap[1], wrap[2]
    reach = -max(wr, max(wg, wb))
    for k in range(dirs.shape[0]):
        lx, ly, lz = dirs[k, 0], dirs[k, 1], dirs[k, 2]
        ndl = nx * lx + ny * ly + nz * lz
        if ndl <= reach:
            continue
        dr += cols[k, 0] * max(0.0, (ndl + wr) * wrap[3])
        dg += cols[k, 1] * max(0.0, (ndl + wg) * wrap[4])
        db += cols[k, 2] * max(0.0, (ndl + wb) * wrap[5])
        if has_spec and ndl > 0.0:
            hx, hy, hz = lx + vx, ly + vy, lz + vz
            hn = np.sqrt(hx * hx + hy * hy + hz * hz)
            if hn > 0.0:
                ndh = (nx * hx + ny * hy + nz * hz) / hn
                if ndh > 0.0:
                    t = min(ndh, 1.0) * n_tab
                    it = min(int(t), n_tab - 1)
                    s = spec[it] + (t - it) * (spec[it + 1] - spec[it])
                    sr += cols[k, 0] * s
                    sg += cols[k, 1] * s
                    sb += cols[k, 2] * s
    return ar * dr + gloss * sr, ag * dg + gloss * sg, ab * db + gloss * sb


@numba.njit(cache=True, inline="always")
def _curve_px(table, x):
    """A tabulated curve on [0, 1] (``srgb_tables``) at x, clamped, linearly interpolated."""
    n = table.shape[0] - 1
    t = min(max(x, 0.0), 1.0) * n
    i = min(int(t), n - 1)
    return table[i] + (t - i) * (table[i + 1] - table[i])


@numba.njit(cache=True, inline="always")
def _bilinear_px(tex, u, v, c):
    """Bilinearly sampled channel c of (Th, Tw, C) ``tex`` at (u, v), clamped to the edge."""
    th, tw = tex.shape[0], tex.shape[1]
    x = u * tw - 0.5
    y = (1.0 - v) * th - 0.5
    x = min(max(x, 0.0), tw - 1.0)
    y = min(max(y, 0.0), th - 1.0)
    x0 = int(x)
    y0 = int(y)
    x1 = min(x0 + 1, tw - 1)
    y1 = min(y0 + 1, th - 1)
    fx = x - x0
    fy = y - y0
    top = tex[y0, x0, c] * (1.0 - fx) + tex[y0, x1, c] * fx
    bot = tex[y1, x0, c] * (1.0 - fx) + tex[y1, x1, c] * fx
    return top * (1.0 - fy) + bot * fy


# --------------------------------------------------------------------------- array functions


def interpolate(fragments: Fragments, faces: np.ndarray, vertex_attrs: np.ndarray) -> np.ndarray:
    """(H, W, C) float32 per-pixel attribute from (V, C) per-vertex values; zeros where empty.

    A (V,) attribute gives an (H, W) map. Uses the fragments' perspective-correct barycentrics.
    """
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    attrs = np.asarray(vertex_attrs, dtype=np.float32)
    squeeze = attrs.ndim == 1
    if squeeze:
        attrs = attrs[:, None]
    if attrs.ndim != 2:
        raise ValueError(f"vertex_attrs must have shape (V, C) or (V,), got {attrs.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {faces.shape}")
    if faces.size and faces.max() >= len(attrs):
        raise ValueError(
            f"vertex_attrs must have a row per vertex (>= {faces.max() + 1}), got {attrs.shape}"
        )
    h, w = fragments.face_idx.shape
    out = np.empty((h, w, attrs.shape[1]), dtype=np.float32)
    _interpolate_kernel(
        fragments.face_idx, fragments.bary, faces, np.ascontiguousarray(attrs), out
    )
    return out[..., 0] if squeeze else out


@numba.njit(cache=True, nogil=True)
def _interpolate_kernel(face_idx, bary, faces, attrs, out):  # pragma: no cover - numba
    """out[i, j] = sum_k bary[i, j, k] * attrs[faces[f, k]], 0 where face_idx is -1."""
    h, w = face_idx.shape
    nc = attrs.shape[1]
    for i in range(h):
        for j in range(w):
            f = face_idx[i, j]
            if f < 0:
                for c in range(nc):
                    out[i, j, c] = 0.0
                continue
            a, b, d = faces[f, 0], faces[f, 1], faces[f, 2]
            b0, b1, b2 = bary[i, j, 0], bary[i, j, 1], bary[i, j, 2]
            for c in range(nc):
                out[i, j, c] = b0 * attrs[a, c] + b1 * attrs[b, c] + b2 * attrs[d, c]


def texture_as_float(texture: np.ndarray) -> np.ndarray:
    """(Th, Tw, C) texture as contiguous float32; uint8 is scaled to [0, 1]."""
    texture = np.asarray(texture)
    if texture.ndim != 3:
        raise ValueError(f"texture must have shape (Th, Tw, C), got {texture.shape}")
    if texture.dtype == np.uint8:
        return np.ascontiguousarray(texture, dtype=np.float32) / np.float32(255.0)
    return np.ascontiguousarray(texture, dtype=np.float32)


def sample_texture(uv_map: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """(H, W, C) float32 bilinear lookup of (Th, Tw, C) ``texture`` at (H, W, 2) uv coordinates."""
    uv_map = np.asarray(uv_map, dtype=np.float32)
    if uv_map.ndim != 3 or uv_map.shape[2] != 2:
        raise ValueError(f"uv_map must have shape (H, W, 2), got {uv_map.shape}")
    tex = texture_as_float(texture)
    out = np.empty(uv_map.shape[:2] + (tex.shape[2],), dtype=np.float32)
    _sample_kernel(np.ascontiguousarray(uv_map), tex, out)
    return out


@numba.njit(cache=True, nogil=True)
def _sample_kernel(uv, tex, out):  # pragma: no cover - numba
    """out[i, j] = bilinear(tex, uv[i, j])."""
    for i in range(uv.shape[0]):
        for j in range(uv.shape[1]):
            for c in range(tex.shape[2]):
                out[i, j, c] = _bilinear_px(tex, uv[i, j, 0], uv[i, j, 1], c)


def blinn_phong(
    normals: np.ndarray, albedo: np.ndarray, view_dirs: np.ndarray, lights: Lights,
    gloss: np.ndarray | None = None,
) -> np.ndarray:
    """(..., 3) float32 Lambert diffuse + Blinn-Phong specular colour, not clipped.

    normals, albedo, view_dirs: (..., 3); view_dirs point from the surface towards the camera.
    Lights must be in the same frame as the normals (``follow_camera`` is not applied here).
    rgb = albedo * (ambient + sum_k c_k max(0, (n.l_k + w) / (1 + w))) + g sum_k [n.l_k > 0] c_k s max(0, n.h_k)^p
    with c_k = colour_k * diffuse_k, h_k = normalize(l_k + v), s = specular, p = shininess,
    w = wrap per channel (0: Lambert), g = ``gloss`` (...,) the surface's share of the
    highlight (None: 1 everywhere)
    (s x^p is read from a 4097-entry table, linearly interpolated: error < 1e-5).
    """
    n = np.asarray(normals, dtype=np.float32)
    a = np.asarray(albedo, dtype=np.float32)
    v = np.asarray(view_dirs, dtype=np.float32)
    if n.shape[-1:] != (3,) or a.shape != n.shape or v.shape != n.shape:
        raise ValueError(
            f"normals, albedo, view_dirs must share a shape (..., 3); got {n.shape}, "
            f"{a.shape}, {v.shape}"
        )
    g = np.ones(n.shape[:-1], np.float32) if gloss is None else np.asarray(gloss, dtype=np.float32)
    if g.shape != n.shape[:-1]:
        raise ValueError(f"gloss must have shape {n.shape[:-1]}, got {g.shape}")
    dirs, cols, amb, spec, wrap = lights.packed()
    out = np.empty(n.shape, dtype=np.float32)
    _blinn_phong_kernel(
        np.ascontiguousarray(n.reshape(-1, 3)),
        np.ascontiguousarray(a.reshape(-1, 3)),
        np.ascontiguousarray(v.reshape(-1, 3)),
        np.ascontiguousarray(g.reshape(-1)),
        dirs,
        cols,
        amb,
        spec,
        wrap,
        out.reshape(-1, 3),
    )
    return out


@numba.njit(cache=True, nogil=True, fastmath=True)
def _blinn_phong_kernel(n, a, v, gloss, dirs, cols, amb, spec, wrap, out):  # pragma: no cover - numba
    """Row-wise _blinn_phong_px."""
    for p in range(n.shape[0]):
        r, g, b = _blinn_phong_px(
            n[p, 0], n[p, 1], n[p, 2], a[p, 0], a[p, 1], a[p, 2],
            v[p, 0], v[p, 1], v[p, 2], dirs, cols, amb, spec, wrap, gloss[p],
        )
        out[p, 0] = r
        out[p, 1] = g
        out[p, 2] = b


# --------------------------------------------------------------------------- fused kernel


@numba.njit(cache=True, inline="always")
def _shade_sample_px(
    f, b0, b1, b2, faces, verts, normals, colors, uvs, texture, use_texture, gloss, use_gloss, eye,
    dirs, cols, amb, spec, wrap, two_sided, decode, encode,
):
    """(r, g, b) in 0-255 of one covered sample of face f with barycentrics (b0, b1, b2):
    the albedo (sRGB) decoded to linear light, lit there (the highlight times the interpolated
    per-vertex ``gloss`` when use_gloss), and the result encoded to sRGB."""
    a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
    nx = b0 * normals[a, 0] + b1 * normals[b, 0] + b2 * normals[c, 0]
    ny = b0 * normals[a, 1] + b1 * normals[b, 1] + b2 * normals[c, 1]
    nz = b0 * normals[a, 2] + b1 * normals[b, 2] + b2 * normals[c, 2]
    vx = eye[0] - (b0 * verts[a, 0] + b1 * verts[b, 0] + b2 * verts[c, 0])
    vy = eye[1] - (b0 * verts[a, 1] + b1 * verts[b, 1] + b2 * verts[c, 1])
    vz = eye[2] - (b0 * verts[a, 2] + b1 * verts[b, 2] + b2 * verts[c, 2])
    if two_sided and nx * vx + ny * vy + nz * vz < 0.0:
        nx, ny, nz = -nx, -ny, -nz
    if use_texture:
        u = b0 * uvs[a, 0] + b1 * uvs[b, 0] + b2 * uvs[c, 0]
        v = b0 * uvs[a, 1] + b1 * uvs[b, 1] + b2 * uvs[c, 1]
        ar = _bilinear_px(texture, u, v, 0)
        ag = _bilinear_px(texture, u, v, 1)
        ab = _bilinear_px(texture, u, v, 2)
    else:
        ar = b0 * colors[a, 0] + b1 * colors[b, 0] + b2 * colors[c, 0]
        ag = b0 * colors[a, 1] + b1 * colors[b, 1] + b2 * colors[c, 1]
        ab = b0 * colors[a, 2] + b1 * colors[b, 2] + b2 * colors[c, 2]
    ar, ag, ab = _curve_px(decode, ar), _curve_px(decode, ag), _curve_px(decode, ab)
    gl = b0 * gloss[a] + b1 * gloss[b] + b2 * gloss[c] if use_gloss else 1.0
    r, g, bb = _blinn_phong_px(nx, ny, nz, ar, ag, ab, vx, vy, vz, dirs, cols, amb, spec, wrap, gl)
    return 255.0 * _curve_px(encode, r), 255.0 * _curve_px(encode, g), 255.0 * _curve_px(encode, bb)


@numba.njit(cache=True, nogil=True, fastmath=True)
def shade_compose_kernel(
    face_idx, bary, faces, verts, normals, colors, uvs, texture, use_texture, gloss, use_gloss, eye,
    dirs, cols, amb, spec, wrap, two_sided, bg_img, use_bg_img, bg_const, k, out_rgb, out_cov,
    decode, encode,
):  # pragma: no cover - numba
    """Shade (kH, kW) fragments and box-average k x k blocks over the background into out_rgb.

    Per covered sample: interpolate the normal, world position and albedo (vertex colours, or
    uv + bilinear texture lookup) and, when use_gloss, the per-vertex gloss (V,) that scales
    the highlight; decode the albedo to linear light, Blinn-Phong, clip to [0, 1] and
    encode to sRGB (``decode``, ``encode``: ``srgb_tables``). Empty samples take the
    background (bg_img (H, W, 3) uint8 when use_bg_img, else bg_const (3,) in 0-255).
    out_rgb: (H, W, 3) uint8; out_cov: (H, W) float32 covered fraction of each block.
    """
    h, w = out_rgb.shape[0], out_rgb.shape[1]
    inv_kk = 1.0 / (k * k)
    for i in range(h):
        for j in range(w):
            if use_bg_img:
                bgr, bgg, bgb = (
                    float(bg_img[i, j, 0]), float(bg_img[i, j, 1]), float(bg_img[i, j, 2])
                )
            else:
                bgr, bgg, bgb = bg_const[0], bg_const[1], bg_const[2]
            if k == 1:  # fast path: no block loop
                f = face_idx[i, j]
                if f < 0:
                    acc_r, acc_g, acc_b = bgr, bgg, bgb
                    out_cov[i, j] = 0.0
                else:
                    acc_r, acc_g, acc_b = _shade_sample_px(
                        f, bary[i, j, 0], bary[i, j, 1], bary[i, j, 2], faces, verts, normals,
                        colors, uvs, texture, use_texture, gloss, use_gloss, eye, dirs, cols, amb, spec,
                        wrap, two_sided, decode, encode,
                    )
                    out_cov[i, j] = 1.0
            else:
                acc_r = acc_g = acc_b = 0.0
                n_cov = 0
                for si in range(i * k, i * k + k):
                    for sj in range(j * k, j * k + k):
                        f = face_idx[si, sj]
                        if f < 0:
                            acc_r += bgr
                            acc_g += bgg
                            acc_b += bgb
                            continue
                        n_cov += 1
                        r, g, b = _shade_sample_px(
                            f, bary[si, sj, 0], bary[si, sj, 1], bary[si, sj, 2], faces, verts,
                            normals, colors, uvs, texture, use_texture, gloss, use_gloss, eye, dirs,
                            cols, amb, spec, wrap, two_sided, decode, encode,
                        )
                        acc_r += r
                        acc_g += g
                        acc_b += b
                acc_r *= inv_kk
                acc_g *= inv_kk
                acc_b *= inv_kk
                out_cov[i, j] = n_cov * inv_kk
            out_rgb[i, j, 0] = np.uint8(acc_r + 0.5)
            out_rgb[i, j, 1] = np.uint8(acc_g + 0.5)
            out_rgb[i, j, 2] = np.uint8(acc_b + 0.5)
