"""``pain3d verify DIR``: is a Hub-layout folder a sound 3DPain dataset?

Checks, each problem reported as one line naming the file it concerns:

- the card (``README.md``) parses, declares ``configs`` with ``data_files`` and ``dataset_info``
  with features and split sizes, for the frames config (the default) and, when present, the
  meshes and faces configs;
- every declared pattern matches shards, shard names ``<split>-i-of-n`` are complete, no Parquet
  file under ``data/`` is left undeclared, and no unfinished run (``data/.pieces``) remains;
- each shard's size and SHA-256 match ``.pain3d/checksums.json`` (a changed byte is named by
  file and by row range), and each config's ``download_size`` is the sum of its shard sizes;
- each shard is readable Parquet whose columns are the card's features, and the rows per config
  and split equal the card's ``num_examples``;
- splits are disjoint by identity, every meshes identity has frames in the same split, no
  (identity, expression, view) repeats, every pain frame's identity and view has its neutral row;
- ``pspi`` equals AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 on ``aus`` (frames and meshes);
- images decode (all, or ``sample`` per config and split; a null ``neutral_image`` or heatmap
  is allowed), a damaged file's rows are named, mesh vertex arrays are (V, 3) and
  finite, face indices lie within the vertex count.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .features import CONFIGS, DEFAULT_CONFIG, SPLITS
from .integrity import CHECKSUMS, check_file, is_unfinished_card, read_checksums

IMAGE_COLUMNS = ("image", "neutral_image", "heatmap", "heatmap_raw")
_SHARD_RE = re.compile(r"^(?P<split>\w+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.parquet$")


@dataclass
class Report:
    """What ``verify`` found: ``lines`` summarise, ``problems`` are ``"file: what is wrong"``."""

    root: Path
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    images_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")


def _rel(root: Path, p: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


def _pspi(aus: dict) -> float:
    return aus["AU4"] + max(aus["AU6"], aus["AU7"]) + max(aus["AU9"], aus["AU10"]) + aus["AU43"]


def _read_card(root: Path, report: Report):
    """(configs, infos) from README.md, or (None, None) with a problem."""
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    card = root / "README.md"
    if not card.is_file():
        hint = " (unfinished run: finish it with pain3d generate --resume)" if (root / "data" / ".pieces").exists() else ""
        report.problem("README.md", f"missing: not a finished dataset folder{hint}")
        return None, None
    if is_unfinished_card(card):
        report.problem("README.md", "missing the dataset card: an unfinished run (finish it with pain3d generate --resume)")
        return None, None
    try:
        data = DatasetCard.load(card).data
        configs = MetadataConfigs.from_dataset_card_data(data)
        infos = DatasetInfosDict.from_dataset_card_data(data)
    except Exception as e:  # noqa: BLE001 - any parse failure is the card's problem
        report.problem("README.md", f"cannot read the YAML header ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        return None, None
    if not configs:
        report.problem("README.md", "declares no configs (YAML 'configs:')")
    try:
        default = configs.get_default_config_name()
        if configs and default != DEFAULT_CONFIG:
            report.problem("README.md", f"default config is {default!r}, expected {DEFAULT_CONFIG!r}")
    except ValueError as e:
        report.problem("README.md", str(e))
    if DEFAULT_CONFIG not in configs:
        report.problem("README.md", f"config {DEFAULT_CONFIG!r} is not declared")
    for name in CONFIGS:  # meshes and faces are optional (an imported release has frames only)
        if name in configs and (name not in infos or infos[name].features is None):
            report.problem("README.md", f"config {name!r} has no dataset_info features")
    return configs, infos


def _split_patterns(cfg: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    files = cfg.get("data_files") or []
    if isinstance(files, (str, list)) and not (isinstance(files, list) and files and isinstance(files[0], dict)):
        return {"train": [files] if isinstance(files, str) else list(files)}
    for item in files:
        pats = item["path"]
        out[item["split"]] = [pats] if isinstance(pats, str) else list(pats)
    return out


def _check_shard_names(root: Path, split: str, files: list[Path], report: Report) -> None:
    counts = set()
    seen = set()
    for f in files:
        m = _SHARD_RE.match(f.name)
        if not m or m["split"] != split:
            continue
        counts.add(int(m["n"]))
        seen.add(int(m["i"]))
    if len(counts) > 1:
        report.problem(_rel(root, files[0].parent), f"{split} shards disagree on their count ({sorted(counts)})")
    elif counts:
        n = counts.pop()
        missing = sorted(set(range(n)) - seen)
        if missing:
            report.problem(_rel(root, files[0].parent), f"{split} shard(s) {', '.join(f'{i:05d}' for i in missing)} of {n:05d} missing")


def verify(root: Path, sample: int | None = None) -> Report:
    """Check the folder ``root``; ``sample`` decodes only that many images per config and split."""
    import pyarrow.parquet as pq
    from datasets import Features

    root = Path(root)
    report = Report(root)
    if (root / "data" / ".pieces").exists():
        report.problem("data/.pieces", "an unfinished or interrupted run left pieces behind; run pain3d generate --resume")
    configs, infos = _read_card(root, report)
    if configs is None:
        return report
    try:
        sums = read_checksums(root)
    except ValueError as e:
        report.problem(CHECKSUMS, str(e))
        sums = {}
    if sums is None:
        report.lines.append(f"no {CHECKSUMS}: shard contents not checked against checksums")
    declared: set[Path] = set()
    # per config: split -> identity -> first file seen; and the rows read for content checks
    owners: dict[str, dict[str, dict[str, str]]] = {}
    for config in CONFIGS:
        if config not in configs:
            continue
        info = infos.get(config)
        features = info.features if info is not None else None
        owners[config] = {}
        disk = 0
        for split, patterns in _split_patterns(configs[config]).items():
            files = sorted({p for pat in patterns for p in root.glob(pat) if p.is_file()})
            declared.update(files)
            if not files:
                report.problem("README.md", f"{config}/{split}: no files match {', '.join(patterns)}")
                continue
            _check_shard_names(root, split, files, report)
            rows = 0
            readable = []
            for f in files:
                rel = _rel(root, f)
                disk += f.stat().st_size
                if sums is not None:
                    err = check_file(f, sums[rel]) if rel in sums else f"not recorded in {CHECKSUMS}"
                    if err:
                        report.problem(rel, err)
                try:
                    pf = pq.ParquetFile(f)
                except Exception as e:  # noqa: BLE001
                    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                    report.problem(rel, f"not readable Parquet (truncated or damaged?): {msg}")
                    continue
                if features is not None:
                    got = Features.from_arrow_schema(pf.schema_arrow)
                    if got != features:
                        diff = sorted(set(got) ^ set(features)) or sorted(k for k in features if got.get(k) != features[k])
                        report.problem(rel, f"columns differ from the card's {config} features ({', '.join(diff[:5])})")
                        continue
                rows += pf.metadata.num_rows
                readable.append(f)
            want = info.splits[split].num_examples if info is not None and info.splits and split in info.splits else None
            if want is None:
                report.problem("README.md", f"{config}/{split}: no num_examples in dataset_info")
            elif rows != want and len(readable) == len(files):
                report.problem("README.md", f"{config}/{split}: declares {want} rows, the files hold {rows} ({', '.join(_rel(root, f) for f in files[:3])})")
            owners[config][split] = _check_content(root, config, split, readable, report, sample)
            report.lines.append(f"{config:<7} {split:<11} {len(files):>3} file(s) {rows:>8} rows")
        if info is not None and info.download_size and disk != info.download_size:
            report.problem("README.md", f"{config}: dataset_info download_size is {info.download_size} bytes, the shards hold {disk}")
    for rel in sorted(sums or {}):
        if not (root / rel).is_file():
            report.problem(rel, f"recorded in {CHECKSUMS} but missing")
    for f in sorted((root / "data").rglob("*.parquet")) if (root / "data").is_dir() else []:
        if f not in declared and ".pieces" not in f.parts:
            report.problem(_rel(root, f), "not declared by any config in README.md")
    _check_splits(owners, report)
    return report


def _check_content(root: Path, config: str, split: str, files: list[Path], report: Report, sample: int | None) -> dict[str, str]:
    """Row-level checks of one config and split; returns identity -> file of its first row."""
    import pyarrow.parquet as pq

    owner: dict[str, str] = {}
    if config == "faces":
        for f in files:
            try:
                t = pq.read_table(f).to_pydict()
            except Exception as e:  # noqa: BLE001
                report.problem(_rel(root, f), f"faces: rows cannot be read ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
                continue
            for model, faces in zip(t["face_model"], t["faces"]):
                arr = np.asarray(faces)
                if arr.ndim != 2 or arr.shape[1] != 3 or arr.min() < 0:
                    report.problem(_rel(root, f), f"faces of {model!r} are not (F, 3) non-negative indices")
        return owner
    keys: dict[tuple, str] = {}
    neutral, pain = set(), {}
    image_total = 0
    n_rows = sum(pq.read_metadata(f).num_rows for f in files)
    chosen = None if sample is None or sample >= n_rows else set(np.linspace(0, n_rows - 1, sample).round().astype(int).tolist())
    offset = 0
    for f in files:
        rel = _rel(root, f)
        try:
            pf = pq.ParquetFile(f)
            light = ["identity", "expression", "aus", "pspi"] + (["view"] if config == "frames" else [])
            t = pf.read(columns=light).to_pydict()
            views = t["view"] if config == "frames" else [0] * len(t["identity"])
            for ident, expr, aus, p, view in zip(t["identity"], t["expression"], t["aus"], t["pspi"], views):
                owner.setdefault(ident, rel)
                key = (ident, expr, view)
                if key in keys:
                    report.problem(rel, f"{config}: {ident} expression {expr}" + (f" view {view}" if config == "frames" else "") + f" appears twice (also in {keys[key]})")
                keys[key] = rel
                if expr == 0:
                    neutral.add((ident, view))
                else:
                    pain.setdefault((ident, view), rel)
                if abs(_pspi(aus) - p) > 1e-6:
                    report.problem(rel, f"{config}: {ident} expression {expr} has pspi {p} but its AUs give {_pspi(aus):g}")
            # heavy columns, batch by batch: decode images / check vertex arrays
            file_start = offset
            if config == "meshes":
                if "glb" in pf.schema_arrow.names:
                    if not _glb_ok(pf):
                        report.problem(rel, "meshes: a glb cell is not a whole GLB file")
                elif not _vertices_ok(pf):
                    report.problem(rel, "meshes: vertices are not finite (V, 3) arrays, or albedo does not match them")
                offset += pf.metadata.num_rows
                continue
            for batch in pf.iter_batches(columns=list(IMAGE_COLUMNS), batch_size=64):
                wanted = [r for r in range(batch.num_rows) if chosen is None or offset + r in chosen]
                if wanted:
                    cols = batch.take(wanted).to_pydict()
                    for k, r in enumerate(wanted):
                        for col in IMAGE_COLUMNS:
                            if cols[col][k] is None and col != "image":
                                continue  # null: the frame has no such image (an imported release)
                            err = _decode_error(cols[col][k])
                            image_total += 1
                            if err:
                                report.problem(rel, f"frames: row {offset + r - file_start} {col} does not decode ({err})")
                offset += batch.num_rows
        except Exception as e:  # noqa: BLE001 - damaged pages: name the file, go on
            report.problem(rel, f"{config}: rows cannot be read ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    for (ident, view), rel in pain.items() if config == "frames" else ():  # an imported mesh may lack its neutral
        if (ident, view) not in neutral:
            report.problem(rel, f"{config}: {ident}" + (f" view {view}" if config == "frames" else "") + f" has pain rows but no neutral (expression 0) row in {split}")
    report.images_checked += image_total
    return owner


def _vertices_ok(pf) -> bool:
    """Every row's vertices: a list of 3-vectors of finite numbers (read as flat Arrow arrays);
    its albedo, when the file has one, as many RGB triples."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = ["vertices"] + (["albedo"] if "albedo" in pf.schema_arrow.names else [])
    for batch in pf.iter_batches(columns=columns, batch_size=64):
        lengths = []
        for k in range(batch.num_columns):
            arr = batch.column(k)
            if isinstance(arr, pa.ExtensionArray):
                arr = arr.storage
            inner = arr.flatten()  # one entry per vertex
            if len(inner) and (pc.min(pc.list_value_length(inner)).as_py() != 3 or pc.max(pc.list_value_length(inner)).as_py() != 3):
                return False
            lengths.append(pc.list_value_length(arr).to_numpy(zero_copy_only=False))
            if k == 0:
                values = inner.flatten().to_numpy(zero_copy_only=False)
                if values.size and not np.isfinite(values).all():
                    return False
        if len(lengths) == 2 and not np.array_equal(lengths[0], lengths[1]):
            return False
    return True


def _glb_ok(pf) -> bool:
    """Every ``glb`` cell: a GLB container whose header gives its own length."""
    for batch in pf.iter_batches(columns=["glb"], batch_size=16):
        for cell in batch.column(0).to_pylist():
            if not cell or cell[:4] != b"glTF" or int.from_bytes(cell[8:12], "little") != len(cell):
                return False
    return True


def _decode_error(cell) -> str | None:
    from PIL import Image

    if not isinstance(cell, dict) or not cell.get("bytes"):
        return "no embedded bytes"
    try:
        with Image.open(io.BytesIO(cell["bytes"])) as im:
            im.load()
    except Exception as e:  # noqa: BLE001
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


def _check_splits(owners: dict[str, dict[str, dict[str, str]]], report: Report) -> None:
    for config, by_split in owners.items():
        if config == "faces":
            continue
        where = defaultdict(list)
        for split in SPLITS:
            for ident, rel in by_split.get(split, {}).items():
                where[ident].append((split, rel))
        for ident, places in sorted(where.items()):
            if len(places) > 1:
                report.problem(places[1][1], f"{config}: identity {ident} is in {' and '.join(s for s, _ in places)} (also {places[0][1]}); splits must be disjoint by identity")
    if "frames" in owners and "meshes" in owners:
        for split in SPLITS:
            a = set(owners["frames"].get(split, {}))
            b = set(owners["meshes"].get(split, {}))
            if not b <= a:  # an imported release may lack some identities' meshes, never their frames
                odd = sorted(b - a)
                report.problem("README.md", f"{split}: meshes of identities without frames there ({', '.join(odd[:3])})")


def print_report(report: Report, quiet: bool = False) -> None:
    if not quiet:
        print(f"pain3d verify {report.root}")
        for line in report.lines:
            print(f"  {line}")
        print(f"  images decoded: {report.images_checked}")
    for p in report.problems:
        print(f"problem: {p}")
    if not quiet:
        if report.ok:
            print(f"OK: {report.root} is a sound pain3d dataset")
        else:
            print(f"{len(report.problems)} problem(s) in {report.root}")
