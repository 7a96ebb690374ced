"""Is this output folder ours? The one place that decides what pain3d may delete.

A folder is pain3d's own only if it holds ``.pain3d/owner.json``, written by ``claim``:
a JSON object with ``"format": "pain3d-output"``, a known ``format_version``, the ``layout``
that wrote it and ``"written_by": "pain3d"``. A stray ``pain3d.json``, an empty or foreign
JSON file is not enough.

``--overwrite`` of an owned folder deletes only files whose paths pain3d's layouts write
(``OWNED_FILES``); anything else (or a symbolic link) makes it refuse, naming what is there,
before deleting anything. ``generate`` (both formats), ``import-3dpain``, ``export-meshes`` and the
evaluation report (``vitpain_hf.evaluate``) call ``prepare``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

OWNER_FILE = ".pain3d/owner.json"
OWNER_FORMAT = "pain3d-output"
OWNER_VERSION = 1
LAYOUTS = ("hub", "folder", "import-3dpain", "export-meshes", "evaluation")
_MAX_OWNER_BYTES = 4096
# every file path (relative, POSIX) a pain3d layout writes, temporaries included
OWNED_FILES = re.compile(
    r"""\.pain3d/[^/]+
    |README\.md|pspi_histogram\.png|demographics\.png|lineup\.jpg|import_report\.txt|pain3d\.json|manifest\.jsonl|metadata\.jsonl
    |metrics\.json|roc\.png|confusion\.png|reliability\.png|groups\.png
    |\.[^/]+\.tmp
    |data/[a-z_]+/[^/]+\.parquet|data/[a-z_]+/\.[^/]+\.tmp
    |data/\.pieces/[a-z_]+/[^/]+\.(?:arrow|parquet)|data/\.pieces/[a-z_]+/\.[^/]+\.tmp
    |\.import-[^/]+/.+
    |frames/id_\d+/id_\d+_[^/]+\.(?:jpg|png|json|glb)|frames/\.id_\d+\.tmp/[^/]+
    |meshes/[^/]+/[^/]+\.(?:glb|obj|ply|mtl|png)|meshes/[^/]+/\.[^/]+\.tmp""",
    re.X,
)
OWNED_DIRS = re.compile(
    r"\.pain3d|data|data/[a-z_]+|data/\.pieces|data/\.pieces/[a-z_]+|\.import-[^/]+(?:/.+)?|frames|frames/\.?id_\d+(?:\.tmp)?"
    r"|meshes|meshes/[^/]+"
)
_LIST = 5


class OutputDirError(ValueError):
    """The output folder cannot be used as asked."""


def owner_record(layout: str) -> dict:
    return {"format": OWNER_FORMAT, "format_version": OWNER_VERSION, "layout": layout, "written_by": "pain3d"}


def owner(out: Path) -> str | None:
    """The layout recorded in ``out``'s owner marker, or None when ``out`` is not ours."""
    path = Path(out) / OWNER_FILE
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _MAX_OWNER_BYTES:
            return None
        rec = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("layout") not in LAYOUTS:
        return None
    return rec["layout"] if rec == owner_record(rec["layout"]) else None


def is_ours(out: Path) -> bool:
    return owner(out) is not None


def claim(out: Path, layout: str) -> None:
    """Create ``out`` if needed and write the owner marker (atomically)."""
    path = Path(out) / OWNER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(owner_record(layout), sort_keys=True) + "\n")
    os.replace(tmp, path)


def _walk(out: Path) -> tuple[list[str], list[str], list[str]]:
    """(owned files, owned dirs, foreign paths) under ``out``; links are never followed."""
    files, dirs, foreign = [], [], []
    for root, subdirs, names in os.walk(out):
        base = Path(root).relative_to(out)
        for d in list(subdirs):
            rel = (base / d).as_posix()
            if os.path.islink(os.path.join(root, d)):
                foreign.append(rel)
                subdirs.remove(d)
            elif OWNED_DIRS.fullmatch(rel):
                dirs.append(rel)
            else:
                foreign.append(rel + "/")
                subdirs.remove(d)
        for n in names:
            rel = (base / n).as_posix()
            ok = OWNED_FILES.fullmatch(rel) and not os.path.islink(os.path.join(root, n))
            (files if ok else foreign).append(rel)
    return files, dirs, foreign


def contents(out: Path, limit: int = _LIST) -> str:
    """The first entries of ``out``, for error messages: ``a, b/, c and 3 more``."""
    names = sorted(p.name + ("/" if p.is_dir() and not p.is_symlink() else "") for p in Path(out).iterdir())
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def prepare(out: Path, layout: str, overwrite: bool, resume: bool = False) -> bool:
    """Check ``out`` for a run of ``layout``; clear it when ``overwrite`` allows; claim it.

    Returns True when an existing run of the same layout is to be resumed. Raises
    OutputDirError (deleting nothing) when the folder is not empty and not ours, or when an
    owned folder holds files pain3d did not write.
    """
    out = Path(out)
    if overwrite and resume:
        raise OutputDirError("--overwrite and --resume exclude each other; pick one")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputDirError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not (overwrite or resume):
            raise OutputDirError(
                f"{out} is not empty; pass --resume to finish an interrupted run, --overwrite to replace it, or choose a new --out"
            )
        found = owner(out)
        if found is None:
            raise OutputDirError(
                f"{out} is not empty and has no pain3d marker ({OWNER_FILE}), so it is not pain3d's to replace: "
                f"it holds {contents(out)}; nothing was deleted, choose a new --out"
            )
        if resume:
            if found != layout:
                raise OutputDirError(f"{out} holds the {found!r} format, not {layout!r}; rerun with --format {found} or use --overwrite")
            return True
        files, dirs, foreign = _walk(out)
        if foreign:
            more = f" and {len(foreign) - _LIST} more" if len(foreign) > _LIST else ""
            raise OutputDirError(
                f"{out} holds files pain3d did not write ({', '.join(sorted(foreign)[:_LIST])}{more}); "
                "nothing was deleted: move them away or choose a new --out"
            )
        for rel in files:
            if rel != OWNER_FILE:
                (out / rel).unlink()
        for rel in sorted(dirs, key=lambda d: d.count("/"), reverse=True):
            if rel != ".pain3d":
                (out / rel).rmdir()
    claim(out, layout)
    return False


__all__ = ["LAYOUTS", "OWNER_FILE", "OutputDirError", "claim", "contents", "is_ours", "owner", "prepare"]
