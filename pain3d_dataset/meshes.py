"""A dataset's meshes as 3D files: a ``meshes`` row -> ``trimesh`` in one call, and
``pain3d export-meshes`` (every mesh of a generated or imported dataset as GLB, OBJ or PLY).

    from datasets import load_dataset
    from pain3d_dataset.meshes import to_scene
    meshes = load_dataset("3dpain", "meshes")["train"]
    faces = load_dataset("3dpain", "faces")["train"]
    scene = to_scene(meshes[0], faces)        # trimesh.Scene: head, eyeballs, lids as named nodes
    scene.export("id_00000_e00.glb")

Output of ``export_meshes`` (``generation.outdir`` decides what ``--overwrite`` may delete)::

    OUT/.pain3d/owner.json, OUT/.pain3d/export.json     ours; what was exported from where
    OUT/meshes/<identity>/<identity>_eNN.<glb|obj|ply>  one file per identity and expression
    OUT/meshes/<identity>/<identity>_eNN.mtl, <identity>_albedo.png   textured OBJ (and PLY)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from generation.layout import mesh_stem, write_atomic
from generation.mesh_asset import MESH_FORMATS, HeadAsset, Part, export_asset, read_asset
from generation.outdir import owner, prepare

from .integrity import is_unfinished_card

EXPORT_RECORD = ".pain3d/export.json"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_LABELS = ("identity", "expression", "face_model", "aus", "distractor_aus", "pspi")
_BATCH_ROWS = 8  # meshes held at once while exporting


class MeshExportError(ValueError):
    """The meshes cannot be exported as asked (a one-line CLI error)."""


# --- rows -> trimesh ------------------------------------------------------------------------------
def _faces_row(faces: Any, face_model: str) -> dict:
    """The ``faces`` row of ``face_model`` from a row, a list of rows, a ``Dataset`` or a
    ``DatasetDict`` of the ``faces`` config."""
    if isinstance(faces, dict) and "faces" in faces:
        rows: Iterable = [faces]
    elif hasattr(faces, "keys") and "train" in faces:  # DatasetDict
        rows = faces["train"]
    else:
        rows = faces
    for row in rows:
        if row["face_model"] == face_model:
            return row
    raise ValueError(f"no faces row for face model {face_model!r}; pass the dataset's faces config")


def row_asset(row: dict, faces: Any = None) -> HeadAsset:
    """A ``meshes`` row (vertex arrays plus the ``faces`` config, or a ``glb`` cell) as a
    ``generation.mesh_asset.HeadAsset``."""
    labels = {k: row[k] for k in _LABELS if k in row}
    if row.get("glb") is not None:
        asset = read_asset(row["glb"], "glb")
        return HeadAsset(asset.vertices, asset.faces, asset.albedo, asset.parts, asset.uvs, asset.texture, {**asset.metadata, **labels})
    if faces is None:
        raise ValueError("a vertices row needs its triangles: pass the faces config (load_dataset(DIR, 'faces'))")
    frow = _faces_row(faces, row["face_model"])
    parts = tuple(Part(p["name"], p["start"], p["stop"]) for p in frow.get("parts") or ())
    albedo = row.get("albedo")
    return HeadAsset(
        np.asarray(row["vertices"], np.float32), np.asarray(frow["faces"], np.int32),
        None if albedo is None else np.asarray(albedo, np.uint8), parts, metadata=labels,
    )


def to_trimesh(row: dict, faces: Any = None):
    """A ``meshes`` row as one ``trimesh.Trimesh`` (vertex order kept; labels in ``.metadata``)."""
    from generation.mesh_asset import to_trimesh as asset_trimesh

    return asset_trimesh(row_asset(row, faces))


def to_scene(row: dict, faces: Any = None):
    """A ``meshes`` row as a ``trimesh.Scene`` with the head, eyeballs and lids as named nodes."""
    from generation.mesh_asset import to_scene as asset_scene

    return asset_scene(row_asset(row, faces))


# --- export-meshes ------------------------------------------------------------------------------
@dataclass
class ExportSummary:
    out: Path
    fmt: str
    files: int = 0
    meshes: int = 0
    identities: set[str] = field(default_factory=set)
    bytes: int = 0

    def __str__(self) -> str:
        return (f"exported {self.meshes} meshes of {len(self.identities)} identities as {self.fmt.upper()} "
                f"({self.files} files, {self.bytes / 2**20:.1f} MB) to {self.out / 'meshes'}")


def _split_list(text: str | Sequence | None, what: str, cast=str) -> list | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    items = [t for t in items if t != ""]
    if not items:
        raise MeshExportError(f"--{what} is empty; give a comma-separated list or leave it out")
    try:
        return [cast(t) for t in items]
    except ValueError:
        raise MeshExportError(f"--{what} must be comma-separated whole numbers, got {text!r}") from None


class _Source:
    """Where a dataset keeps its meshes: the Hub layout's meshes/faces configs, or the GLB files
    of a folder written with ``--format folder --meshes glb``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        card = root / "README.md"
        self.shards = sorted(p for p in (root / "data" / "meshes").glob("*.parquet")) if (root / "data").is_dir() else []
        self.glbs = sorted((root / "frames").glob("*/*_e[0-9][0-9].glb")) if (root / "frames").is_dir() else []
        if self.shards and card.is_file() and is_unfinished_card(card):
            raise MeshExportError(f"{root} is an unfinished dataset; finish it with pain3d generate --resume first")
        if not self.shards and not self.glbs:
            raise MeshExportError(
                f"{root} holds no meshes (no data/meshes/*.parquet, no frames/*/*.glb); generate it with "
                "--meshes vertices or --meshes glb, or import a release that has textured_meshes/"
            )
        self.faces = self._faces() if self.shards else {}

    def _faces(self) -> dict[str, dict]:
        import pyarrow.parquet as pq

        rows = [r for p in sorted((self.root / "data" / "faces").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
        return {r["face_model"]: r for r in rows}

    def keys(self) -> list[tuple[str, int]]:
        """(identity, expression) of every mesh, read from the light columns only."""
        import pyarrow.parquet as pq

        if self.shards:
            out = []
            for p in self.shards:
                t = pq.read_table(p, columns=["identity", "expression"]).to_pydict()
                out += list(zip(t["identity"], t["expression"]))
            return out
        return [(p.parent.name, int(p.stem.rsplit("_e", 1)[1])) for p in self.glbs]

    def assets(self, wanted: set[tuple[str, int]]) -> Iterator[HeadAsset]:
        """The wanted meshes, a few rows at a time (memory does not grow with the dataset)."""
        import pyarrow.parquet as pq

        if not self.shards:
            for p in self.glbs:
                if (p.parent.name, int(p.stem.rsplit("_e", 1)[1])) in wanted:
                    yield read_asset(p)
            return
        for path in self.shards:
            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches(batch_size=_BATCH_ROWS):
                arrays = {c: _array_rows(batch.column(c)) for c in ("vertices", "albedo") if c in batch.schema.names}
                light = batch.drop_columns(list(arrays)).to_pylist()
                for k, row in enumerate(light):
                    row.update({c: rows[k] for c, rows in arrays.items()})
                    if (row["identity"], row["expression"]) in wanted:
                        if row.get("glb") is None and row["face_model"] not in self.faces:
                            raise MeshExportError(f"{self.root}: no faces row for face model {row['face_model']!r} (data/faces/)")
                        yield row_asset(row, self.faces.get(row["face_model"]))


def _check_out(root: Path, out: Path, overwrite: bool) -> None:
    """--out must not hold or sit in the dataset, and may replace only an earlier export."""
    r, o = root.resolve(), out.resolve()
    if r == o or r in o.parents or o in r.parents:
        raise MeshExportError(f"--out {out} overlaps the dataset {root}; choose a folder outside it")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise MeshExportError(f"{out} is not empty; choose a new --out, or pass --overwrite to replace an earlier export")
        found = owner(out)
        if found is not None and found != "export-meshes":
            raise MeshExportError(f"{out} holds a pain3d {found!r} dataset, not an export; nothing was deleted, choose another --out")


def _array_rows(column) -> list[np.ndarray | None]:
    """An Array2D (N, 3) column of a Parquet batch as one numpy array per row (no Python
    lists: a mesh has tens of thousands of vertices)."""
    import pyarrow as pa

    arr = column.storage if isinstance(column, pa.ExtensionArray) else column
    values = arr.flatten().flatten().to_numpy(zero_copy_only=False).reshape(-1, 3)
    offsets = arr.offsets.to_numpy()
    return [None if not arr[i].is_valid else values[offsets[i] - offsets[0] : offsets[i + 1] - offsets[0]] for i in range(len(arr))]


def export_meshes(
    root: str | os.PathLike,
    out: str | os.PathLike,
    fmt: str = "glb",
    identities: str | Sequence[str] | None = None,
    expressions: str | Sequence[int] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ExportSummary:
    """Write one ``fmt`` file per identity and expression of the dataset in ``root`` (Hub layout
    with a meshes config, or a folder with GLB files) to ``out/meshes/<identity>/``; only the
    ``identities`` and ``expressions`` asked for (comma-separated, default all). Everything is
    checked before ``out`` is touched; each file is written atomically."""
    from tqdm.auto import tqdm

    root, out = Path(root), Path(out)
    if fmt not in MESH_FORMATS:
        raise MeshExportError(f"--format must be one of {', '.join(MESH_FORMATS)}, got {fmt!r}")
    if not root.is_dir():
        raise MeshExportError(f"{root}: no such dataset folder")
    source = _Source(root)
    keys = source.keys()
    ids = _split_list(identities, "identities")
    exprs = _split_list(expressions, "expressions", int)
    present = {i for i, _ in keys}
    if ids is not None and (missing := [i for i in ids if i not in present]):
        raise MeshExportError(f"--identities: {', '.join(missing[:5])} not in {root} (it has {len(present)} identities, e.g. {min(present)})")
    if exprs is not None and (missing := sorted(set(exprs) - {e for _, e in keys})):
        raise MeshExportError(f"--expressions: {', '.join(map(str, missing))} not in {root} (expressions {min(e for _, e in keys)}..{max(e for _, e in keys)})")
    wanted = {(i, e) for i, e in keys if (ids is None or i in ids) and (exprs is None or e in exprs)}
    if bad := sorted({i for i, _ in wanted if not _SAFE_NAME.fullmatch(i)}):
        raise MeshExportError(f"identity name {bad[0]!r} cannot be a file name (letters, digits, _ . - only)")
    _check_out(root, out, overwrite)
    try:
        prepare(out, "export-meshes", overwrite=overwrite)
    except ValueError as e:
        raise MeshExportError(str(e)) from None
    record = {"source": str(root.resolve()), "format": fmt, "identities": ids, "expressions": exprs, "meshes": len(wanted)}
    write_atomic(out / EXPORT_RECORD, (json.dumps(record, indent=2) + "\n").encode())
    summary = ExportSummary(out, fmt)
    for asset in tqdm(source.assets(wanted), total=len(wanted), desc="export-meshes", unit="mesh", disable=not progress):
        ident, expr = asset.metadata["identity"], int(asset.metadata["expression"])
        folder = out / "meshes" / ident
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in export_asset(asset, fmt, mesh_stem(ident, expr)).items():
            write_atomic(folder / name, data)
            summary.files += 1
            summary.bytes += len(data)
        summary.meshes += 1
        summary.identities.add(ident)
    return summary


__all__ = ["ExportSummary", "MeshExportError", "export_meshes", "row_asset", "to_scene", "to_trimesh"]
