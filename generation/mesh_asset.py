"""Meshes as 3D assets: a posed head with its albedo, named parts and labels, as trimesh
objects and as GLB, OBJ or PLY files that any 3D tool opens.

A ``HeadAsset`` is what one file holds: vertices (millimetres, the generator's vertex order),
triangles, the albedo (per-vertex colours, or a UV texture when the diffusion texturer made
one), the parts (head, eyeballs, eyelids: contiguous vertex ranges, each a closed shell) and
the labels (identity, expression, AUs, PSPI). Every format keeps the vertices exactly (float32
in GLB and PLY; enough decimals in OBJ) and in order, so a file read back with ``read_asset``
gives the same arrays.

- GLB: one scene node per part (named), vertex colours or the texture as the material's base
  colour, the labels in the scene's ``extras`` (``trimesh.load(path).metadata``).
- OBJ: one ``o`` object per part, vertex colours after the positions (or ``.mtl`` + PNG), the
  labels as a ``# pain3d-metadata {json}`` line.
- PLY: one mesh, RGBA vertex colours (or ``s``/``t`` UVs), a ``part`` vertex property indexing
  ``metadata["parts"]``, the labels as a ``comment pain3d-metadata {json}`` header line.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

MESH_FORMATS = ("glb", "obj", "ply")
METADATA_TAG = "pain3d-metadata"
_OBJ_MIN_DIGITS = 8


@dataclass(frozen=True)
class Part:
    """A named shell of the mesh: vertices ``start:stop`` and the triangles among them."""

    name: str
    start: int
    stop: int


@dataclass
class HeadAsset:
    """One mesh as a file holds it.

    vertices: (V, 3) float32 millimetres; faces: (F, 3) int32.
    albedo: (V, 3) uint8 vertex colours, or None when ``texture`` is given.
    uvs: (V, 2) float32 and texture: (Th, Tw, 3) uint8, or both None (v points up, as in OBJ).
    parts: contiguous vertex ranges covering 0..V in order; every triangle within one part.
    metadata: JSON-serialisable labels (identity, expression, aus, pspi, ...).
    """

    vertices: np.ndarray
    faces: np.ndarray
    albedo: np.ndarray | None = None
    parts: tuple[Part, ...] = ()
    uvs: np.ndarray | None = None
    texture: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32)
        n = len(self.vertices)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"vertices must have shape (V, 3), got {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or (self.faces.size and (self.faces.min() < 0 or self.faces.max() >= n)):
            raise ValueError(f"faces must be (F, 3) indices into {n} vertices")
        if self.albedo is not None:
            self.albedo = np.ascontiguousarray(self.albedo, dtype=np.uint8)
            if self.albedo.shape != (n, 3):
                raise ValueError(f"albedo must have shape {(n, 3)}, got {self.albedo.shape}")
        if (self.uvs is None) != (self.texture is None):
            raise ValueError("uvs and texture come together: give both or neither")
        if self.uvs is not None:
            self.uvs = np.ascontiguousarray(self.uvs, dtype=np.float32)
            if self.uvs.shape != (n, 2):
                raise ValueError(f"uvs must have shape {(n, 2)}, got {self.uvs.shape}")
            self.texture = np.ascontiguousarray(self.texture, dtype=np.uint8)
            if self.texture.ndim != 3 or self.texture.shape[2] != 3:
                raise ValueError(f"texture must have shape (Th, Tw, 3), got {self.texture.shape}")
        self.parts = check_parts(self.parts, self.faces, n)

    def part_faces(self, part: Part) -> np.ndarray:
        """The part's triangles, indexed into the part's own vertices."""
        inside = (self.faces[:, 0] >= part.start) & (self.faces[:, 0] < part.stop)
        return self.faces[inside] - part.start

    def labels(self) -> dict:
        """The metadata every file carries: the labels plus the part names and ranges."""
        return {**self.metadata, "units": "mm", "parts": [[p.name, p.start, p.stop] for p in self.parts]}


def parts_from_components(components: Mapping[str, np.ndarray], n_vertices: int) -> tuple[Part, ...]:
    """``Mesh.components`` (name -> vertex indices) as contiguous parts in vertex order; a single
    ``head`` part when they are not contiguous ranges covering every vertex."""
    parts = []
    for name, idx in components.items():
        idx = np.asarray(idx)
        if idx.size == 0 or not np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size)):
            return (Part("head", 0, n_vertices),)
        parts.append(Part(str(name), int(idx[0]), int(idx[0] + idx.size)))
    parts.sort(key=lambda p: p.start)
    if not parts or parts[0].start != 0 or parts[-1].stop != n_vertices or any(a.stop != b.start for a, b in zip(parts, parts[1:])):
        return (Part("head", 0, n_vertices),)
    return tuple(parts)


def check_parts(parts: Sequence[Part], faces: np.ndarray, n_vertices: int) -> tuple[Part, ...]:
    """Parts as given when they tile 0..V in order with no triangle across two of them;
    no parts means one ``head`` part. Raises ValueError otherwise."""
    parts = tuple(Part(str(p.name), int(p.start), int(p.stop)) if not isinstance(p, Part) else p for p in parts)
    if not parts:
        return (Part("head", 0, n_vertices),)
    stops = [0] + [p.stop for p in parts]
    if [p.start for p in parts] != stops[:-1] or stops[-1] != n_vertices or any(p.stop <= p.start for p in parts):
        raise ValueError(f"parts must be non-empty contiguous vertex ranges covering 0..{n_vertices} in order")
    if len({p.name for p in parts}) != len(parts):
        raise ValueError("part names must be distinct")
    if len(faces):
        bounds = np.array([p.stop for p in parts])
        which = np.searchsorted(bounds, faces, side="right")
        if not (which == which[:, :1]).all():
            raise ValueError("a triangle joins two parts; parts must be separate shells")
    return parts


def albedo_uint8(colors: np.ndarray) -> np.ndarray:
    """(V, 3) float albedo in [0, 1] -> uint8, as vertex colours are stored in files."""
    return np.round(np.clip(np.asarray(colors, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def texture_albedo(uvs: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """(V, 3) uint8 colour of a UV texture at each vertex (the renderer's bilinear lookup)."""
    from .render.shading import sample_texture, texture_as_float

    uv = np.asarray(uvs, dtype=np.float32)[:, None, :]
    return albedo_uint8(sample_texture(uv, texture_as_float(texture))[:, 0, :3])


# --- trimesh objects ----------------------------------------------------------------------------
def _visual(asset: HeadAsset, start: int, stop: int):
    import trimesh
    from PIL import Image

    if asset.texture is not None:
        material = trimesh.visual.material.SimpleMaterial(
            image=Image.fromarray(asset.texture), name=_texture_name(asset)
        )
        return trimesh.visual.TextureVisuals(uv=asset.uvs[start:stop], material=material)
    if asset.albedo is not None:
        rgba = np.concatenate([asset.albedo[start:stop], np.full((stop - start, 1), 255, np.uint8)], axis=1)
        return trimesh.visual.ColorVisuals(vertex_colors=rgba)
    return None


def to_trimesh(asset: HeadAsset):
    """The whole head as one ``trimesh.Trimesh`` (vertex order kept, no processing); the labels
    in ``.metadata``, each vertex's part index in ``.vertex_attributes["part"]``."""
    import trimesh

    mesh = trimesh.Trimesh(asset.vertices, asset.faces, visual=_visual(asset, 0, len(asset.vertices)), process=False)
    mesh.metadata.update(asset.labels())
    part = np.zeros(len(asset.vertices), np.int32)
    for k, p in enumerate(asset.parts):
        part[p.start : p.stop] = k
    mesh.vertex_attributes["part"] = part
    return mesh


def to_scene(asset: HeadAsset):
    """The head as a ``trimesh.Scene``: one named node per part, the labels in ``.metadata``."""
    import trimesh

    scene = trimesh.Scene()
    for p in asset.parts:
        mesh = trimesh.Trimesh(asset.vertices[p.start : p.stop], asset.part_faces(p), visual=_visual(asset, p.start, p.stop), process=False)
        mesh.metadata["name"] = p.name
        scene.add_geometry(mesh, node_name=p.name, geom_name=p.name)
    scene.metadata.update(asset.labels())
    return scene


# --- files --------------------------------------------------------------------------------------
def _obj_digits(*arrays: np.ndarray) -> int:
    """Decimals that bring every float32 value back exactly (its spacing over four)."""
    values = np.concatenate([np.abs(np.asarray(a, np.float32)).ravel() for a in arrays if a is not None])
    values = values[values > 0]
    if values.size == 0:
        return _OBJ_MIN_DIGITS
    spacing = float(np.spacing(values.min()))
    return int(min(max(math.ceil(-math.log10(spacing / 4)), _OBJ_MIN_DIGITS), 45))


def export_asset(asset: HeadAsset, fmt: str, stem: str = "mesh") -> dict[str, bytes]:
    """File name -> bytes of the asset in ``fmt`` (glb, obj or ply). The main file is
    ``{stem}.{fmt}``; a textured OBJ adds ``{stem}.mtl`` and its texture PNG."""
    from trimesh.exchange.obj import export_obj

    if fmt not in MESH_FORMATS:
        raise ValueError(f"unknown mesh format {fmt!r}; choose one of {', '.join(MESH_FORMATS)}")
    labels = json.dumps(asset.labels(), sort_keys=True)
    if fmt == "glb":
        return {f"{stem}.glb": to_scene(asset).export(file_type="glb")}
    if fmt == "obj":
        digits = _obj_digits(asset.vertices, asset.uvs)
        text, extra = export_obj(
            to_scene(asset), include_normals=False, return_texture=True, mtl_name=f"{stem}.mtl",
            digits=digits, header=f"{METADATA_TAG} {labels}",
        )
        return {f"{stem}.obj": text.encode(), **{name: bytes(data) for name, data in extra.items()}}
    data = to_trimesh(asset).export(file_type="ply")
    magic, fmt_line, rest = data.split(b"\n", 2)
    comments = [f"comment {METADATA_TAG} {labels}"]
    files = {}
    if asset.texture is not None:  # PLY's convention: a TextureFile comment names the image
        image = f"{_texture_name(asset)}.png"
        comments.append(f"comment TextureFile {image}")
        files[image] = _png(asset.texture)
    header = b"\n".join([magic, fmt_line, *(c.encode() for c in comments)]) + b"\n"
    return {f"{stem}.ply": header + rest, **files}


def _texture_name(asset: HeadAsset) -> str:
    """The texture image's name (without extension): one per identity, shared by its files."""
    return f"{asset.metadata.get('identity', 'head')}_albedo"


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def file_metadata(data: bytes, fmt: str) -> dict:
    """The labels a file written by ``export_asset`` carries ({} when it has none)."""
    if fmt == "glb":
        import trimesh

        return dict(trimesh.load(io.BytesIO(data), file_type="glb", process=False).metadata)
    tag = (b"# " if fmt == "obj" else b"comment ") + METADATA_TAG.encode() + b" "
    end = data.find(b"end_header") if fmt == "ply" else min(len(data), 1 << 20)
    for line in data[: end if end >= 0 else None].split(b"\n"):
        if line.startswith(tag):
            return json.loads(line[len(tag) :])
    return {}


def _read_obj(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(vertices, faces, colours or None, uvs or None) of an OBJ in file order. trimesh's OBJ
    loader re-orders the vertices of a textured file (by first use in the faces), so the
    positions are read from the ``v`` lines here (the file still loads in trimesh)."""
    rows = {"v": [], "vt": [], "f": []}
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key in rows:
            rows[key].append(rest.split() if key != "f" else [c.split("/")[0] for c in rest.split()])
    v = np.array(rows["v"], dtype=np.float64)
    faces = np.array(rows["f"], dtype=np.int64) - 1
    colors = albedo_uint8(v[:, 3:6]) if v.shape[1] >= 6 else None
    uvs = np.array(rows["vt"], dtype=np.float32)[:, :2] if rows["vt"] else None
    return v[:, :3].astype(np.float32), faces, colors, uvs


def read_asset(path: str | Path | bytes, fmt: str | None = None) -> HeadAsset:
    """A file written by ``export_asset`` (GLB, OBJ or PLY; a path, or bytes with ``fmt``) back
    as a ``HeadAsset``: vertices in the original order, colours, texture, parts and labels (GLB
    and PLY loaded with trimesh). A textured OBJ or PLY needs its path (the texture is a file)."""
    import trimesh

    if isinstance(path, (bytes, bytearray)):
        data, source = bytes(path), io.BytesIO(bytes(path))
    else:
        path = Path(path)
        fmt = fmt or path.suffix.lower().lstrip(".")
        data, source = path.read_bytes(), str(path)
    if fmt not in MESH_FORMATS:
        raise ValueError(f"not a mesh file format: {fmt!r}; choose one of {', '.join(MESH_FORMATS)}")
    meta = file_metadata(data, fmt)
    ranges = meta.pop("parts", None)
    meta.pop("units", None)
    parts = tuple(Part(str(n), int(a), int(b)) for n, a, b in ranges) if ranges else ()
    albedo = uvs = texture = None
    if fmt == "obj":
        vertices, faces, albedo, uvs = _read_obj(data.decode())
        if uvs is not None:
            loaded = trimesh.load(source, file_type=fmt, process=False, force="mesh", group_material=False)
            texture = np.asarray(loaded.visual.material.image.convert("RGB"))
            albedo = None
        return HeadAsset(vertices, faces, albedo, parts, uvs, texture, meta)
    loaded = trimesh.load(source, file_type=fmt, process=False, force="scene" if fmt == "glb" else "mesh")
    if fmt == "glb":
        meshes = [loaded.geometry[p.name] for p in parts] if parts else list(loaded.geometry.values())
    else:
        meshes = [loaded]
    vertices = np.concatenate([np.asarray(m.vertices, np.float32) for m in meshes])
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes])
    faces = np.concatenate([np.asarray(m.faces) + o for m, o in zip(meshes, offsets)])
    kinds = {m.visual.kind for m in meshes}
    if kinds == {"texture"}:
        uvs = np.concatenate([np.asarray(m.visual.uv, np.float32) for m in meshes])
        material = meshes[0].visual.material
        image = material.to_simple().image if hasattr(material, "to_simple") else material.image
        texture = np.asarray(image.convert("RGB"))
    elif kinds == {"vertex"}:
        albedo = np.concatenate([np.asarray(m.visual.vertex_colors)[:, :3] for m in meshes])
    return HeadAsset(vertices, faces, albedo, parts, uvs, texture, meta)


def mesh_labels(identity: str, expression: int, face_model: str, aus: Mapping, distractor_aus: Mapping) -> dict:
    """The labels of one mesh, as the ``meshes`` config and every mesh file hold them."""
    from .facs import DISTRACTOR_CODES, PAIN_CODES, pspi

    pain = {c: float(aus.get(c, 0.0)) for c in PAIN_CODES}
    return {
        "identity": str(identity),
        "expression": int(expression),
        "face_model": str(face_model),
        "aus": pain,
        "distractor_aus": {c: float(distractor_aus.get(c, 0.0)) for c in DISTRACTOR_CODES},
        "pspi": int(round(pspi(pain))),
    }


def identity_assets(result, face_model: str) -> list[HeadAsset]:
    """One asset per expression (0 = neutral) of a generated identity
    (``generation.pipeline.IdentityResult``): its albedo or texture, parts and labels."""
    by_expr = {f.expression: f for f in result.frames if f.view == 0}
    texture = None if result.texture is None else np.asarray(result.texture)
    if texture is not None and texture.dtype != np.uint8:
        texture = albedo_uint8(texture)
    albedo = None if texture is not None or result.albedo is None else albedo_uint8(result.albedo)
    out = []
    for e, verts in enumerate(result.meshes):
        f = by_expr[e]
        labels = mesh_labels(result.name, e, face_model, f.aus, f.distractor_aus)
        uvs = None if texture is None else result.uvs
        out.append(HeadAsset(verts, result.faces, albedo, result.parts, uvs, texture, labels))
    return out


__all__ = [
    "HeadAsset",
    "MESH_FORMATS",
    "Part",
    "albedo_uint8",
    "check_parts",
    "export_asset",
    "file_metadata",
    "identity_assets",
    "mesh_labels",
    "parts_from_components",
    "read_asset",
    "texture_albedo",
    "to_scene",
    "to_trimesh",
]
