"""Content integrity of a dataset folder: shard checksums and the "unfinished" card.

``.pain3d/checksums.json`` records, for every shard, its size and SHA-256, and the SHA-256 of
each Parquet row group's bytes, so ``verify`` can name the file and the rows a changed byte
lies in. Until a run finishes, ``README.md`` is a placeholder whose YAML ``load_dataset``
refuses with a message saying how to finish the run; the real card replaces it last.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Mapping

from generation.layout import write_atomic

CHECKSUMS = ".pain3d/checksums.json"
CHECKSUMS_FORMAT = "pain3d-checksums"
_CHUNK = 1 << 20
_UNFINISHED = "pain3d-unfinished"
RESUME_HINT = "Unfinished pain3d run: finish it with pain3d generate --resume"


def _sha256(fh, start: int, length: int) -> str:
    h = hashlib.sha256()
    fh.seek(start)
    while length > 0:
        chunk = fh.read(min(_CHUNK, length))
        if not chunk:
            break
        h.update(chunk)
        length -= len(chunk)
    return h.hexdigest()


def row_group_ranges(path: Path) -> list[tuple[int, int, int, int]]:
    """(first row, row count, byte offset, byte length) of each row group of a Parquet file."""
    import pyarrow.parquet as pq

    md = pq.read_metadata(path)
    out, row = [], 0
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        starts, ends = [], []
        for j in range(rg.num_columns):
            col = rg.column(j)
            start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
            starts.append(start)
            ends.append(start + col.total_compressed_size)
        if starts:
            out.append((row, rg.num_rows, min(starts), max(ends) - min(starts)))
        row += rg.num_rows
    return out


def file_digest(path: Path) -> dict:
    """Size, SHA-256 and per-row-group SHA-256 of one shard."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        rec = {"size": size, "sha256": _sha256(fh, 0, size), "row_groups": []}
        for first, n, start, length in row_group_ranges(path):
            rec["row_groups"].append({"rows": [first, first + n], "offset": start, "length": length, "sha256": _sha256(fh, start, length)})
    return rec


def write_checksums(out: Path, files: Iterable[str], known: Mapping[str, dict] | None = None) -> None:
    """Record ``files`` (relative to ``out``) in ``.pain3d/checksums.json``, atomically;
    ``known``: digests (``file_digest``) already computed where the files were written."""
    out = Path(out)
    known = known or {}
    digests = {rel: known[rel] if rel in known else file_digest(out / rel) for rel in sorted(files)}
    rec = {"format": CHECKSUMS_FORMAT, "algorithm": "sha256", "files": digests}
    (out / CHECKSUMS).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out / CHECKSUMS, (json.dumps(rec, indent=1, sort_keys=True) + "\n").encode())


def read_checksums(out: Path) -> dict[str, dict] | None:
    """{relative path: record}, or None when the folder has no checksums file."""
    path = Path(out) / CHECKSUMS
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_bytes())
        files = rec["files"]
        if rec.get("format") != CHECKSUMS_FORMAT or not isinstance(files, dict):
            raise ValueError("not a pain3d checksums file")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{CHECKSUMS} is damaged ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return files


def check_file(path: Path, want: dict) -> str | None:
    """None when ``path`` matches its record, else what differs (size, rows, metadata)."""
    size = path.stat().st_size
    if size != want.get("size"):
        return f"size {size} bytes, {want.get('size')} recorded in {CHECKSUMS}"
    with open(path, "rb") as fh:
        if _sha256(fh, 0, size) == want.get("sha256"):
            return None
        bad = [g["rows"] for g in want.get("row_groups", []) if _sha256(fh, g["offset"], g["length"]) != g["sha256"]]
    where = "; ".join(f"rows {a}-{b - 1}" for a, b in bad) if bad else "outside the row data (Parquet metadata)"
    return f"SHA-256 differs from {CHECKSUMS}: content changed after it was written ({where})"


# --- the unfinished card ------------------------------------------------------------------------
def unfinished_card(hint: str = RESUME_HINT, configs: Iterable[str] = ("frames", "meshes", "faces")) -> str:
    """A placeholder card: any ``load_dataset`` of the folder fails naming ``hint``."""
    lines = ["---", f"{_UNFINISHED}: true", "configs:"]
    for i, c in enumerate(configs):
        lines += [f"- config_name: {c}", *(["  default: true"] if i == 0 else []), f"  data_files: data/{c}/*.parquet"]
    lines.append("dataset_info:")
    for c in configs:
        lines += [f"- config_name: {c}", "  features:", "  - name: unfinished", f"    dtype: {json.dumps(hint)}"]
    lines += ["---", "", f"# Not a dataset yet\n\n{hint}.", ""]
    return "\n".join(lines)


def write_unfinished_card(out: Path, hint: str = RESUME_HINT, configs: Iterable[str] = ("frames", "meshes", "faces")) -> None:
    write_atomic(Path(out) / "README.md", unfinished_card(hint, configs).encode())


def is_finished(out: Path) -> bool:
    """A folder whose real card is written (the card is written last)."""
    card = Path(out) / "README.md"
    return card.is_file() and not is_unfinished_card(card)


def is_unfinished_card(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return head.startswith(f"---\n{_UNFINISHED}: true\n".encode())


__all__ = [
    "CHECKSUMS",
    "RESUME_HINT",
    "check_file",
    "file_digest",
    "is_finished",
    "is_unfinished_card",
    "read_checksums",
    "unfinished_card",
    "write_checksums",
    "write_unfinished_card",
]
