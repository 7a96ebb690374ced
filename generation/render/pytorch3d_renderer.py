"""The pytorch3d renderer backend: pytorch3d's ``MeshRasterizer`` finds the fragments, the
project's shading runs in torch on the same device, a whole batch of frames per call.

Same arguments and outputs as the numba ``MeshRenderer`` (``RenderOutput`` numpy arrays, the
conventions of ``cameras.py``, ``renderer.py`` and ``shading.py``: pixel centres, view depth,
Blinn-Phong over vertex colours or a uv texture, the supersampling reductions). Our camera is
handed to pytorch3d as a screen-space ``PerspectiveCameras``: its view frame is ours with x and
y negated (+x left, +y up). Faces with a vertex at view depth <= NEAR_MM are dropped, as the
numba rasterizer drops them. Vertex normals and attribute interpolation are pytorch3d's
(``verts_normals_padded``, ``interpolate_face_attributes``), which compute ours.

Where the two renderers differ (bounds measured in tests/test_render_pytorch3d.py): pytorch3d
has no top-left rule, so a pixel centre lying exactly on an edge may go to either face or, on a
silhouette, to none; it works in float32 where numba shades in float64 (rgb within one level);
the specular lobe is computed with pow, not numba's table (difference < 1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pytorch3d.ops import interpolate_face_attributes
from pytorch3d.renderer import MeshRasterizer, PerspectiveCameras, RasterizationSettings
from pytorch3d.structures import Meshes

from .cameras import NEAR_MM, PerspectiveCamera
from .rasterizer import Fragments
from .renderer import (
    RenderOutput,
    attribute_inputs,
    background_inputs,
    batch_attribute_list,
    gloss_inputs,
    shading_inputs,
    unpack_mesh,
)
from .shading import Lights

# pytorch3d's view frame is ours with x (right -> left) and y (down -> up) negated.
_FLIP_XY = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Pytorch3dRenderer:
    """Renders triangle meshes through pytorch3d on ``device`` ("cuda", "cuda:N" or "cpu").

    lights, ssaa, cull_backfaces: as ``MeshRenderer``. max_batch: frames per rasterizer call
    (GPU memory grows with it: ~30 bytes per sample, plus the coarse rasterizer's bins).
    """

    lights: Lights = field(default_factory=Lights)
    ssaa: int = 1
    cull_backfaces: bool = True
    device: str = "cuda"
    max_batch: int = 64

    def __post_init__(self) -> None:
        if int(self.ssaa) != self.ssaa or self.ssaa < 1:
            raise ValueError(f"ssaa must be a positive integer, got {self.ssaa}")
        if int(self.max_batch) != self.max_batch or self.max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer, got {self.max_batch}")
        torch.device(self.device)  # a malformed device string fails here, not mid-batch

    def __call__(
        self,
        mesh,
        camera: PerspectiveCamera,
        *,
        vertex_colors: np.ndarray | None = None,
        uvs: np.ndarray | None = None,
        texture: np.ndarray | None = None,
        vertex_gloss: np.ndarray | None = None,
        background: np.ndarray | tuple[int, int, int] | None = None,
        extra_attrs: dict[str, np.ndarray] | None = None,
    ) -> RenderOutput:
        """Render ``mesh`` (a Mesh or (vertices, faces)) seen by ``camera``; see ``MeshRenderer``."""
        verts, faces, mesh_colors = unpack_mesh(mesh)
        if vertex_colors is None and uvs is None and texture is None:
            vertex_colors = mesh_colors
        return next(iter(self.render_batch(
            [verts], faces, [camera], vertex_colors=vertex_colors, uvs=uvs, texture=texture,
            vertex_gloss=vertex_gloss, background=background, extra_attrs=[extra_attrs],
        )))

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
        """Every mesh from every camera, ``max_batch`` frames per rasterizer call; see
        ``MeshRenderer.render_batch`` (same order, same outputs). Cameras share one image size."""
        faces = np.ascontiguousarray(faces, dtype=np.int32)
        verts = [unpack_mesh((v, faces))[0] for v in vertices]
        nv = len(verts[0]) if verts else 0
        if any(len(v) != nv for v in verts):
            raise ValueError(f"all meshes must share one topology: vertex counts {sorted({len(v) for v in verts})}")
        cameras = list(cameras)
        if not verts or not cameras:
            return
        h, w = cameras[0].height, cameras[0].width
        if any((c.height, c.width) != (h, w) for c in cameras):
            raise ValueError(f"cameras of one batch must share an image size, got {sorted({(c.height, c.width) for c in cameras})}")
        if faces.size and (faces.min() < 0 or faces.max() >= nv):
            raise ValueError(f"faces index vertices in [0, {nv}), got [{faces.min()}, {faces.max()}]")
        colors, uvs, tex, use_texture = shading_inputs(nv, None, vertex_colors, uvs, texture)
        gloss, use_gloss = gloss_inputs(vertex_gloss, nv)
        bg_img, use_bg_img, bg_const = background_inputs(background, h, w)
        extras = [attribute_inputs(a, nv) for a in batch_attribute_list(extra_attrs, len(verts))]
        channels = _attribute_channels(extras)

        dev = torch.device(self.device)
        v_all = torch.as_tensor(np.stack(verts), device=dev)  # (E, V, 3)
        f_t = torch.as_tensor(faces, dtype=torch.int64, device=dev)  # (F, 3)
        # Normals of the whole mesh (no face dropped), once per mesh, as the numba renderer.
        normals = Meshes(verts=v_all, faces=f_t.expand(len(verts), -1, -1)).verts_normals_padded()
        if use_texture:
            albedo_v = torch.as_tensor(uvs, device=dev)
            tex_t = torch.as_tensor(tex, device=dev).permute(2, 0, 1)[None]  # (1, 3, Th, Tw)
        else:
            albedo_v, tex_t = torch.as_tensor(colors, device=dev), None
        # The gloss rides with the albedo through the one interpolation (1 where not given).
        albedo_v = torch.cat([albedo_v, torch.as_tensor(gloss if use_gloss else np.ones(nv, np.float32), device=dev)[:, None]], 1)
        bg_np = bg_img.astype(np.float32) if use_bg_img else np.tile(bg_const.astype(np.float32), (h, w, 1))
        bg = torch.as_tensor(bg_np, device=dev)  # (H, W, 3) in 0-255
        attr_v = [
            torch.as_tensor(np.concatenate([x.get(n, np.zeros((nv, c), np.float32)) for n, c in channels.items()], 1)
                            if channels else np.zeros((nv, 0), np.float32), device=dev)
            for x in extras
        ]
        pairs = [(e, j) for e in range(len(verts)) for j in range(len(cameras))]
        for start in range(0, len(pairs), self.max_batch):
            chunk = pairs[start:start + self.max_batch]
            yield from self._render_chunk(
                chunk, v_all, f_t, normals, albedo_v, tex_t, attr_v, cameras, bg, extras, channels
            )

    def _render_chunk(self, chunk, v_all, f_t, normals, albedo_v, tex_t, attr_v, cameras, bg, extras, channels):
        """RenderOutputs of the (mesh, camera) pairs in ``chunk``: rasterize, shade, reduce."""
        dev, k = v_all.device, int(self.ssaa)
        h, w = cameras[0].height, cameras[0].width
        n_faces = f_t.shape[0]
        e_idx = torch.as_tensor([e for e, _ in chunk], device=dev)
        cams = [cameras[j] for _, j in chunk]
        rot = torch.as_tensor(np.stack([c.rotation_translation()[0] for c in cams]), dtype=torch.float32, device=dev)
        trans = torch.as_tensor(np.stack([c.rotation_translation()[1] for c in cams]), dtype=torch.float32, device=dev)
        verts = v_all[e_idx]  # (B, V, 3)

        # Drop faces touching the near plane (degenerate faces cover nothing), as numba does.
        z = verts @ rot[:, 2, :, None] + trans[:, 2, None, None]  # (B, V, 1) view depth
        near = (z[:, :, 0][:, f_t] <= NEAR_MM).any(-1)  # (B, F)
        faces_b = torch.where(near[..., None], torch.zeros_like(f_t), f_t)
        meshes = Meshes(verts=verts, faces=faces_b)

        raster = MeshRasterizer(
            cameras=_pytorch3d_cameras(cams, k, dev),
            raster_settings=RasterizationSettings(
                image_size=(h * k, w * k),
                faces_per_pixel=1,
                # Coarse-to-fine bins on a GPU (pytorch3d's default size; the CPU has none). Room
                # for every face in a bin: an overflowing bin would drop faces (holes).
                bin_size=None,
                max_faces_per_bin=n_faces if dev.type == "cuda" else None,
                perspective_correct=True,
                cull_backfaces=self.cull_backfaces,
            ),
        )
        frags = raster(meshes)
        p2f = frags.pix_to_face  # (B, kH, kW, 1) packed face index, -1 where empty
        covered = p2f[..., 0] >= 0

        # One interpolation for everything the shader and the outputs need.
        b = len(chunk)
        per_vertex = torch.cat(
            [normals[e_idx], verts, albedo_v.expand(b, -1, -1), torch.stack([attr_v[e] for e, _ in chunk])], -1
        )  # (B, V, 3 + 3 + 3|2 + 1 + C)
        face_vals = per_vertex.reshape(-1, per_vertex.shape[-1])[meshes.faces_packed()]  # (B F, 3, D)
        px = interpolate_face_attributes(p2f, frags.bary_coords, face_vals)[..., 0, :]  # (B, kH, kW, D)
        n_alb = 2 if tex_t is not None else 3
        albedo = px[..., 6:6 + n_alb]
        if tex_t is not None:
            albedo = _sample_texture(tex_t, albedo)
        gloss = px[..., 6 + n_alb:7 + n_alb]
        eye = torch.as_tensor(np.stack([c.position for c in cams]), dtype=torch.float32, device=dev)
        # Lit in linear light, as renderer.py: the sRGB albedo decoded, the result encoded.
        shaded = self._blinn_phong(px[..., 0:3], px[..., 3:6], _srgb_to_linear(albedo), gloss, eye, cams)
        background = bg.repeat_interleave(k, 0).repeat_interleave(k, 1)
        samples = torch.where(covered[..., None], 255.0 * _linear_to_srgb(shaded), background)

        # k x k blocks -> pixels, as renderer.py documents.
        rgb = _block(samples, k).mean((2, 4))
        rgb = torch.floor(rgb + 0.5).clamp(0, 255).to(torch.uint8)
        count = _block(covered.float(), k).sum((2, 4))
        mask = count >= 0.5 * k * k
        zbuf = torch.where(covered, frags.zbuf[..., 0], torch.full_like(frags.zbuf[..., 0], float("inf")))
        depth = _block(zbuf, k).amin((2, 4))
        attr_px = px[..., 7 + n_alb:] * covered[..., None]
        attrs = _block(attr_px, k).sum((2, 4)) / count.clamp(min=1.0)[..., None]

        local = torch.where(covered, p2f[..., 0] - n_faces * torch.arange(b, device=dev)[:, None, None], -1)
        bary = frags.bary_coords[..., 0, :] * covered[..., None]
        out = {name: t.cpu().numpy() for name, t in dict(
            rgb=rgb, mask=mask, depth=depth, attrs=attrs, face_idx=local.to(torch.int32), zbuf=zbuf, bary=bary
        ).items()}
        for i, (e, _) in enumerate(chunk):
            offsets = np.cumsum([0, *channels.values()])
            yield RenderOutput(
                rgb=out["rgb"][i],
                depth=out["depth"][i],
                mask=out["mask"][i],
                fragments=Fragments(out["face_idx"][i], out["zbuf"][i], out["bary"][i]),
                attrs={n: out["attrs"][i][..., offsets[m]:offsets[m + 1]]
                       for m, n in enumerate(channels) if n in extras[e]},
            )

    def _blinn_phong(self, normals, points, albedo, gloss, eye, cams):
        """(B, kH, kW, 3) unclipped Blinn-Phong colour, the formula of ``shading.blinn_phong``
        (``gloss`` (B, kH, kW, 1) scales the highlight)."""
        dev = normals.device
        packed = [self.lights.packed(c.rotation_translation()[0]) for c in cams]
        dirs = torch.as_tensor(np.stack([p[0] for p in packed]), dtype=torch.float32, device=dev)  # (B, L, 3)
        cols = torch.as_tensor(packed[0][1], dtype=torch.float32, device=dev)  # (L, 3)
        amb = torch.as_tensor(packed[0][2], dtype=torch.float32, device=dev)  # (3,)
        wrap = torch.as_tensor(packed[0][4][:3], dtype=torch.float32, device=dev)  # (3,)
        view = eye[:, None, None, :] - points
        n = normals
        if not self.cull_backfaces:  # two-sided: light a face seen from behind from its back
            n = torch.where(((n * view).sum(-1, keepdim=True) < 0), -n, n)
        n = F.normalize(n, dim=-1, eps=1e-30)
        view = F.normalize(view, dim=-1, eps=1e-30)
        ndl = torch.einsum("bhwc,blc->bhwl", n, dirs)
        lit = ndl > 0
        wrapped = ((ndl[..., None] + wrap) / (1.0 + wrap)).clamp(min=0.0)  # (B, kH, kW, L, 3)
        diffuse = amb + (wrapped * cols).sum(-2)
        if self.lights.specular > 0:
            half = F.normalize(dirs[:, None, None, :, :] + view[..., None, :], dim=-1, eps=1e-30)
            ndh = (n[..., None, :] * half).sum(-1).clamp(max=1.0)
            lobe = self.lights.specular * ndh.clamp(min=0.0) ** self.lights.shininess
            spec = torch.einsum("bhwl,lc->bhwc", torch.where(lit & (ndh > 0), lobe, 0.0), cols)
        else:
            spec = 0.0
        return albedo * diffuse + gloss * spec


def _attribute_channels(extras: list[dict[str, np.ndarray]]) -> dict[str, int]:
    """name -> channel count over the batch's attribute dicts (a name keeps one count)."""
    channels: dict[str, int] = {}
    for x in extras:
        for name, a in x.items():
            if channels.setdefault(name, a.shape[1]) != a.shape[1]:
                raise ValueError(f"extra_attrs[{name!r}] must keep its channel count across meshes: {channels[name]} and {a.shape[1]}")
    return channels


def _pytorch3d_cameras(cams: Sequence[PerspectiveCamera], k: int, device) -> PerspectiveCameras:
    """Our cameras as screen-space pytorch3d cameras, at k x the resolution (supersampling).

    pytorch3d maps row vectors, x_view = x_world @ R + T, in a view frame with x, y negated.
    """
    rs, ts = zip(*(c.rotation_translation() for c in cams))
    rot = np.stack([(_FLIP_XY @ r).T for r in rs])
    trans = np.stack([_FLIP_XY @ t for t in ts])
    return PerspectiveCameras(
        focal_length=torch.tensor([[k * c.focal_px] * 2 for c in cams], dtype=torch.float32),
        principal_point=torch.tensor([[k * p for p in c.principal_point] for c in cams], dtype=torch.float32),
        R=torch.as_tensor(rot, dtype=torch.float32),
        T=torch.as_tensor(trans, dtype=torch.float32),
        in_ndc=False,
        image_size=torch.tensor([[k * c.height, k * c.width] for c in cams]),
        device=device,
    )


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    """``shading.srgb_to_linear`` in torch."""
    c = c.clamp(0.0, 1.0)
    return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """``shading.linear_to_srgb`` in torch (clipped to [0, 1] first, as the kernel clips)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(1e-12) ** (1 / 2.4) - 0.055)


def _sample_texture(tex: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """(..., 3) bilinear, edge-clamped lookup of (1, 3, Th, Tw) ``tex`` at (..., 2) uv, the
    convention of ``shading.sample_texture`` (grid_sample's align_corners=False + border)."""
    grid = torch.stack([2.0 * uv[..., 0] - 1.0, 1.0 - 2.0 * uv[..., 1]], -1).reshape(1, -1, 1, 2)
    out = F.grid_sample(tex, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, :, 0].T.reshape(uv.shape[:-1] + (3,))


def _block(a: torch.Tensor, k: int) -> torch.Tensor:
    """(B, kH, kW, ...) -> (B, H, k, W, k, ...): each pixel's k x k samples on axes 2 and 4."""
    b, hk, wk = a.shape[:3]
    return a.reshape(b, hk // k, k, wk // k, k, *a.shape[3:])
