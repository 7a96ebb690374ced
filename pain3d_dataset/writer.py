"""The Hub-layout writer: generator output -> Parquet shards + dataset card, resumable and
shardable across processes.

    OUT/
      README.md                                  dataset card (YAML: configs, dataset_info)
      pspi_histogram.png, demographics.png       plots embedded in the card
      lineup.jpg                                 one neutral identity per stratum, in the card
      data/frames/train-00000-of-00002.parquet   one row per frame (default config)
      data/meshes/validation-00000-of-00001.parquet
      data/faces/train-00000-of-00001.parquet    the face model's triangles, once
      .pain3d/owner.json                         marks a pain3d folder (generation/outdir.py)
      .pain3d/config.json                        run settings
      .pain3d/manifest.jsonl                     finished identities: identity, rank, split
      .pain3d/checksums.json                     size and SHA-256 of every shard (integrity.py)

While generating, each identity is written as its own small Arrow IPC "piece" per config,
``data/.pieces/<config>/<identity>.arrow`` (temporary file + ``os.replace``), then recorded
in the manifest; Arrow IPC rather than Parquet because a piece is written once and read once:
it skips Parquet's encoding of the nested mesh arrays, which cost more than the meshes' shard. Any process may write any identity, in any order. ``finalize`` (one process,
after all identities; its shard jobs may run in a process pool) concatenates the pieces of each
config and split in identity order into shards of bounded size, streaming a row group at a time
(memory does not grow with the dataset), records their checksums, writes the card and removes
the pieces. Until then ``README.md`` is a placeholder that ``load_dataset`` refuses, saying to
run ``--resume``. Since shards depend only on the pieces, and each piece only on
``(seed, identity)``, the dataset is byte-identical whatever the number of processes or
workers, and whether or not the run was interrupted and resumed.

Splits are by identity (70/20/10 train/validation/test), stratified by age group x gender x
ethnicity and drawn from the seed and the stratum counts alone; see ``splits.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Sequence

import numpy as np

from generation.layout import HUB_MANIFEST, config_record, prepare_output, repair_manifest, write_atomic
from generation.limits import check_shard_mb
from generation.pipeline import GenerationConfig, IdentityResult, identity_name

from .features import CONFIGS, DEFAULT_CONFIG, SPLITS, face_features, features_for
from .integrity import file_digest, is_unfinished_card, write_checksums, write_unfinished_card
from .splits import assign_splits, demographic_splits, split_counts

PIECES = "data/.pieces"
CARD = "README.md"
PIECE_CONFIGS = ("frames", "meshes")  # written per identity; "faces" is written once at the end
# Arrow IPC compression of the pieces: the frames' images are already compressed; the meshes'
# floats shrink to about a third with zstd (so the pieces take little more disk than the shards).
PIECE_COMPRESSION = {"frames": None, "meshes": "zstd"}
DEFAULT_MAX_SHARD_MB = 256.0


class DatasetWriteError(ValueError):
    """The dataset cannot be written or finished as asked (a one-line CLI error)."""


# --- Parquet helpers ----------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_datasets():
    """No "Creating parquet from Arrow format" bars while we write (restored afterwards)."""
    from datasets.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: a temporary file beside it, fsynced and renamed
    onto ``path`` when the block ends. A killed run leaves either the old file, the new one, or
    a ``.*.tmp`` to sweep."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_dataset_atomic(ds, path: Path) -> int:
    """``ds.to_parquet`` onto ``path``, atomically (``_atomic_file``); returns the file size."""
    with _quiet_datasets(), _atomic_file(path) as fh:
        ds.to_parquet(fh)
    return path.stat().st_size


def rows_table(rows: list[dict], features):
    """Rows -> an Arrow table in ``features``' storage form, converted as ``Dataset.from_list``
    converts them (images as their encoded bytes, never re-encoded), without building a
    ``Dataset`` (whose fingerprint hashes every byte of the table)."""
    import pyarrow as pa
    from datasets.arrow_writer import OptimizedTypedSequence

    columns = {
        col: pa.array(OptimizedTypedSequence(features.encode_column([r[col] for r in rows], col), type=features[col], col=col))
        for col in features
    }
    table = pa.Table.from_pydict(columns)
    schema = features.arrow_schema
    return table if table.schema.equals(schema, check_metadata=False) else table.cast(schema)


def write_table_atomic(table, features, path: Path) -> int:
    """An Arrow table already in ``features``' storage form -> one Parquet file, atomically,
    written by ``datasets`` exactly as ``Dataset.to_parquet`` writes (row groups, metadata)."""
    from datasets import Dataset
    from datasets.info import DatasetInfo
    from datasets.table import InMemoryTable

    ds = Dataset(InMemoryTable(table), info=DatasetInfo(features=features))
    return write_dataset_atomic(ds, path)


def _row_group_bytes() -> int:
    """Arrow bytes per row group: the bound ``datasets`` aims for (``MAX_ROW_GROUP_SIZE``)."""
    from datasets import config
    from datasets.utils.py_utils import convert_file_size_to_int

    return convert_file_size_to_int(config.MAX_ROW_GROUP_SIZE)


def parquet_column_options(features, schema) -> dict:
    """``ParquetWriter`` column options: those of ``Dataset.to_parquet``
    (``datasets.arrow_writer.get_parquet_column_options``), except for the floats of array
    features (mesh vertices): there, dictionary encoding never pays, while byte-stream-split
    + zstd stores them in about a third of the bytes, faster to write and to read; and zstd for
    the other arrays (the per-vertex albedo, repeated for every expression of an identity)."""
    from datasets import Array2D, Array3D, Array4D, Array5D, Value
    from datasets.arrow_writer import get_parquet_column_options

    options = get_parquet_column_options(features, schema)
    for name, f in features.items():  # files held as bytes (a mesh's GLB): zstd, about 26 % smaller than snappy
        if isinstance(f, Value) and f.dtype in ("binary", "large_binary"):
            options["compression"] = {**options["compression"], name: "zstd"}
            options["use_dictionary"] = [c for c in options["use_dictionary"] if c != name]
    arrays = [name for name, f in features.items() if isinstance(f, (Array2D, Array3D, Array4D, Array5D))]
    for name in arrays:
        leaf = f"{name}." + ".".join(["list.element"] * len(features[name].shape))
        options["compression"] = {**options["compression"], leaf: "zstd"}
        if features[name].dtype.startswith("float"):
            options["use_dictionary"] = [c for c in options["use_dictionary"] if c != leaf]
            options["column_encoding"] = {**options["column_encoding"], leaf: "BYTE_STREAM_SPLIT"}
    return options


def content_defined_chunking(features) -> bool:
    """Whether a shard of ``features`` is written with content-defined chunking, as
    ``Dataset.to_parquet`` writes: yes, except for float arrays (mesh vertices), where it
    costs a third of the writing time and makes the file about 45 % larger (pages cut at
    content boundaries compress worse), for no deduplication: regenerated vertices never
    repeat byte for byte."""
    from datasets import Array2D, Array3D, Array4D, Array5D

    arrays = (Array2D, Array3D, Array4D, Array5D)
    return not any(isinstance(f, arrays) and f.dtype.startswith("float") for f in features.values())


def write_tables_atomic(
    tables: Iterable, features, path: Path, row_group_bytes: int | None = None, cdc: bool = True
) -> tuple[int, int, int]:
    """Arrow tables (in ``features``' storage form), in the order given -> one Parquet file at
    ``path``, atomically; returns (rows, Arrow bytes, file size).

    Streams: tables are taken one at a time from ``tables`` (any iterable, e.g. a generator
    reading files) and written as soon as about ``row_group_bytes`` of Arrow data are
    buffered, so memory holds one row group, not the file. The writer is set up as
    ``Dataset.to_parquet`` sets it up (``features``' schema and ``huggingface`` metadata,
    per-column compression and encodings, see ``parquet_column_options``, page index and, with
    ``cdc``, content-defined chunking), so ``datasets`` reads the file as one it wrote itself.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import config

    limit = _row_group_bytes() if row_group_bytes is None else max(1, int(row_group_bytes))
    schema = features.arrow_schema
    chunking = config.DEFAULT_CDC_OPTIONS if cdc else False
    rows = nbytes = 0
    buffer: list = []
    buffered = 0
    with _atomic_file(path) as fh:
        writer = pq.ParquetWriter(
            fh,
            schema=schema,
            use_content_defined_chunking=chunking,
            write_page_index=True,
            **parquet_column_options(features, schema),
        )
        for table in tables:
            if not table.schema.equals(schema, check_metadata=False):
                table = table.cast(schema)
            buffer.append(table)
            buffered += table.nbytes
            rows += table.num_rows
            nbytes += table.nbytes
            if buffered >= limit:
                writer.write_table(pa.concat_tables(buffer))
                buffer, buffered = [], 0
        if buffer or rows == 0:
            writer.write_table(pa.concat_tables(buffer) if buffer else schema.empty_table())
        if chunking:
            writer.add_key_value_metadata({"content_defined_chunking": json.dumps(chunking)})
        writer.close()
    del buffer
    pa.default_memory_pool().release_unused()  # Arrow's pool would otherwise keep the peak
    return rows, nbytes, path.stat().st_size


def write_piece_atomic(table, path: Path, compression: str | None = None) -> int:
    """An Arrow table -> one Arrow IPC file (a piece) at ``path``, atomically (temporary file,
    fsync, rename); returns the file size."""
    import pyarrow as pa

    with _atomic_file(path) as fh:
        with pa.ipc.new_file(fh, table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as writer:
            writer.write_table(table)
    return path.stat().st_size


def read_piece(path: Path):
    """The Arrow table of a piece written by ``write_piece_atomic``."""
    import pyarrow as pa

    with pa.OSFile(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def piece_rows_count(path: Path) -> int | None:
    """Rows in a piece, or None when it cannot be read (torn, truncated, not Arrow IPC)."""
    import pyarrow as pa

    try:
        with pa.OSFile(str(path)) as source:
            return pa.ipc.open_file(source).count_rows()
    except Exception:  # noqa: BLE001 - any unreadable file counts as missing
        return None


def concat_pieces_atomic(pieces: Sequence[Path], features, path: Path, row_group_bytes: int | None = None) -> tuple[int, int, int]:
    """Pieces (``write_piece_atomic``) -> one Parquet file at ``path`` (their rows in the order
    given), atomically, streaming (``write_tables_atomic``); returns (rows, Arrow bytes, file size)."""
    cdc = content_defined_chunking(features)
    return write_tables_atomic((read_piece(p) for p in pieces), features, path, row_group_bytes, cdc=cdc)


def plan_shards(sizes: Sequence[int], max_bytes: int) -> list[list[int]]:
    """Group consecutive items (in order) so each group's total size stays within ``max_bytes``;
    an item larger than the bound gets a group of its own."""
    groups: list[list[int]] = []
    cur: list[int] = []
    total = 0
    for i, size in enumerate(sizes):
        if cur and total + size > max_bytes:
            groups.append(cur)
            cur, total = [], 0
        cur.append(i)
        total += size
    if cur:
        groups.append(cur)
    return groups


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


@dataclass
class SplitWritten:
    """What ``write_shards`` wrote for one config and split."""

    config: str
    split: str
    files: list[str]  # relative to the dataset folder
    num_examples: int
    num_bytes: int  # Arrow (in-memory) size, as push_to_hub records it
    download_size: int  # Parquet bytes on disk
    digests: dict[str, dict] = field(default_factory=dict)  # file -> integrity.file_digest, where known


def _write_shard(job: tuple) -> tuple[int, int, int, dict]:
    """One shard job of ``write_shards`` (a top-level function, so a process pool can run it):
    the shard, then its checksums, read back while the file is in the page cache and hashed in
    the job's process rather than one after another at the end."""
    pieces, features, path = job
    return (*concat_pieces_atomic(pieces, features, path), file_digest(path))


def write_shards(
    out: Path, parts: Sequence[tuple[str, str, Sequence[Path], object]], max_bytes: int, map_fn: Callable = map
) -> list[SplitWritten]:
    """Concatenate the pieces of each ``(config, split, pieces, features)`` (pieces in the order
    given) into ``data/<config>/<split>-i-of-n.parquet`` shards of at most about ``max_bytes``
    each (the count planned from the piece sizes first). Each shard is one job for ``map_fn``
    (e.g. a process pool's ``imap``), streamed: memory holds one row group per job, whatever
    the number or size of the shards; each shard's bytes depend only on its pieces."""
    jobs, where = [], []
    for config, split, pieces, features in parts:
        groups = plan_shards([p.stat().st_size for p in pieces], max_bytes)
        for k, group in enumerate(groups):
            rel = f"data/{config}/{shard_name(split, k, len(groups))}"
            jobs.append(([pieces[j] for j in group], features, out / rel))
            where.append((config, split, rel))
    written: dict[tuple[str, str], SplitWritten] = {}
    for (config, split, rel), (rows, nbytes, size, digest) in zip(where, map_fn(_write_shard, jobs)):
        s = written.setdefault((config, split), SplitWritten(config, split, [], 0, 0, 0))
        s.files.append(rel)
        s.digests[rel] = digest
        s.num_examples += rows
        s.num_bytes += nbytes
        s.download_size += size
    return list(written.values())


def write_faces(out: Path, face_model: str, faces: np.ndarray, parts: Sequence = ()) -> SplitWritten:
    """The ``faces`` config: one row with the face model's triangles and parts (a single
    ``head`` part when none are given), atomically."""
    from datasets import Dataset

    from generation.mesh_asset import check_parts

    faces = np.asarray(faces, dtype=np.int32)
    n_vertices = int(faces.max()) + 1 if faces.size else 0
    if parts:
        n_vertices = max(n_vertices, max(int(p.stop) for p in parts))
    parts = check_parts(parts, faces, n_vertices)
    row = {"face_model": face_model, "faces": faces, "parts": [{"name": p.name, "start": p.start, "stop": p.stop} for p in parts]}
    rel = f"data/faces/{shard_name('train', 0, 1)}"
    ds = Dataset.from_list([row], features=face_features())
    size = write_dataset_atomic(ds, out / rel)
    return SplitWritten("faces", "train", [rel], 1, ds.data.nbytes, size)


# --- the writer ---------------------------------------------------------------------------------
@dataclass
class Finalized:
    """Summary of a finished dataset."""

    out: Path
    splits: list[SplitWritten] = field(default_factory=list)

    def rows(self, config: str) -> dict[str, int]:
        return {s.split: s.num_examples for s in self.splits if s.config == config}

    def files(self) -> list[str]:
        return [f for s in self.splits for f in s.files]


class HubWriter:
    """Writes one generation run in the Hub layout. Every method is safe to call from any rank
    except ``prepare`` and ``finalize`` (rank 0 only, before and after the others' work)."""

    def __init__(self, out: Path, config: GenerationConfig, max_shard_mb: float = DEFAULT_MAX_SHARD_MB) -> None:
        try:
            check_shard_mb(max_shard_mb)
        except ValueError as e:
            raise DatasetWriteError(str(e)) from None
        self.out = Path(out)
        self.config = config
        self.max_bytes = max(1, int(max_shard_mb * 2**20))
        self.splits = demographic_splits(config.identities, config.seed, config.weights)
        self.frames_per_identity = (config.expressions + 1) * len(config.views)
        self.meshes_per_identity = config.expressions + 1
        # --meshes none: frames only (no meshes or faces config)
        self.piece_configs = PIECE_CONFIGS if config.meshes != "none" else PIECE_CONFIGS[:1]

    # paths
    def piece(self, config: str, name: str) -> Path:
        return self.out / PIECES / config / f"{name}.arrow"

    @property
    def manifest(self) -> Path:
        return self.out / HUB_MANIFEST

    def features(self, config: str):
        return features_for(config, self.config.views, meshes=self.config.meshes)

    # rank 0, first
    def prepare(self, overwrite: bool, resume: bool) -> None:
        """Check/create OUT (the folder rules of ``generation.layout``) and sweep temporary
        files a killed run left behind; an unfinished folder gets the placeholder card."""
        prepare_output(self.out, self.config, overwrite=overwrite, resume=resume, layout="hub", manifest=HUB_MANIFEST)
        for tmp in self._temporaries():
            tmp.unlink()
        if not self.is_finished():
            write_unfinished_card(self.out)

    def _temporaries(self) -> list[Path]:
        found = []
        for folder in [self.out, self.out / "data", *(self.out / "data").glob("*"), *(self.out / PIECES).glob("*")]:
            if folder.is_dir():
                found += [p for p in folder.glob(".*.tmp") if p.is_file()]
        return found

    def is_finished(self) -> bool:
        """The card is written last, after every shard, so it marks a finished dataset."""
        card = self.out / CARD
        return card.is_file() and not is_unfinished_card(card)

    # any rank
    def records(self) -> dict[str, dict]:
        """Manifest records by identity (the last one wins; torn lines are skipped)."""
        recs: dict[str, dict] = {}
        if self.manifest.exists():
            for line in self.manifest.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    recs[rec["identity"]] = rec
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
        return recs

    def piece_ok(self, name: str) -> bool:
        want = {"frames": self.frames_per_identity, "meshes": self.meshes_per_identity}
        return all(piece_rows_count(self.piece(c, name)) == want[c] for c in self.piece_configs)

    def done(self, indices: Iterable[int] | None = None) -> set[str]:
        """Identities recorded in the manifest whose pieces are all present and readable, with
        the expected row counts (among ``indices``, default all); the rest must be (re)made."""
        recs = self.records()
        idx = range(self.config.identities) if indices is None else indices
        return {n for n in (identity_name(i) for i in idx) if n in recs and self.piece_ok(n)}

    def piece_rows(self, result: IdentityResult) -> dict[str, list[dict]]:
        """One identity's rows per piece config (images encoded here)."""
        from .rows import frame_rows, mesh_rows

        rows = {"frames": frame_rows(result, self.config.views, self.config.heatmap_scale_mm)}
        if "meshes" in self.piece_configs:
            rows["meshes"] = mesh_rows(result, self.config.face_model, self.config.meshes)
        return rows

    def write_piece_rows(self, name: str, rows: dict[str, list[dict]]) -> None:
        for config in self.piece_configs:
            table = rows_table(rows[config], self.features(config))
            write_piece_atomic(table, self.piece(config, name), PIECE_COMPRESSION[config])

    def stored_pieces_differ(self, result: IdentityResult) -> list[str]:
        """The identity's pieces (relative to OUT) that are missing or hold other rows than
        ``result`` gives now (how ``--resume`` tells a run begun by another generator)."""
        rows = self.piece_rows(result)
        changed = []
        for config in self.piece_configs:
            path = self.piece(config, result.name)
            table = rows_table(rows[config], self.features(config))
            if piece_rows_count(path) is None or not read_piece(path).equals(table):
                changed.append(path.relative_to(self.out).as_posix())
        return changed

    def write_pieces(self, result: IdentityResult) -> None:
        """One identity's rows -> its frames and meshes pieces (each atomic)."""
        self.write_piece_rows(result.name, self.piece_rows(result))

    def record(self, name: str, index: int, rank: int = 0) -> None:
        """Append the identity's manifest line (one ``write`` on an O_APPEND file, so lines from
        several processes never interleave), after its pieces are in place."""
        rec = {"identity": name, "rank": rank, "split": self.splits[index]}
        line = (json.dumps(rec, sort_keys=True) + "\n").encode()
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_identity(self, result: IdentityResult, rank: int = 0) -> None:
        self.write_pieces(result)
        self.record(result.name, result.index, rank)

    # rank 0, last
    def finalize(self, faces: np.ndarray, map_fn: Callable = map, parts: Sequence = ()) -> Finalized:
        """Pieces -> shards per config and split (identity order), the faces config (``faces``
        and the face model's ``parts``, ``generation.mesh_asset.Part``), the card with its
        plots; then the manifest is tidied and the pieces removed. ``map_fn`` runs the shard
        jobs (e.g. a process pool's ``imap``; the bytes do not depend on it)."""
        from .card import write_card

        names = [identity_name(i) for i in range(self.config.identities)]
        missing = [n for n in names if not self.piece_ok(n)]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DatasetWriteError(
                f"cannot finish {self.out}: no complete pieces for {', '.join(missing[:3])}{more}; rerun with --resume"
            )
        result = Finalized(self.out)
        jobs = []
        for config in self.piece_configs:
            for split in SPLITS:
                pieces = [self.piece(config, n) for n, s in zip(names, self.splits) if s == split]
                if pieces:
                    jobs.append((config, split, pieces, self.features(config)))
        result.splits += write_shards(self.out, jobs, self.max_bytes, map_fn)
        if "meshes" in self.piece_configs:
            result.splits.append(write_faces(self.out, self.config.face_model, faces, parts))
        self._remove_stale_shards(result.files())
        write_checksums(self.out, result.files(), known={f: d for s in result.splits for f, d in s.digests.items()})
        write_card(self.out, result, settings=config_record(self.config)["config"])
        self._tidy_manifest()
        shutil.rmtree(self.out / PIECES, ignore_errors=True)
        return result

    def _remove_stale_shards(self, keep: list[str]) -> None:
        """Shards of an earlier finalize with another plan (never with the same settings)."""
        keep_set = set(keep)
        for config in CONFIGS:
            for p in (self.out / "data" / config).glob("*.parquet"):
                if p.relative_to(self.out).as_posix() not in keep_set:
                    p.unlink()

    def _tidy_manifest(self) -> None:
        """One line per identity, in identity order (the rank that wrote it kept)."""
        repair_manifest(self.out, HUB_MANIFEST)
        recs = self.records()
        lines = [json.dumps(recs[identity_name(i)], sort_keys=True) + "\n" for i in range(self.config.identities)]
        write_atomic(self.manifest, "".join(lines).encode())

    def remove_pieces(self) -> None:
        """After a finished dataset: drop pieces a run killed while cleaning up left behind."""
        shutil.rmtree(self.out / PIECES, ignore_errors=True)


__all__ = [
    "CARD",
    "DEFAULT_CONFIG",
    "DEFAULT_MAX_SHARD_MB",
    "DatasetWriteError",
    "Finalized",
    "HubWriter",
    "PIECES",
    "SplitWritten",
    "assign_splits",
    "concat_pieces_atomic",
    "content_defined_chunking",
    "parquet_column_options",
    "piece_rows_count",
    "plan_shards",
    "read_piece",
    "shard_name",
    "split_counts",
    "write_faces",
    "write_piece_atomic",
    "rows_table",
    "write_shards",
    "write_table_atomic",
    "write_tables_atomic",
]
