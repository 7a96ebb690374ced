"""Import the authors' public 3D-Pain release into 3DPain's typed Hub layout.

Source (``SoroushMehraban/3D-Pain`` on the Hugging Face Hub, downloaded by the user)::

    SRC/
      images/           README.txt, images_00000.tar.gz, ...       multi-view RGB frames
      heatmaps/         README.txt, heatmaps_00000.tar.gz, ...     colorized pain-region heatmaps
      annotations/      README.txt, annotations_00000.tar.gz, ...  one JSON per pain expression
      textured_meshes/  README.txt, meshes_00000.tar.gz, ...       textured meshes (read with trimesh)
      *.csv, splits/*.csv                                          optional split file

Output (the same layout ``pain3d generate`` writes; ``load_dataset(OUT)`` returns
``frame_features(names=VIEW_NAMES)`` exactly)::

    OUT/README.md                                         card: YAML configs + dataset_info
    OUT/data/frames/<split>-XXXXX-of-YYYYY.parquet        bounded shards (max_shard_mb)
    OUT/data/meshes/<split>-XXXXX-of-YYYYY.parquet        with textured_meshes/: vertices, albedo
    OUT/data/faces/train-00000-of-00001.parquet           the meshes' shared triangles
    OUT/import_report.txt                                 every problem found, one per line

Names inside the shards (directories inside a tarball are ignored; matching is on the base name,
case-insensitive). ``<base>`` is ``flame_sample_XXXX_pain_Y`` (expression Y >= 1) or
``flame_sample_XXXX_neutral`` (expression 0); identity = ``flame_sample_XXXX``.

- images: ``<base>_textured_view_NNN_inpainted.jpg``; also accepted: ``<base>_view_NNN.jpg`` and
  any ``<base>[_textured]_view_NNN[_word...].{jpg,jpeg,png}``. Views 000-002 -> ``view_000``..
- heatmaps (the release's naming is not documented; accepted tolerantly): ``<base>[_words].png``
  (or .jpg) where the words may contain ``view_NNN`` / ``viewNNN``: with a view number the heatmap
  belongs to that view's frame; without one (e.g. ``<base>_heatmap.png``, the release's 25k
  heatmaps are one per pain expression) it is used for every view of that expression.
- annotations: ``<base>_annotations.json`` (also ``<base>.json``): a JSON object with AU4, AU6,
  AU7, AU9, AU10, AU43 and PSPI; keys are matched like ``facs.canonical_au`` (``au04`` = AU4);
  distractor AUs (AU1, AU2, AU12, AU15, AU25, AU26) are used when present, else 0; other keys are
  ignored and listed once in the report notes.

Row values the release does not have: ``yaw``/``pitch``/``age``/``skin_tone``/``heatmap_scale_mm``
are NaN; ``age_group``/``gender``/``ethnicity`` are -1 (ClassLabel's "missing"); ``seed`` is -1.
Neutral frames: AUs 0, PSPI 0, ``heatmap`` black and ``heatmap_raw`` zeros (image size), and
``neutral_image`` = the image itself. Pain frames: ``heatmap`` = the release heatmap file, bytes
unchanged; ``heatmap_raw`` = its grey value (PIL "L" conversion) / 255 stored as 16-bit grey PNG
(value * 257, so ``/ 65535`` gives [0, 1]) -- an approximation of the heat, not the authors'
displacement values, whose scale is unknown (hence ``heatmap_scale_mm`` NaN). Image ``path``
fields hold the release member name, for tracing a row back to its file.

Splits: the release's split file if one is found (a CSV with columns ``annotation_base_name`` and
``split``, 0 = train, 1 = validation, 2 = test, listing pain rows; neutral frames follow their
identity) or is given; otherwise 70/20/10 by identity, seeded (``assign_splits``). No identity is
ever in two splits.

Problems are reported by file name in ``ImportReport.problems`` (printed, and written to
``import_report.txt``); each has an action:

- ``skipped`` (data not imported): tar members that are not regular files (links, device nodes,
  FIFOs) or are larger than ``MAX_MEMBER_BYTES`` (``MAX_JSON_BYTES`` for annotations), malformed
  JSON, JSON nested deeper than 64 levels, a JSON that is not an object, missing AU keys,
  AU values out of range, PSPI disagreeing with AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43
  (the expression's frames are skipped: the labels contradict each other), pain images without
  an annotation, annotations without images, images whose header cannot be read, duplicate
  members (the later one), views outside 000-002, identities absent from the split file.
- ``ignored`` (a file that is not used): unrecognised names, heatmaps without a matching image,
  heatmaps of neutral expressions (neutral heatmaps are black by definition), loose files.
- ``kept`` (imported with a caveat): a pain frame without heatmap (``heatmap`` and
  ``heatmap_raw`` null), a pain frame without the identity's neutral image for that view
  (``neutral_image`` null), an annotation without PSPI (computed from the AUs), a non-integer
  PSPI (rounded; ``aus`` keep the exact values), a neutral annotation with non-zero AUs (zeros
  are stored).

Fatal (``ReleaseError``, one line; nothing is written): SRC is not a folder; ``images/`` or
``annotations/`` missing or without shards; a shard that is not a readable tar archive; OUT not
empty (without ``overwrite``), or not empty and not pain3d's own (``generation.outdir``: then
nothing is deleted, even with ``overwrite``); an unreadable or contradictory split file (one identity in two
splits), or several candidate split files; no importable frame at all.

Until the import finishes, ``README.md`` is a placeholder that ``load_dataset`` refuses; the
shards' SHA-256 go to ``.pain3d/checksums.json`` before the card (``pain3d verify`` checks them).

Memory stays bounded: shards are streamed (``streaming.members``: never extracted, no member
read beyond its cap, so what a member decompresses to cannot grow memory). Annotations are
held in memory (small); heatmaps and neutral images are spilled to a temporary SQLite file under
OUT while the images are streamed twice (once to index names and keep the neutral images, once to
write rows), so shard order does not matter.

``textured_meshes/`` becomes the ``meshes`` and ``faces`` configs (``release_meshes``: OBJ with
its MTL and texture, GLB or PLY files read with trimesh; vertices in the release's own units,
the albedo from the vertex colours or the texture at each vertex); its problems are reported
like the frames'.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import numbers
import os
import re
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from generation.facs import (
    AUValueError,
    DISTRACTOR_CODES,
    PAIN_CODES,
    PSPI_MAX,
    canonical_au,
    pspi,
    validate_aus,
)

from generation.layout import write_atomic
from generation.limits import check_seed, check_shard_mb
from generation.outdir import OutputDirError
from generation.outdir import prepare as prepare_output_dir

from ..features import SPLITS, frame_features
from ..integrity import write_checksums, write_unfinished_card
from .streaming import ArchiveError, members, parse_json

RELEASE_REPO = "SoroushMehraban/3D-Pain"
CONFIG = "frames"
VIEW_NAMES = ("view_000", "view_001", "view_002")
SPLIT_IDS = {0: "train", 1: "validation", 2: "test"}
REPORT_FILE = "import_report.txt"
ROW_GROUP_ROWS = 100
ROW_GROUP_BYTES = 64 << 20
PRINT_LIMIT = 50
MAX_MEMBER_BYTES = 64 << 20  # an image or heatmap; larger members are reported, not read
MAX_JSON_BYTES = 1 << 20  # an annotation
UNFINISHED_HINT = "Unfinished pain3d import: run pain3d import-3dpain again with --overwrite"

_BASE = r"(?P<identity>flame_sample_\d+)_(?:pain_(?P<level>[1-9]\d*)|(?P<neutral>neutral))"
_IMAGE_RE = re.compile(_BASE + r"_(?:textured_)?view_?(?P<view>\d+)(?:_[a-z0-9]+)*\.(?:jpe?g|png)", re.I)
_HEATMAP_RE = re.compile(_BASE + r"(?P<rest>(?:_[a-z0-9]+)*)\.(?:png|jpe?g)", re.I)
_HEATMAP_VIEW_RE = re.compile(r"(?:^|_)view_?(\d+)(?=_|$)", re.I)
_ANNOTATION_RE = re.compile(_BASE + r"(?:_annotations?)?\.json", re.I)
_SHARD_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_IGNORED_LOOSE = {"readme.txt", "readme.md", ".gitattributes"}


class ReleaseError(ValueError):
    """The release cannot be imported as asked; the one-line message says why and what to do."""


@dataclass(frozen=True)
class Problem:
    """One problem, by file. action: "skipped" (not imported), "ignored" (file not used) or
    "kept" (imported with a caveat, said in message)."""

    file: str
    message: str
    action: str

    def __str__(self) -> str:
        return f"{self.action}: {self.file}: {self.message}"


@dataclass
class ImportReport:
    src: Path
    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    identities: dict[str, int] = field(default_factory=dict)
    shards: dict[str, int] = field(default_factory=dict)
    split_source: str = ""
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, file: str, message: str, action: str) -> None:
        self.problems.append(Problem(file, message, action))

    def by_action(self, action: str) -> list[Problem]:
        return [p for p in self.problems if p.action == action]

    @property
    def skipped(self) -> list[Problem]:
        return self.by_action("skipped")

    @property
    def ignored(self) -> list[Problem]:
        return self.by_action("ignored")

    @property
    def kept(self) -> list[Problem]:
        return self.by_action("kept")

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def files(self, action: str | None = None) -> set[str]:
        """Base names of the files with problems (``action`` to filter)."""
        return {_member_name(p.file) for p in self.problems if action in (None, p.action)}

    def summary(self) -> str:
        per_split = ", ".join(
            f"{s} {self.rows.get(s, 0)} rows / {self.identities.get(s, 0)} identities"
            for s in SPLITS
            if s in self.rows
        )
        counts = ", ".join(f"{len(self.by_action(a))} {a}" for a in ("skipped", "ignored", "kept"))
        return (
            f"imported {self.total_rows} frames into {self.out} ({per_split}); splits: {self.split_source}; "
            f"problems: {counts}"
        )

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems] + [f"note: {n}" for n in self.notes] + [self.summary()]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _member_name(file: str) -> str:
    return file.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- splits


def assign_splits(identities: Sequence[str], seed: int = 0) -> dict[str, str]:
    """{identity: split}, 70/20/10 train/validation/test by identity, deterministic in ``seed``.

    The generator's rule for one stratum (``pain3d_dataset.splits.assign_splits``: a seeded
    permutation cut by ``split_counts``; with 3 or more identities no split is empty) applied to
    the sorted names: the release has no demographics to stratify by.
    """
    from ..splits import assign_splits as splits_by_index

    ids = sorted(set(identities))
    return dict(zip(ids, splits_by_index(len(ids), seed)))


def _find_split_file(src: Path) -> Path | None:
    found = []
    for path in sorted(src.glob("*.csv")) + sorted(src.glob("splits/*.csv")):
        try:
            with open(path, newline="") as fh:
                header = next(csv.reader(fh), [])
        except (OSError, UnicodeDecodeError):
            continue
        if {"annotation_base_name", "split"} <= {h.strip() for h in header}:
            found.append(path)
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(src)) for p in found)
        raise ReleaseError(f"several split files in {src} ({names}); choose one with --split-file")
    return found[0] if found else None


def _read_split_file(path: Path) -> dict[str, str]:
    """{identity: split} from a CSV of annotation base names; contradictions are fatal."""
    out: dict[str, str] = {}
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            cols = {c.strip() for c in reader.fieldnames or []}
            if not {"annotation_base_name", "split"} <= cols:
                raise ReleaseError(
                    f"split file {path} needs columns annotation_base_name,split (0 train, 1 validation, 2 test)"
                )
            for line, row in enumerate(reader, start=2):
                row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
                m = re.fullmatch(_BASE, row["annotation_base_name"], re.I)
                try:
                    split = SPLIT_IDS[int(row["split"])]
                except (ValueError, KeyError):
                    raise ReleaseError(f"split file {path} line {line}: split {row['split']!r} is not 0, 1 or 2") from None
                if not m:
                    raise ReleaseError(
                        f"split file {path} line {line}: {row['annotation_base_name']!r} is not a flame_sample_XXXX_pain_Y name"
                    )
                ident = m.group("identity").lower()
                if out.setdefault(ident, split) != split:
                    raise ReleaseError(
                        f"split file {path} puts identity {ident} in both {out[ident]} and {split}; "
                        "an identity must stay in one split"
                    )
    except OSError as e:
        raise ReleaseError(f"cannot read split file {path}: {e.strerror or e}") from None
    return out


# --------------------------------------------------------------------------- source scanning


def _shards(src: Path, folder: str, report: ImportReport, required: bool) -> list[Path]:
    d = src / folder
    if not d.is_dir():
        if required:
            raise ReleaseError(f"{src} has no {folder}/ folder; is it the 3D-Pain release ({RELEASE_REPO})?")
        return []
    shards = []
    for p in sorted(d.iterdir()):
        if p.is_file() and p.name.lower().endswith(_SHARD_SUFFIXES):
            shards.append(p)
        elif p.name.lower() not in _IGNORED_LOOSE and not p.name.startswith("."):
            report.add(f"{folder}/{p.name}", "not a .tar.gz shard", "ignored")
    if required and not shards:
        raise ReleaseError(f"{d} holds no .tar.gz shards; download the release's {folder}/ folder")
    return shards


def _members(shard: Path, folder: str, report: ImportReport | None = None) -> Iterator[tuple[str, str, bytes]]:
    """(report path, member base name, bytes) of each regular file, streamed, at most
    ``MAX_MEMBER_BYTES`` each (``MAX_JSON_BYTES`` in annotations/); members not read are
    reported as skipped when ``report`` is given (pass it on one pass over a shard only)."""
    cap = MAX_JSON_BYTES if folder == "annotations" else MAX_MEMBER_BYTES
    on_problem = None if report is None else (lambda file, msg: report.add(file, msg, "skipped"))
    try:
        yield from members(shard, f"{folder}/{shard.name}", cap, on_problem)
    except ArchiveError as e:
        raise ReleaseError(str(e)) from None


def _parse_base(m: re.Match) -> tuple[str, str, int]:
    """(base, identity, expression) from a name match, lower-cased."""
    ident = m.group("identity").lower()
    if m.group("neutral"):
        return f"{ident}_neutral", ident, 0
    level = int(m.group("level"))
    return f"{ident}_pain_{level}", ident, level


@dataclass
class _Labels:
    aus: dict[str, float]
    distractors: dict[str, float]
    pspi: int


def _number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _parse_annotation(data: bytes, file: str, neutral: bool, report: ImportReport, unknown: dict) -> _Labels | None:
    try:
        obj = parse_json(data, MAX_JSON_BYTES)
    except ValueError as e:
        report.add(file, str(e) if str(e).startswith("malformed") else f"JSON {e}", "skipped")
        return None
    if not isinstance(obj, dict):
        report.add(file, f"expected a JSON object with {', '.join(PAIN_CODES)} and PSPI, got a {type(obj).__name__}", "skipped")
        return None
    raw: dict[str, object] = {}
    file_pspi: object = None
    for key, value in obj.items():
        if str(key).strip().upper() == "PSPI":
            file_pspi = value
            continue
        try:
            code = canonical_au(key)
        except AUValueError:
            unknown[str(key)] = unknown.get(str(key), 0) + 1
            continue
        raw[code] = value
    missing = [c for c in PAIN_CODES if c not in raw]
    if missing:
        report.add(file, f"missing AU keys {', '.join(missing)}", "skipped")
        return None
    try:
        values = validate_aus(raw)
    except AUValueError as e:
        report.add(file, f"invalid AU value: {e}", "skipped")
        return None
    aus = {c: values[c] for c in PAIN_CODES}
    distractors = {c: values.get(c, 0.0) for c in DISTRACTOR_CODES}
    formula = pspi(aus)
    if file_pspi is None:
        report.add(file, f"no PSPI key; PSPI computed from the AUs ({formula:g})", "kept")
    elif not _number(file_pspi) or math.isnan(float(file_pspi)):
        report.add(file, f"PSPI {file_pspi!r} is not a number", "skipped")
        return None
    elif abs(float(file_pspi) - formula) > 1e-6:
        report.add(
            file,
            f"PSPI {file_pspi!r} disagrees with AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 = {formula:g}",
            "skipped",
        )
        return None
    score = int(round(formula))
    if abs(score - formula) > 1e-6:
        report.add(file, f"PSPI {formula:g} is not a whole number; stored as {score} (aus keep exact values)", "kept")
    if neutral and formula != 0:
        report.add(file, f"neutral expression annotated with PSPI {formula:g}; stored with all AUs 0", "kept")
        return _Labels({c: 0.0 for c in PAIN_CODES}, {c: 0.0 for c in DISTRACTOR_CODES}, 0)
    return _Labels(aus, distractors, min(max(score, 0), PSPI_MAX))


class _BlobStore:
    """A temporary on-disk key -> bytes store (SQLite), so memory stays bounded."""

    def __init__(self, path: Path):
        self.con = sqlite3.connect(path)
        self.con.execute("PRAGMA journal_mode=OFF")
        self.con.execute("PRAGMA synchronous=OFF")
        self.con.execute("CREATE TABLE blobs (key TEXT PRIMARY KEY, data BLOB)")

    def put(self, key: str, data: bytes) -> None:
        self.con.execute("INSERT OR REPLACE INTO blobs VALUES (?, ?)", (key, data))

    def get(self, key: str) -> bytes | None:
        row = self.con.execute("SELECT data FROM blobs WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def close(self) -> None:
        self.con.commit()
        self.con.close()


# --------------------------------------------------------------------------- output


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class _SplitWriter:
    """Parquet shards of one split, rolled at ``max_bytes``, row groups of <= 100 rows / 64 MB."""

    def __init__(self, folder: Path, split: str, features, max_bytes: int):
        self.folder, self.split, self.features, self.max_bytes = folder, split, features, max_bytes
        self.schema = features.arrow_schema
        self.paths: list[Path] = []
        self.writer = None
        self.file_bytes = 0
        self.buffer: list[dict] = []
        self.buffer_bytes = 0
        self.rows = 0
        self.num_bytes = 0
        self.download_size = 0
        self.final: list[Path] = []

    def _open(self):
        import pyarrow.parquet as pq
        from datasets import config
        from datasets.io.parquet import get_parquet_column_options

        path = self.folder / f".{self.split}-{len(self.paths):05d}.parquet.tmp"
        self.paths.append(path)
        self.writer = pq.ParquetWriter(
            path,
            schema=self.schema,
            use_content_defined_chunking=config.DEFAULT_CDC_OPTIONS,
            write_page_index=True,
            **get_parquet_column_options(self.features, self.schema),
        )
        self.file_bytes = 0

    def add(self, row: dict, nbytes: int) -> None:
        if self.writer is not None and self.file_bytes + self.buffer_bytes + nbytes > self.max_bytes and (
            self.file_bytes or self.buffer
        ):
            self._flush()
            self.writer.close()
            self.writer = None
        self.buffer.append(self.features.encode_example(row))
        self.buffer_bytes += nbytes
        self.rows += 1
        if self.writer is None:
            self._open()
        if len(self.buffer) >= ROW_GROUP_ROWS or self.buffer_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self.buffer:
            return
        table = pa.Table.from_pylist(self.buffer, schema=self.schema)
        self.writer.write_table(table)
        self.num_bytes += table.nbytes
        self.file_bytes += self.buffer_bytes
        self.buffer, self.buffer_bytes = [], 0

    def close(self) -> list[Path]:
        """Finish and rename to ``<split>-XXXXX-of-YYYYY.parquet``; returns the final paths."""
        if self.writer is not None:
            self._flush()
            self.writer.close()
            self.writer = None
        from ..writer import shard_name

        n = len(self.paths)
        final = []
        for i, tmp in enumerate(self.paths):
            dest = self.folder / shard_name(self.split, i, n)
            os.replace(tmp, dest)
            final.append(dest)
        self.download_size = sum(p.stat().st_size for p in final)
        self.final = final
        return final


# TODO: switch to the shared card helper (pain3d_dataset/card.py) once it exists, so imported
# and generated datasets get the same card sections (PSPI histogram, demographics plots).
@dataclass
class _Written:
    """A split written in one go (the faces config), as the card and checksums read it."""

    rows: int
    num_bytes: int
    download_size: int
    final: list[Path]


def _import_meshes(shards: list[Path], tmp: Path, assigned: dict, labels: dict, report: ImportReport,
                   max_bytes: int, bar: dict) -> dict[str, tuple]:
    """textured_meshes/ -> ``tmp/data/meshes`` and ``tmp/data/faces`` (``release_meshes``);
    returns {config: (features, {split: writer})} for what was written."""
    from tqdm.auto import tqdm

    from ..features import mesh_features
    from ..writer import write_faces
    from .release_meshes import FACE_MODEL, MeshRows, read_release_meshes

    members = (m for shard in tqdm(shards, desc="meshes", **bar) for m in _members(shard, "textured_meshes", report))
    spill = tmp / "meshes-spill"
    spill.mkdir()
    features = mesh_features()
    folder = tmp / "data" / "meshes"
    folder.mkdir(parents=True)
    writers = {s: _SplitWriter(folder, s, features, max_bytes) for s in SPLITS}
    found = MeshRows()
    for split, row in read_release_meshes(members, spill, _BASE, _parse_base, labels, assigned, report.add, found):
        nbytes = row["vertices"].nbytes + (0 if row["albedo"] is None else row["albedo"].nbytes)
        arrays = {k: None if row[k] is None else row[k].tolist() for k in ("vertices", "albedo")}  # as encode_example takes them
        writers[split].add({**row, **arrays}, nbytes)
    for w in writers.values():
        w.close()
    if found.faces is None:
        report.notes.append("textured_meshes/: no importable mesh; no meshes config")
        shutil.rmtree(folder)
        return {}
    faces = write_faces(tmp, FACE_MODEL, found.faces)
    faces_writer = _Written(1, faces.num_bytes, faces.download_size, [tmp / f for f in faces.files])
    from ..features import face_features

    report.notes.append(f"textured_meshes/: {sum(found.rows.values())} meshes of "
                        f"{sum(len(v) for v in found.identities.values())} identities imported (meshes config)")
    return {"meshes": (features, {s: w for s, w in writers.items() if w.rows}), "faces": (face_features(), {"train": faces_writer})}


def _write_card(out: Path, configs: dict[str, tuple], report: ImportReport) -> None:
    """The card: YAML configs + dataset_info of each {config: (features, {split: writer})}."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    card_data = DatasetCardData(pretty_name="3D-Pain (imported into the 3DPain layout)")
    yaml_configs, infos = {}, {}
    for config, (features, writers) in configs.items():
        present = [s for s in SPLITS if s in writers and writers[s].rows]
        yaml_configs[config] = {"data_files": [{"split": s, "path": f"data/{config}/{s}-*"} for s in present]}
        if config == CONFIG:
            yaml_configs[config]["default"] = True
        info = DatasetInfo(config_name=config, features=features, splits=SplitDict(), download_size=0, dataset_size=0)
        for s in present:
            info.splits.add(SplitInfo(name=s, num_bytes=writers[s].num_bytes, num_examples=writers[s].rows))
            info.download_size += writers[s].download_size
            info.dataset_size += writers[s].num_bytes
        infos[config] = info
    MetadataConfigs(yaml_configs).to_dataset_card_data(card_data)
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    writers = configs[CONFIG][1]
    splits = [s for s in SPLITS if s in writers and writers[s].rows]
    table = "\n".join(
        f"| {s} | {report.identities.get(s, 0)} | {report.rows.get(s, 0)} |" for s in splits
    )
    counts = ", ".join(f"{len(report.by_action(a))} {a}" for a in ("skipped", "ignored", "kept"))
    meshes_text = (
        "`textured_meshes/` is the `meshes` config (`vertices` in the release's own units, `albedo` from its "
        "vertex colours or texture; `face_model` 3dpain-release) and the `faces` config (their shared triangles); "
        "`pain3d export-meshes` writes them as GLB, OBJ or PLY files."
        if "meshes" in configs
        else "No meshes were imported (no usable `textured_meshes/`)."
    )
    body = f"""# 3D-Pain, imported

The authors' public 3D-Pain release ([{RELEASE_REPO}](https://huggingface.co/datasets/{RELEASE_REPO}))
converted by `pain3d import-3dpain` into the typed layout of `pain3d generate`: Parquet shards
`data/{CONFIG}/<split>-XXXXX-of-YYYYY.parquet` and this card, so that `load_dataset(<this folder>)`
returns the declared features. One row per frame (identity x expression x view).

| split | identities | frames |
|---|---|---|
{table}

Splits: {report.split_source}. No identity is in two splits.

## Fields

- `image`: the release image `<base>_textured_view_NNN_inpainted.jpg` (bytes unchanged; `path` keeps the member name).
- `neutral_image`: the same identity's neutral image in the same view (null if the release lacks it).
- `heatmap`: the release's colorized pain-region heatmap (bytes unchanged); black for neutral frames;
  null where the release has none. Release heatmaps without a view number in their name are one per
  pain expression and are repeated for the three views.
- `heatmap_raw`: 16-bit grey PNG = the heatmap's grey value (PIL "L") / 255, stored as value * 257
  (`np.asarray(img) / 65535` gives [0, 1]). An approximation: the release ships colour images only.
  Zeros for neutral frames.
- `aus` (AU4, AU6, AU7, AU9, AU10, AU43) and `pspi` from `<base>_annotations.json`;
  PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 (0-16), checked against the file's PSPI.
  Neutral frames (`expression` 0) have all AUs 0. `distractor_aus` are 0 (not annotated).
- `identity` = `flame_sample_XXXX`; `expression` = Y of `pain_Y` (0 = neutral);
  `view` = view_000 / view_001 / view_002.
- Unknown in the release: `yaw`, `pitch`, `age`, `skin_tone`, `heatmap_scale_mm` are NaN, `facial_hair` is -1;
  `age_group`, `gender`, `ethnicity` are -1 (missing); `seed` is -1.

## Import

Problems found: {counts} (one line each in `{REPORT_FILE}`).
{meshes_text}
Please cite and follow the license of the original release.
"""
    text = f"---\n{card_data.to_yaml()}\n---\n\n{body}"
    write_atomic(out / "README.md", text.encode("utf-8"))  # replaces the placeholder, last


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Claim OUT (``generation.outdir`` decides what may be deleted); placeholder card."""
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ReleaseError(f"--out {out} is not empty; choose a new folder or pass --overwrite")
    try:
        prepare_output_dir(out, "import-3dpain", overwrite=overwrite)
    except OutputDirError as e:
        raise ReleaseError(str(e)) from None
    write_unfinished_card(out, UNFINISHED_HINT, configs=(CONFIG,))


# --------------------------------------------------------------------------- import


def import_3dpain(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    max_shard_mb: float = 256,
    progress: bool = True,
    split_file: str | os.PathLike | None = None,
    seed: int = 0,
    overwrite: bool = False,
    verbose: bool = True,
) -> ImportReport:
    """Convert the 3D-Pain release in ``src`` into the typed layout in ``out`` (see module doc).

    split_file: a CSV (annotation_base_name, split) to use instead of looking for one in ``src``;
    seed: of the 70/20/10 identity split when there is no split file; verbose: print the problems
    and the summary to stderr. Raises ReleaseError for the fatal cases.
    """
    from tqdm.auto import tqdm

    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise ReleaseError(f"release folder {src} does not exist; download {RELEASE_REPO} first")
    try:
        check_shard_mb(max_shard_mb)
        check_seed(seed)
    except ValueError as e:
        raise ReleaseError(str(e)) from None
    report = ImportReport(src=src, out=out)
    image_shards = _shards(src, "images", report, required=True)
    annotation_shards = _shards(src, "annotations", report, required=True)
    heatmap_shards = _shards(src, "heatmaps", report, required=False)
    mesh_shards = _shards(src, "textured_meshes", report, required=False)
    if not heatmap_shards:
        report.notes.append("no heatmaps/ shards: heatmap and heatmap_raw of pain frames are null")

    if split_file is not None:
        split_path = Path(split_file)
        if not split_path.is_file():
            raise ReleaseError(f"split file {split_path} does not exist")
    else:
        split_path = _find_split_file(src)
    split_of = _read_split_file(split_path) if split_path is not None else None
    _prepare_out(out, overwrite)
    features = frame_features(names=VIEW_NAMES)
    n_views = len(VIEW_NAMES)
    bar = dict(disable=not progress, unit="shard", leave=False)

    tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=out))
    store = _BlobStore(tmp / "blobs.sqlite")
    try:
        # 1. annotations (held in memory: small)
        labels: dict[str, _Labels] = {}
        annotation_file: dict[str, str] = {}
        bad_annotation: set[str] = set()
        unknown_keys: dict[str, int] = {}
        for shard in tqdm(annotation_shards, desc="annotations", **bar):
            for file, name, data in _members(shard, "annotations", report):
                m = _ANNOTATION_RE.fullmatch(name)
                if not m:
                    report.add(file, "unrecognised file name in annotations/", "ignored")
                    continue
                base, _, expr = _parse_base(m)
                if base in annotation_file:
                    report.add(file, f"duplicate annotation of {base} (first: {annotation_file[base]})", "skipped")
                    continue
                annotation_file[base] = file
                parsed = _parse_annotation(data, file, expr == 0, report, unknown_keys)
                if parsed is None:
                    bad_annotation.add(base)
                else:
                    labels[base] = parsed
        if unknown_keys:
            keys = ", ".join(f"{k} ({n} files)" for k, n in sorted(unknown_keys.items()))
            report.notes.append(f"annotation keys ignored (not FACS AUs): {keys}")

        # 2. heatmaps -> blob store, keyed by base and view ("*" = every view)
        heatmap_file: dict[tuple[str, str], str] = {}
        for shard in tqdm(heatmap_shards, desc="heatmaps", **bar):
            for file, name, data in _members(shard, "heatmaps", report):
                m = _HEATMAP_RE.fullmatch(name)
                if not m:
                    report.add(file, "unrecognised file name in heatmaps/", "ignored")
                    continue
                base, _, expr = _parse_base(m)
                if expr == 0:
                    report.add(file, "heatmap of a neutral expression (neutral heatmaps are black)", "ignored")
                    continue
                vm = _HEATMAP_VIEW_RE.search(m.group("rest"))
                view = "*" if vm is None else str(int(vm.group(1)))
                if vm is not None and int(vm.group(1)) >= n_views:
                    report.add(file, f"view {vm.group(1)} is outside {VIEW_NAMES[0]}..{VIEW_NAMES[-1]}", "ignored")
                    continue
                if (base, view) in heatmap_file:
                    report.add(file, f"duplicate heatmap (first: {heatmap_file[(base, view)]})", "ignored")
                    continue
                heatmap_file[(base, view)] = file
                store.put(f"h/{base}/{view}", data)

        # 3. images, first pass: index every name, keep the neutral images
        image_file: dict[tuple[str, int], str] = {}
        identity_of: dict[str, str] = {}
        expression_of: dict[str, int] = {}
        neutral_name: dict[tuple[str, int], str] = {}
        unreadable: set[tuple[str, int]] = set()
        for shard in tqdm(image_shards, desc="images (index)", **bar):
            for file, name, data in _members(shard, "images", report):
                m = _IMAGE_RE.fullmatch(name)
                if not m:
                    report.add(file, "unrecognised file name in images/", "ignored")
                    continue
                base, ident, expr = _parse_base(m)
                view = int(m.group("view"))
                if view >= n_views:
                    report.add(file, f"view {m.group('view')} is outside {VIEW_NAMES[0]}..{VIEW_NAMES[-1]}", "skipped")
                    continue
                if (base, view) in image_file:
                    report.add(file, f"duplicate image (first: {image_file[(base, view)]})", "skipped")
                    continue
                image_file[(base, view)] = file
                identity_of[base], expression_of[base] = ident, expr
                if expr == 0:
                    try:
                        with Image.open(io.BytesIO(data)) as im:
                            size = im.size
                    except Exception as e:  # PIL raises several types for bad data
                        report.add(file, f"not a readable image ({e.__class__.__name__})", "skipped")
                        unreadable.add((base, view))
                        continue
                    store.put(f"n/{ident}/{view}", data)
                    store.put(f"s/{ident}/{view}", json.dumps(size).encode())
                    neutral_name[(ident, view)] = name
        image_bases = {b for b, _ in image_file}

        # 4. cross-checks, by file
        for base, file in sorted(annotation_file.items()):
            if base not in image_bases:
                report.add(file, "annotation without images", "skipped")
        for (base, view), file in sorted(image_file.items()):
            if expression_of[base] and base not in labels and base not in bad_annotation:
                report.add(file, f"image without annotation ({base}_annotations.json)", "skipped")
        for (base, view), file in sorted(heatmap_file.items()):
            if base not in image_bases:
                report.add(file, "heatmap without a matching image", "ignored")
            elif view != "*" and (base, int(view)) not in image_file:
                report.add(file, f"heatmap without a matching image in view {int(view):03d}", "ignored")

        def importable(base: str, view: int) -> bool:
            if (base, view) in unreadable:
                return False
            return expression_of[base] == 0 or base in labels

        candidates = sorted({identity_of[b] for (b, v) in image_file if importable(b, v)})
        if split_of is not None:
            report.split_source = f"the release's split file {split_path.name}"
            assigned = {}
            for ident in candidates:
                if ident in split_of:
                    assigned[ident] = split_of[ident]
                else:
                    report.add(str(split_path.name), f"identity {ident} is not in the split file: its frames skipped", "skipped")
        else:
            report.split_source = f"70/20/10 by identity, seeded (seed {seed})"
            assigned = assign_splits(candidates, seed=seed)

        for (base, view), file in sorted(image_file.items()):
            ident = identity_of[base]
            if expression_of[base] == 0 or not importable(base, view) or ident not in assigned:
                continue
            if (ident, view) not in neutral_name:
                report.add(file, f"no neutral image of {ident} in view {view:03d}: neutral_image left null", "kept")
            if heatmap_shards and (base, str(view)) not in heatmap_file and (base, "*") not in heatmap_file:
                report.add(file, "no heatmap: heatmap and heatmap_raw left null", "kept")

        # 5. images, second pass: write rows
        frames_dir = tmp / "data" / CONFIG
        frames_dir.mkdir(parents=True)
        max_bytes = int(max_shard_mb * (1 << 20))
        writers = {s: _SplitWriter(frames_dir, s, features, max_bytes) for s in SPLITS}
        identities: dict[str, set[str]] = {s: set() for s in SPLITS}
        black: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        raw_cache: dict[str, bytes | None] = {}
        seen: set[tuple[str, int]] = set()
        nan = float("nan")
        for shard in tqdm(image_shards, desc="images (write)", **bar):
            for file, name, data in _members(shard, "images"):
                m = _IMAGE_RE.fullmatch(name)
                if not m:
                    continue
                base, ident, expr = _parse_base(m)
                view = int(m.group("view"))
                if image_file.get((base, view)) != file or (base, view) in seen:
                    continue  # reported in the first pass (duplicate, bad view)
                seen.add((base, view))
                if not importable(base, view) or ident not in assigned:
                    continue
                try:
                    with Image.open(io.BytesIO(data)) as im:
                        size = im.size
                except Exception as e:
                    report.add(file, f"not a readable image ({e.__class__.__name__})", "skipped")
                    continue
                neutral = store.get(f"n/{ident}/{view}")
                if expr == 0:
                    lab = _Labels({c: 0.0 for c in PAIN_CODES}, {c: 0.0 for c in DISTRACTOR_CODES}, 0)
                    if base in labels:
                        lab = labels[base]
                    if size not in black:
                        w, h = size
                        black[size] = (_png(np.zeros((h, w, 3), np.uint8)), _png(np.zeros((h, w), np.uint16)))
                    heat = {"bytes": black[size][0], "path": None}
                    raw = {"bytes": black[size][1], "path": None}
                    neutral_img = {"bytes": data, "path": name}
                else:
                    lab = labels[base]
                    key = f"h/{base}/{view}"
                    hm = store.get(key)
                    if hm is None:
                        key = f"h/{base}/*"
                        hm = store.get(key)
                    heat = raw = None
                    if hm is not None:
                        hm_file = heatmap_file[(base, key.rsplit("/", 1)[1])]
                        if key not in raw_cache:
                            raw_cache.clear()  # rows of one expression arrive together
                            try:
                                with Image.open(io.BytesIO(hm)) as im:
                                    grey = np.asarray(im.convert("L"), dtype=np.uint16)
                                raw_cache[key] = _png(grey * 257)
                            except Exception as e:
                                report.add(hm_file, f"not a readable image ({e.__class__.__name__}): heatmap left null", "kept")
                                raw_cache[key] = None
                        if raw_cache[key] is not None:
                            heat = {"bytes": hm, "path": _member_name(hm_file)}
                            raw = {"bytes": raw_cache[key], "path": None}
                    neutral_img = None if neutral is None else {"bytes": neutral, "path": neutral_name[(ident, view)]}
                row = {
                    "image": {"bytes": data, "path": name},
                    "neutral_image": neutral_img,
                    "heatmap": heat,
                    "heatmap_raw": raw,
                    "aus": dict(lab.aus),
                    "distractor_aus": dict(lab.distractors),
                    "pspi": lab.pspi,
                    "identity": ident,
                    "expression": expr,
                    "view": VIEW_NAMES[view],
                    "yaw": nan,
                    "pitch": nan,
                    "age_group": -1,
                    "gender": -1,
                    "ethnicity": -1,
                    "age": nan,
                    "skin_tone": nan,
                    "facial_hair": -1,
                    "heatmap_scale_mm": nan,
                    "seed": -1,
                    "appearance": "",
                }
                nbytes = len(data) + sum(len(x["bytes"]) for x in (neutral_img, heat, raw) if x is not None)
                split = assigned[ident]
                writers[split].add(row, nbytes)
                identities[split].add(ident)

        total = sum(w.rows for w in writers.values())
        if total == 0:
            raise ReleaseError(
                f"no importable frame in {src} ({len(report.skipped)} skipped, {len(report.ignored)} ignored); "
                "see the problems above"
            )
        for s in SPLITS:
            paths = writers[s].close()
            if writers[s].rows:
                report.rows[s] = writers[s].rows
                report.identities[s] = len(identities[s])
                report.shards[s] = len(paths)
        store.close()

        # 6. textured meshes -> the meshes and faces configs
        configs = {CONFIG: (features, writers)}
        if mesh_shards:
            configs.update(_import_meshes(mesh_shards, tmp, assigned, labels, report, max_bytes, bar))
        (out / "data").mkdir(exist_ok=True)
        for config in configs:
            os.replace(tmp / "data" / config, out / "data" / config)
        write_checksums(out, [f"data/{c}/{p.name}" for c, (_, ws) in configs.items() for s in SPLITS if s in ws for p in ws[s].final])
        _write_card(out, configs, report)
        (out / REPORT_FILE).write_text("\n".join(report.lines()) + "\n", encoding="utf-8")
    finally:
        try:
            store.con.close()
        except sqlite3.Error:
            pass
        shutil.rmtree(tmp, ignore_errors=True)
    if verbose:
        _print_report(report)
    return report


def _print_report(report: ImportReport, stream=None) -> None:
    stream = stream or sys.stderr
    for p in report.problems[:PRINT_LIMIT]:
        print(p, file=stream)
    if len(report.problems) > PRINT_LIMIT:
        print(f"... and {len(report.problems) - PRINT_LIMIT} more in {report.out / REPORT_FILE}", file=stream)
    for n in report.notes:
        print(f"note: {n}", file=stream)
    print(report.summary(), file=stream)


# --------------------------------------------------------------------------- CLI




def cmd_import_3dpain(args: argparse.Namespace) -> int:
    """Run ``import-3dpain``; ReleaseError (a ValueError) carries the one-line message."""
    import_3dpain(
        args.src,
        args.out,
        max_shard_mb=args.max_shard_mb,
        progress=not args.quiet,
        split_file=args.split_file,
        seed=args.seed,
        overwrite=args.overwrite,
        verbose=True,
    )
    return 0


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add ``import-3dpain SRC --out DIR`` to an argparse subparsers object.

    The command's function is ``args.func(args) -> exit status``; bad input raises ReleaseError
    (a ValueError) with a one-line message, for the caller's error handler.
    """
    p = subparsers.add_parser(
        "import-3dpain",
        help=f"convert the authors' 3D-Pain release ({RELEASE_REPO}) into the typed dataset layout",
        description=(
            f"Convert a downloaded copy of the 3D-Pain release ({RELEASE_REPO}: images/, heatmaps/, "
            "annotations/ of .tar.gz shards) into Parquet shards plus a dataset card that "
            "load_dataset(OUT) reads with typed features. Problems are reported by file name."
        ),
    )
    p.add_argument("src", metavar="SRC", help="the release folder (holding images/, heatmaps/, annotations/)")
    p.add_argument("--out", required=True, help="output dataset folder (new or empty)")
    p.add_argument("--split-file", default=None, help="CSV annotation_base_name,split (0/1/2) to use; default: one found in SRC, else 70/20/10 by identity")
    p.add_argument("--seed", type=int, default=0, help="seed of the 70/20/10 identity split (default %(default)s)")
    p.add_argument("--max-shard-mb", type=float, default=256, help="largest Parquet shard in MB (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace the dataset in a non-empty --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_import_3dpain)
    return p
