"""Triangle meshes: the data every stage (face model, rig, renderer, heatmaps) passes around.

Units are millimetres, axes are head-centred: +x is the subject's left (image right in the
frontal view), +y up, +z out of the face towards the frontal camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numba
import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix


@dataclass
class Mesh:
    """A triangle mesh with optional per-vertex attributes and named vertex regions.

    vertices: (V, 3) float32, millimetres.
    faces: (F, 3) int32, counter-clockwise seen from outside (outward normals).
    colors: optional (V, 3) float32 albedo in [0, 1].
    regions: name -> (K,) int32 vertex indices (e.g. "brows", "upper_lip").
    components: name -> (K,) int32 vertex indices of separately closed parts
        (e.g. "head", "left_eyeball").
    Meshes made by ``with_vertices`` share one cache of what depends on the topology alone
    (``neighbour_mean``), so an identity's meshes build it once per template, not per mesh.
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None = None
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    components: dict[str, np.ndarray] = field(default_factory=dict)
    _topology: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"vertices must have shape (V, 3), got {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"faces must have shape (F, 3), got {self.faces.shape}")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise ValueError("faces index vertices that do not exist")
        if self.colors is not None:
            self.colors = np.ascontiguousarray(self.colors, dtype=np.float32)
            if self.colors.shape != self.vertices.shape:
                raise ValueError(
                    f"colors must have shape {self.vertices.shape}, got {self.colors.shape}"
                )

    def with_vertices(self, vertices: np.ndarray) -> "Mesh":
        """The same topology, colours and regions with new vertex positions."""
        return Mesh(vertices, self.faces, self.colors, self.regions, self.components, self._topology)

    def neighbour_mean(self) -> csr_matrix:
        """``neighbour_mean_matrix`` of this mesh, built once for all meshes of its topology."""
        if "neighbour_mean" not in self._topology:
            self._topology["neighbour_mean"] = neighbour_mean_matrix(len(self.vertices), self.faces)
        return self._topology["neighbour_mean"]

    def smoothed(self, values: np.ndarray, rounds: int) -> np.ndarray:
        """``values`` (V,) or (V, k) after ``rounds`` of moving each vertex's value halfway to
        its neighbours' mean: a diffusion over the surface (ambient occlusion, the hair's taper)."""
        mean = self.neighbour_mean()
        out = np.asarray(values, dtype=np.float64).copy()
        for _ in range(rounds):
            out = 0.5 * out + 0.5 * (mean @ out)
        return out


def face_normals(vertices: np.ndarray, faces: np.ndarray, normalize: bool = True) -> np.ndarray:
    """(F, 3) triangle normals (area-weighted when ``normalize`` is False)."""
    v = vertices[faces]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    if normalize:
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return n.astype(np.float32)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit vertex normals, the area-weighted mean of adjacent face normals."""
    vertices = np.asarray(vertices)
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {faces.shape}")
    out = np.empty(vertices.shape, dtype=np.float32)
    # numba loop: np.add.at was the renderer's slowest per-frame step (~1 ms per 20k faces).
    _vertex_normals_kernel(np.ascontiguousarray(vertices, dtype=np.float32), faces, out)
    return out


@numba.njit(cache=True, nogil=True)
def _vertex_normals_kernel(v, faces, out):  # pragma: no cover - numba
    """Accumulate unnormalised face normals (float64) per vertex, then normalise into out."""
    acc = np.zeros((v.shape[0], 3), dtype=np.float64)
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        e1x, e1y, e1z = v[b, 0] - v[a, 0], v[b, 1] - v[a, 1], v[b, 2] - v[a, 2]
        e2x, e2y, e2z = v[c, 0] - v[a, 0], v[c, 1] - v[a, 1], v[c, 2] - v[a, 2]
        nx = float(e1y) * e2z - float(e1z) * e2y
        ny = float(e1z) * e2x - float(e1x) * e2z
        nz = float(e1x) * e2y - float(e1y) * e2x
        for k in (a, b, c):
            acc[k, 0] += nx
            acc[k, 1] += ny
            acc[k, 2] += nz
    for i in range(v.shape[0]):
        n = np.sqrt(acc[i, 0] ** 2 + acc[i, 1] ** 2 + acc[i, 2] ** 2)
        n = max(n, 1e-12)
        out[i, 0] = acc[i, 0] / n
        out[i, 1] = acc[i, 1] / n
        out[i, 2] = acc[i, 2] / n


def edge_use_counts(faces: np.ndarray) -> np.ndarray:
    """How many faces use each undirected edge (closed manifold: every count is 2)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.sort(e, axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return counts


def is_closed_manifold(faces: np.ndarray) -> bool:
    """True when every edge is shared by exactly two faces with opposite orientation."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    # Each directed edge must appear once, and its reverse must appear once.
    keys = directed[:, 0].astype(np.int64) * (int(faces.max()) + 1) + directed[:, 1]
    rev = directed[:, 1].astype(np.int64) * (int(faces.max()) + 1) + directed[:, 0]
    if len(np.unique(keys)) != len(keys):
        return False
    return bool(np.isin(rev, keys).all())


def grid_faces(rows: int, cols: int, wrap_cols: bool = False, offset: int = 0) -> np.ndarray:
    """Two triangles per cell of a rows x cols vertex grid (row-major vertex order).

    With ``wrap_cols`` the last column connects back to the first (a cylinder).
    """
    c_last = cols if wrap_cols else cols - 1
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(c_last), indexing="ij")
    r, c = r.ravel(), c.ravel()
    c1 = (c + 1) % cols
    a = r * cols + c
    b = r * cols + c1
    d = (r + 1) * cols + c
    e = (r + 1) * cols + c1
    tris = np.concatenate([np.stack([a, d, b], 1), np.stack([b, d, e], 1)])
    return (tris + offset).astype(np.int32)


def merge(parts: dict[str, Mesh]) -> Mesh:
    """Concatenate named meshes into one; each part becomes a component and its regions are
    re-indexed (prefixed by nothing: region names must be unique across parts)."""
    verts, faces, colors, regions, comps = [], [], [], {}, {}
    n = 0
    for name, m in parts.items():
        verts.append(m.vertices)
        faces.append(m.faces + n)
        colors.append(m.colors if m.colors is not None else np.ones_like(m.vertices))
        comps[name] = np.arange(n, n + len(m.vertices), dtype=np.int32)
        for r, idx in m.regions.items():
            if r in regions:
                raise ValueError(f"region {r!r} appears in more than one part")
            regions[r] = (idx + n).astype(np.int32)
        n += len(m.vertices)
    return Mesh(np.concatenate(verts), np.concatenate(faces), np.concatenate(colors), regions, comps)


def neighbour_mean_matrix(n_vertices: int, faces: np.ndarray) -> csr_matrix:
    """Sparse (V, V) matrix that maps per-vertex values to each vertex's mean over its edge
    neighbours (an edge shared by two faces counts twice); smooths values over a mesh
    (ambient occlusion, the hair volume's taper)."""
    from scipy.sparse import csr_matrix, diags

    f = np.asarray(faces)
    i = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    j = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    adj = csr_matrix((np.ones(len(i)), (i, j)), shape=(n_vertices, n_vertices))
    return diags(1.0 / np.maximum(np.asarray(adj.sum(axis=1))[:, 0], 1)) @ adj
