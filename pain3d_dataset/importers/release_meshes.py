"""The 3D-Pain release's ``textured_meshes/`` -> the ``meshes`` and ``faces`` configs, read
with trimesh.

Names inside the shards: ``<base>[_words].{obj,glb,ply}`` with an OBJ's ``.mtl`` and texture
images (``.png``, ``.jpg``) beside it; ``<base>`` is matched on the member's own name or, for
members like ``<base>/textured_mesh.obj``, on its folder. A base's files are spilled to a
temporary folder (shard order does not matter; memory holds one mesh) and loaded with
``trimesh.load(..., process=False)`` as one mesh (GLB scenes are joined).

Rows: ``face_model`` = ``3dpain-release``; ``vertices`` as stored in the file (the release's
own units: not converted to millimetres); ``albedo`` = the vertex colours, or the texture
sampled at each vertex's UV (trimesh's ``to_color``), null when the file has neither (kept,
reported); labels as the frames': neutral meshes have all AUs 0, pain meshes take their
annotation. The first mesh's triangles become the ``faces`` row (one ``head`` part); a mesh
with other triangles is skipped and reported, since every row shares that one faces row.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from generation.facs import DISTRACTOR_CODES, PAIN_CODES

FACE_MODEL = "3dpain-release"
MESH_SUFFIXES = (".glb", ".obj", ".ply")  # preferred in this order when a base has several
SIDE_SUFFIXES = (".mtl", ".png", ".jpg", ".jpeg")


@dataclass
class MeshRows:
    """What ``read_release_meshes`` found: the shared triangles and, per split, how many rows."""

    faces: np.ndarray | None = None
    rows: dict[str, int] = field(default_factory=dict)
    identities: dict[str, set] = field(default_factory=dict)


def _base_of(file: str, name: str, base_re: str) -> re.Match | None:
    """The base's match on the member's name, else on its folder's name."""
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", name)
    m = re.fullmatch(base_re + r"(?:_[a-z0-9]+)*", stem, re.I)
    if m:
        return m
    parts = file.rsplit(":", 1)[-1].split("/")
    return re.fullmatch(base_re, parts[-2], re.I) if len(parts) >= 2 else None


def _albedo(mesh) -> np.ndarray | None:
    kind = getattr(mesh.visual, "kind", None)
    if kind == "texture":
        try:
            return np.asarray(mesh.visual.to_color().vertex_colors)[:, :3].astype(np.uint8)
        except Exception:  # noqa: BLE001 - a texture trimesh cannot sample: no albedo
            return None
    if kind == "vertex":
        return np.asarray(mesh.visual.vertex_colors)[:, :3].astype(np.uint8)
    return None


def read_release_meshes(
    members: Iterable[tuple[str, str, bytes]],
    spill: Path,
    base_re: str,
    parse_base: Callable[[re.Match], tuple[str, str, int]],
    labels: dict,
    assigned: dict[str, str],
    add_problem: Callable[[str, str, str], None],
    result: MeshRows,
) -> Iterator[tuple[str, dict]]:
    """(split, meshes row) for every importable mesh, in base order. ``members`` are the shards'
    (report path, base name, bytes); ``base_re`` the release's base-name pattern and
    ``parse_base`` its parser; ``labels`` the annotations by base (with ``.aus``,
    ``.distractors``, ``.pspi``); ``assigned`` identity -> split. Problems go to
    ``add_problem(file, message, action)``; ``result`` receives the faces every row shares."""
    import trimesh

    groups: dict[str, dict[str, str]] = {}  # base -> file name -> report path
    ident_of: dict[str, tuple[str, int]] = {}
    for file, name, data in members:
        found = _base_of(file, name, base_re)
        suffix = Path(name).suffix.lower()
        if found is None or suffix not in MESH_SUFFIXES + SIDE_SUFFIXES:
            add_problem(file, "unrecognised file name in textured_meshes/", "ignored")
            continue
        base, ident, expr = parse_base(found)
        files = groups.setdefault(base, {})
        if name in files:
            add_problem(file, f"duplicate file of {base} (first: {files[name]})", "ignored")
            continue
        folder = spill / base
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        files[name] = file
        ident_of[base] = (ident, expr)
    for base in sorted(groups):
        files = groups[base]
        mains = sorted((n for n in files if Path(n).suffix.lower() in MESH_SUFFIXES),
                       key=lambda n: MESH_SUFFIXES.index(Path(n).suffix.lower()))
        ident, expr = ident_of[base]
        if not mains:
            for n in files:
                add_problem(files[n], f"no mesh file of {base} beside it", "ignored")
            continue
        main = mains[0]
        for extra in mains[1:]:
            add_problem(files[extra], f"{base} has several mesh files; {main} is imported", "ignored")
        if ident not in assigned:
            add_problem(files[main], f"identity {ident} has no imported frames: mesh skipped", "skipped")
            continue
        if expr and base not in labels:
            add_problem(files[main], f"mesh without a valid annotation ({base}_annotations.json)", "skipped")
            continue
        try:
            mesh = trimesh.load(str(spill / base / main), process=False, force="mesh")
            vertices = np.asarray(mesh.vertices, np.float32)
            faces = np.asarray(mesh.faces, np.int32)
        except Exception as e:  # noqa: BLE001 - trimesh raises many types for bad files
            add_problem(files[main], f"not a mesh trimesh can read ({type(e).__name__})", "skipped")
            continue
        finally:
            shutil.rmtree(spill / base, ignore_errors=True)
        if len(faces) == 0 or not np.isfinite(vertices).all():
            add_problem(files[main], "no triangles or non-finite vertices", "skipped")
            continue
        if result.faces is None:
            result.faces = faces
        elif not np.array_equal(result.faces, faces):
            add_problem(files[main], f"triangles differ from the first mesh's ({len(faces)} vs {len(result.faces)}); "
                                     "every mesh must share the one faces row", "skipped")
            continue
        albedo = _albedo(mesh)
        if albedo is None:
            add_problem(files[main], "no vertex colours or texture: albedo left null", "kept")
        if expr:
            lab = labels[base]
            aus, dis, score = dict(lab.aus), dict(lab.distractors), lab.pspi
        else:
            aus, dis, score = {c: 0.0 for c in PAIN_CODES}, {c: 0.0 for c in DISTRACTOR_CODES}, 0
        split = assigned[ident]
        result.rows[split] = result.rows.get(split, 0) + 1
        result.identities.setdefault(split, set()).add(ident)
        yield split, {
            "identity": ident, "expression": expr, "face_model": FACE_MODEL, "vertices": vertices,
            "albedo": albedo, "aus": aus, "distractor_aus": dis, "pspi": score,
        }
