"""Mesh renderer: a composition of camera projection, rasterization and shading.

``fragments = rasterize(camera.project(vertices), faces)``, then one fused numba kernel shades
every covered sample (Blinn-Phong, vertex colours or a uv texture) and composes it over the
background. Per-vertex ``extra_attrs`` (e.g. AU heatmap values) are interpolated from the same
fragments, so a heatmap costs one interpolation, not another rasterization.

Supersampling (ssaa = k > 1): the mesh is rasterized at k x the resolution (k x k samples per
pixel on a regular grid), then per output pixel:
    rgb      box average of the k*k shaded-or-background samples;
    mask     True where at least half of the samples are covered;
    depth    the nearest (minimum) sample depth, +inf when no sample is covered;
    attrs    the mean over covered samples, 0 when none is covered.
``fragments`` stays at the supersampled resolution (kH, kW).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numba
import numpy as np

from ..mesh import Mesh, vertex_normals
from .cameras import PerspectiveCamera
from .rasterizer import Fragments, rasterize
from .shading import Lights, interpolate, shade_compose_kernel, srgb_tables, texture_as_float

DEFAULT_ALBEDO = (0.7, 0.7, 0.7)  # when neither the call nor the mesh gives colours


@dataclass(frozen=True)
class RenderOutput:
    """One rendered view.

    rgb: (H, W, 3) uint8 shaded image over the background.
    depth: (H, W) float32 view depth in mm (along the optical axis), +inf where empty.
    mask: (H, W) bool, True where the mesh covers the pixel.
    fragments: the rasterizer's output (at ssaa x the resolution when supersampling).
    attrs: name -> (H, W, C) float32 per-pixel interpolation of each ``extra_attrs`` entry,
        0 where empty.
    """

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    fragments: Fragments
    attrs: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class MeshRenderer:
    """Renders a triangle mesh from a ``PerspectiveCamera`` on the CPU.

    lights: the light rig; ssaa: supersampling factor k (k x k samples per pixel);
    cull_backfaces: drop faces turned away from the camera (closed meshes). When False, faces
    seen from behind are lit with their normal flipped towards the camera (two-sided).
    """

    lights: Lights = field(default_factory=Lights)
    ssaa: int = 1
    cull_backfaces: bool = True

    # Derived once from ``lights`` (not an argument): the tabulated specular lobe.
    _spec_table: np.ndarray = field(init=False, repr=False, compare=False)
    _srgb: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if int(self.ssaa) != self.ssaa or self.ssaa < 1:
            raise ValueError(f"ssaa must be a positive integer, got {self.ssaa}")
        object.__setattr__(self, "_spec_table", self.lights.specular_table())
        object.__setattr__(self, "_srgb", srgb_tables())

    def __call__(
        self,
        mesh: Mesh | tuple[np.ndarray, np.ndarray],
        camera: PerspectiveCamera,
        *,
        vertex_colors: np.ndarray | None = None,
        uvs: np.ndarray | None = None,
        texture: np.ndarray | None = None,
        vertex_gloss: np.ndarray | None = None,
        background: np.ndarray | tuple[int, int, int] | None = None,
        extra_attrs: dict[str, np.ndarray] | None = None,
    ) -> RenderOutput:
        """Render ``mesh`` (a Mesh or (vertices, faces)) seen by ``camera``.

        Albedo: ``vertex_colors`` (V, 3) in [0, 1], else ``uvs`` (V, 2) with ``texture``
        (Th, Tw, 3) (uint8 or float in [0, 1]), else the mesh's colours, else grey.
        vertex_gloss: (V,) >= 0, each surface's share of the lights' highlight (e.g. 0 on an
        eye's iris, which a broad skin highlight would grey out); None: 1 everywhere.
        background: (H, W, 3) uint8 image or an RGB tuple of 0-255 ints; None is black.
        """
        verts, faces, mesh_colors = unpack_mesh(mesh)
        h, w, k = camera.height, camera.width, int(self.ssaa)
        # Validate every input before any work.
        colors, uvs, tex, use_texture = shading_inputs(len(verts), mesh_colors, vertex_colors, uvs, texture)
        gloss, use_gloss = gloss_inputs(vertex_gloss, len(verts))
        bg_img, use_bg_img, bg_const = background_inputs(background, h, w)
        extra = attribute_inputs(extra_attrs, len(verts))

        # Geometry: project once, rasterize at k x resolution.
        screen = camera.project(verts)
        if k > 1:
            screen[:, :2] *= k
        frags = rasterize(screen, faces, h * k, w * k, self.cull_backfaces)

        # Shade + compose in one pass.
        normals = vertex_normals(verts, faces)
        rot, _ = camera.rotation_translation()
        dirs, cols, amb, spec, wrap = self.lights.packed(rot, self._spec_table)
        rgb = np.empty((h, w, 3), dtype=np.uint8)
        cov = np.empty((h, w), dtype=np.float32)
        shade_compose_kernel(
            frags.face_idx, frags.bary, faces, verts, normals, colors, uvs, tex, use_texture,
            gloss, use_gloss, camera.position, dirs, cols, amb, spec, wrap, not self.cull_backfaces,
            bg_img, use_bg_img, bg_const, k, rgb, cov, *self._srgb,
        )

        if k == 1:
            depth, mask = frags.depth, frags.face_idx >= 0
            attrs = {name: interpolate(frags, faces, a) for name, a in extra.items()}
        else:
            depth = np.empty((h, w), dtype=np.float32)
            _min_pool(frags.depth, k, depth)
            mask = cov >= 0.5
            attrs = {}
            for name, a in extra.items():
                hi = interpolate(frags, faces, a)
                lo = np.empty((h, w, a.shape[1]), dtype=np.float32)
                _covered_mean_pool(hi, frags.face_idx, k, lo)
                attrs[name] = lo
        return RenderOutput(rgb=rgb, depth=depth, mask=mask, fragments=frags, attrs=attrs)

    def render_batch(
        self,
        vertices: Sequence[np.ndarray],
        faces: np.ndarray,
        cameras: Sequence[PerspectiveCamera],
        *,
        vertex_colors: np.ndarray | None = None,
        uvs: np.ndarray | None = None,
        texture: np.ndarray | None = None,
        vertex_gloss: np.ndarray | None = None,
        background: np.ndarray | tuple[int, int, int] | None = None,
        extra_attrs: Sequence[dict[str, np.ndarray] | None] | None = None,
    ) -> Iterator[RenderOutput]:
        """Every mesh (vertices[e], one topology: an identity's expressions) from every camera.

        Yields ``RenderOutput`` for (e, j) in order e = 0, 1, ... (outer), j (inner);
        ``extra_attrs[e]`` belongs to mesh e. The interface every renderer backend shares
        (``generation.render.backends``); this one renders a frame at a time, on demand.
        """
        attrs = batch_attribute_list(extra_attrs, len(vertices))
        for verts, extra in zip(vertices, attrs):
            for cam in cameras:
                yield self(
                    (verts, faces), cam, vertex_colors=vertex_colors, uvs=uvs, texture=texture,
                    vertex_gloss=vertex_gloss, background=background, extra_attrs=extra,
                )


def batch_attribute_list(extra_attrs, n_meshes: int) -> list:
    """``extra_attrs`` of ``render_batch`` as a list with one entry (dict or None) per mesh."""
    attrs = [None] * n_meshes if extra_attrs is None else list(extra_attrs)
    if len(attrs) != n_meshes:
        raise ValueError(f"extra_attrs needs one entry per mesh ({n_meshes}), got {len(attrs)}")
    return attrs


def shading_inputs(
    nv: int, mesh_colors: np.ndarray | None, vertex_colors, uvs, texture
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(colours (V, 3), uvs (V, 2), texture (Th, Tw, 3) float32, use_texture), validated.

    Albedo: ``vertex_colors``, else ``uvs`` + ``texture``, else the mesh's colours, else grey;
    the unused arrays are small dummies (the kernels take every argument).
    """
    if vertex_colors is not None and (uvs is not None or texture is not None):
        raise ValueError("give vertex_colors or uvs + texture, not both")
    if vertex_colors is None and (uvs is not None or texture is not None):
        if uvs is None or texture is None:
            raise ValueError("uvs and texture must be given together")
        uvs = np.ascontiguousarray(uvs, dtype=np.float32)
        if uvs.shape != (nv, 2):
            raise ValueError(f"uvs must have shape ({nv}, 2), got {uvs.shape}")
        tex = texture_as_float(texture)
        if tex.shape[2] != 3:
            raise ValueError(f"texture must have shape (Th, Tw, 3), got {tex.shape}")
        return np.zeros((1, 3), dtype=np.float32), uvs, tex, True
    if vertex_colors is None:
        vertex_colors = mesh_colors
    if vertex_colors is None:
        colors = np.empty((nv, 3), dtype=np.float32)
        colors[:] = DEFAULT_ALBEDO
    else:
        colors = np.ascontiguousarray(vertex_colors, dtype=np.float32)
        if colors.shape != (nv, 3):
            raise ValueError(f"vertex_colors must have shape ({nv}, 3), got {colors.shape}")
    return colors, np.zeros((1, 2), np.float32), np.zeros((1, 1, 3), np.float32), False


def gloss_inputs(vertex_gloss, nv: int) -> tuple[np.ndarray, bool]:
    """(gloss (V,) float32 or a dummy, use_gloss), validated: None is 1 everywhere."""
    if vertex_gloss is None:
        return np.ones(1, np.float32), False
    gloss = np.ascontiguousarray(vertex_gloss, dtype=np.float32)
    if gloss.shape != (nv,):
        raise ValueError(f"vertex_gloss must have shape ({nv},), got {gloss.shape}")
    if not np.all(gloss >= 0):
        raise ValueError("vertex_gloss must be >= 0 everywhere (0: no highlight, 1: the lights' own)")
    return gloss, True


def attribute_inputs(extra_attrs: dict[str, np.ndarray] | None, nv: int) -> dict[str, np.ndarray]:
    """``extra_attrs`` as name -> (V, C) float32, validated ((V,) becomes (V, 1))."""
    extra = {}
    for name, a in (extra_attrs or {}).items():
        a = np.asarray(a, dtype=np.float32)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[0] != nv:
            raise ValueError(f"extra_attrs[{name!r}] must have shape ({nv}, C), got {a.shape}")
        extra[name] = a
    return extra


def unpack_mesh(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(vertices float32 (V, 3), faces int32 (F, 3), colours or None) from a Mesh or a pair."""
    if isinstance(mesh, Mesh):
        return mesh.vertices, mesh.faces, mesh.colors
    try:
        verts, faces = mesh
    except (TypeError, ValueError):
        raise TypeError(f"expected a Mesh or a (vertices, faces) pair, got {type(mesh).__name__}")
    verts = np.ascontiguousarray(verts, dtype=np.float32)
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {verts.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {faces.shape}")
    return verts, faces, None


def background_inputs(background, h: int, w: int) -> tuple[np.ndarray, bool, np.ndarray]:
    """(image or dummy, use_image, constant rgb float64) for the shading kernel."""
    if background is None:
        return np.zeros((1, 1, 3), np.uint8), False, np.zeros(3)
    if isinstance(background, np.ndarray) and background.ndim == 3:
        if background.shape != (h, w, 3) or background.dtype != np.uint8:
            raise ValueError(
                f"background image must be ({h}, {w}, 3) uint8, got {background.shape} "
                f"{background.dtype}"
            )
        return np.ascontiguousarray(background), True, np.zeros(3)
    rgb = np.asarray(background, dtype=np.float64)
    if rgb.shape != (3,) or (rgb < 0).any() or (rgb > 255).any():
        raise ValueError(f"background colour must be 3 values in 0-255, got {background!r}")
    return np.zeros((1, 1, 3), np.uint8), False, rgb


@numba.njit(cache=True, nogil=True)
def _min_pool(a, k, out):  # pragma: no cover - numba
    """out[i, j] = min of the k x k block of a."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            m = np.inf
            for si in range(i * k, i * k + k):
                for sj in range(j * k, j * k + k):
                    m = min(m, a[si, sj])
            out[i, j] = m


@numba.njit(cache=True, nogil=True)
def _covered_mean_pool(a, face_idx, k, out):  # pragma: no cover - numba
    """out[i, j] = mean of a over the covered samples of the k x k block (0 if none)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for c in range(out.shape[2]):
                out[i, j, c] = 0.0
            n = 0
            for si in range(i * k, i * k + k):
                for sj in range(j * k, j * k + k):
                    if face_idx[si, sj] >= 0:
                        n += 1
                        for c in range(out.shape[2]):
                            out[i, j, c] += a[si, sj, c]
            if n > 0:
                for c in range(out.shape[2]):
                    out[i, j, c] /= n
