"""Reading a generated dataset's frames back one at a time, from either layout.

The Hub layout (Parquet shards under ``data/frames/``) is read a row group at a time and the
folder layout (``frames/<identity>/*.json``) a file at a time, so memory stays bounded by one
batch whatever the dataset's size. Used by ``pain3d check-faces``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from generation.demographics import AGE_GROUPS, ETHNICITIES, GENDERS
from generation.facecheck import FaceRecord
from generation.hair import FACIAL_HAIR

_COLUMNS = ["image", "identity", "expression", "yaw", "aus", "age_group", "gender", "ethnicity", "facial_hair"]


def decode_image(data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an encoded image (a frame's JPEG)."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _label(names: tuple[str, ...], value) -> str:
    if isinstance(value, str):
        return value
    return names[value] if value is not None and 0 <= int(value) < len(names) else "unknown"


def _record(row: dict, image: np.ndarray) -> FaceRecord:
    yaw = float(row["yaw"]) if row.get("yaw") is not None else float("nan")
    stratum = "/".join(
        _label(names, row.get(key))
        for key, names in (("age_group", AGE_GROUPS), ("gender", GENDERS), ("ethnicity", ETHNICITIES))
    )
    return FaceRecord(
        identity=str(row["identity"]),
        expression=int(row["expression"]),
        view=f"yaw{yaw:+g}",
        yaw=yaw,
        stratum=stratum,
        aus={k: float(v) for k, v in (row.get("aus") or {}).items() if v is not None},
        image=image,
        facial_hair=_label(FACIAL_HAIR, row.get("facial_hair")),  # None (an older dataset), -1: unknown
    )


def count_frames(root: Path) -> int:
    """Number of frames in a dataset folder of either layout (from metadata, no decoding)."""
    root = Path(root)
    shards = sorted((root / "data" / "frames").glob("*.parquet"))
    if shards:
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(p).metadata.num_rows for p in shards)
    return len(list((root / "frames").glob("*/*.json")))


def iter_face_records(root: Path) -> Iterator[FaceRecord]:
    """Every frame of a pain3d dataset folder (Hub or folder layout), all splits, in file order."""
    root = Path(root)
    shards = sorted((root / "data" / "frames").glob("*.parquet"))
    if shards:
        import pyarrow.parquet as pq

        for path in shards:
            pf = pq.ParquetFile(path)
            present = [c for c in _COLUMNS if c in pf.schema_arrow.names]  # older datasets lack facial_hair
            for batch in pf.iter_batches(batch_size=64, columns=present):
                for row in batch.to_pylist():
                    yield _record(row, decode_image(row["image"]["bytes"]))
        return
    labels = sorted((root / "frames").glob("*/*.json"))
    if not labels:
        raise FileNotFoundError(
            f"{root}: no frames found (expected data/frames/*.parquet or frames/<identity>/*.json, "
            "as written by pain3d generate)"
        )
    for path in labels:
        row = json.loads(path.read_text())
        yield _record(row, decode_image((path.parent / row["image"]).read_bytes()))
