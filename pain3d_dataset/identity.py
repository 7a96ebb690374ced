"""What a dataset argument names, for the records of runs trained on it (model cards).

A folder written by ``pain3d generate`` or ``pain3d import-3dpain`` is named by its card's
``pretty_name``, the generation settings in ``.pain3d/config.json`` and a content fingerprint: the
SHA-256 over its shards' SHA-256s in ``.pain3d/checksums.json``, so two folders with the same
bytes get the same identity wherever they lie. Anything else is taken to be a Hub dataset id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

LOCAL_TYPE = "pain3d-synthetic"  # model-index dataset type of a local pain3d folder (no Hub id)


@dataclass(frozen=True)
class DatasetIdentity:
    """name: human-readable; type: Hub id, or LOCAL_TYPE for a local folder; revision: content
    fingerprint (``sha256:...``) or None; recipe: how the data was made, or None; location: as given."""

    name: str
    type: str
    revision: str | None
    recipe: str | None
    location: str

    def describe(self) -> str:
        """One line for a model card."""
        parts = [self.name if self.type == LOCAL_TYPE else f"`{self.type}`"]
        if self.recipe:
            parts.append(self.recipe)
        if self.revision:
            parts.append(f"content {self.revision[:19]}")
        return ", ".join(parts) + f" (read from `{self.location}`)"


def _fingerprint(folder: Path) -> str | None:
    path = folder / ".pain3d" / "checksums.json"
    try:
        files = json.loads(path.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    lines = "".join(f"{rel}:{rec['sha256']}\n" for rel, rec in sorted(files.items()))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def _recipe(folder: Path) -> str | None:
    try:
        c = json.loads((folder / ".pain3d" / "config.json").read_text())["config"]
        return (f"`pain3d generate --identities {c['identities']} --expressions {c['expressions']} "
                f"--views {len(c['views'])} --size {c['size']} --seed {c['seed']}` ({c['face_model']} face model)")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pretty_name(folder: Path) -> str:
    from huggingface_hub import DatasetCard

    try:
        name = DatasetCard.load(folder / "README.md").data.get("pretty_name")
    except Exception:  # no card, or one huggingface_hub cannot parse: fall back to the folder name
        name = None
    return str(name) if name else folder.resolve().name


def dataset_identity(dataset: str) -> DatasetIdentity:
    """The identity of ``dataset`` (a local folder or a Hub dataset id), as ``load_dataset`` would read it."""
    folder = Path(dataset).expanduser()
    if folder.is_dir():
        return DatasetIdentity(_pretty_name(folder), LOCAL_TYPE, _fingerprint(folder), _recipe(folder), dataset)
    return DatasetIdentity(dataset, dataset, None, None, dataset)


__all__ = ["DatasetIdentity", "LOCAL_TYPE", "dataset_identity"]
