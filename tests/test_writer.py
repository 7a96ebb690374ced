"""The Hub-layout writer (``pain3d generate``'s default format), ``pain3d verify`` and ``push``.

- identity splits: the stratified ones of ``splits.demographic_splits`` (tests/test_splits.py), disjoint;
- the folder: shards, card YAML and body, plots; ``load_dataset`` returns the declared features;
- bounded shards; the same bytes with ``--workers 2``, with two real ranks (``accelerate
  launch`` on the CPU, gloo), and after a SIGKILLed run finished with ``--resume``;
- output-folder rules; ``verify`` on a good folder and on corruptions; ``push`` validation.

Runs are tiny (64 px, 1 expression, 1 view, a handful of identities).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pain3d.cli import main
from helpers import assert_one_error_line, assert_same_tree, run, tree
from generation.pipeline import GenerationConfig
from pain3d_dataset import hub as hub_module
from pain3d_dataset.integrity import is_unfinished_card
from pain3d_dataset.features import face_features, frame_features, mesh_features
from pain3d_dataset.splits import demographic_splits
from pain3d_dataset.writer import concat_pieces_atomic, plan_shards, read_piece, write_piece_atomic, write_table_atomic

IDS = 4
BASE = ["--identities", str(IDS), "--expressions", "1", "--views", "1", "--size", "64", "--quiet"]
YAWS = (0.0,)
BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


# --- helpers ------------------------------------------------------------------------------------


def generate(out: Path, capsys, *extra, base=BASE) -> None:
    code, _, err = run(["generate", "--out", out, *base, *extra], capsys)
    assert code == 0, err
    assert "Traceback" not in err


def card_yaml(root: Path) -> dict:
    text = (root / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def manifest(root: Path) -> list[dict]:
    return [json.loads(ln) for ln in (root / ".pain3d/manifest.jsonl").read_text().splitlines()]


def frame_rows(root: Path, columns=("identity", "expression", "view")) -> dict[str, list[dict]]:
    out = {}
    for split in ("train", "validation", "test"):
        files = sorted((root / "data/frames").glob(f"{split}-*.parquet"))
        out[split] = pa.concat_tables([pq.read_table(f, columns=list(columns)) for f in files]).to_pylist() if files else []
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- shared runs ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Path:
    """seed 0, one process, into a folder named 3dpain."""
    out = tmp_path_factory.mktemp("ref") / "3dpain"
    assert main(["generate", "--out", str(out), *BASE, "--seed", "0"]) == 0
    return out


@pytest.fixture
def ref_copy(ref, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(ref, dst)
    return dst


BIG_YAWS = GenerationConfig.view_yaws(2)
BIG = ["--identities", "10", "--expressions", "2", "--views", "2", "--size", "64", "--quiet"]


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """10 identities x (neutral + 2) x 2 views, for splits and content."""
    out = tmp_path_factory.mktemp("big") / "ds"
    assert main(["generate", "--out", str(out), *BIG, "--seed", "3"]) == 0
    return out


# --- 1. splits -----------------------------------------------------------------------------------
def test_plan_shards():
    assert plan_shards([5, 5, 5, 5], 10) == [[0, 1], [2, 3]]
    assert plan_shards([30, 1, 1], 10) == [[0], [1, 2]]
    assert plan_shards([], 10) == []


# --- 2. layout and card --------------------------------------------------------------------------
def test_layout(ref):
    files = sorted(p.relative_to(ref).as_posix() for p in ref.rglob("*") if p.is_file())
    splits = demographic_splits(IDS, 0)
    present = sorted(set(splits), key=["train", "validation", "test"].index)
    expected = [".pain3d/checksums.json", ".pain3d/config.json", ".pain3d/manifest.jsonl", ".pain3d/owner.json", "README.md", "data/faces/train-00000-of-00001.parquet"]
    expected += [f"data/{c}/{s}-00000-of-00001.parquet" for c in ("frames", "meshes") for s in present]
    expected += ["demographics.png", "lineup.jpg", "pspi_histogram.png"]
    assert files == sorted(expected)
    assert [m["identity"] for m in manifest(ref)] == [f"id_{i:05d}" for i in range(IDS)]
    assert [m["split"] for m in manifest(ref)] == splits
    for png in ("demographics.png", "pspi_histogram.png"):
        assert (ref / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_card(ref):
    meta = card_yaml(ref)
    assert meta["license"] == "apache-2.0"
    assert "image-classification" in meta["task_categories"] and "pain" in meta["tags"]
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {"frames", "meshes", "faces"}
    assert configs["frames"].get("default") is True and not configs["meshes"].get("default")
    infos = {c["config_name"]: c for c in meta["dataset_info"]}
    splits = demographic_splits(IDS, 0)
    for config, per_identity in (("frames", 2), ("meshes", 2)):
        declared = {s["name"]: s["num_examples"] for s in infos[config]["splits"]}
        assert declared == {s: per_identity * splits.count(s) for s in set(splits)}
        assert [d["split"] for d in configs[config]["data_files"]] == [s for s in ("train", "validation", "test") if s in declared]
        feature_names = [f["name"] for f in infos[config]["features"]]
        want = frame_features(YAWS) if config == "frames" else mesh_features()
        assert feature_names == list(want)
    assert {s["name"]: s["num_examples"] for s in infos["faces"]["splits"]} == {"train": 1}
    body = (ref / "README.md").read_text().split("---\n", 2)[2]
    for needle in ("PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43", "heatmap_raw", "65535",
                   "](pspi_histogram.png)", "](demographics.png)", "`seed` | `0`", "`size` | `64`", "by **identity**"):
        assert needle in body, needle


def test_load_dataset_by_name_from_parent(ref, tmp_path, monkeypatch):
    from datasets import load_dataset

    monkeypatch.chdir(ref.parent)
    ds = load_dataset("3dpain", cache_dir=str(tmp_path / "cache"))
    splits = demographic_splits(IDS, 0)
    assert set(ds) == set(splits)
    for split, d in ds.items():
        assert d.features == frame_features(YAWS)
        assert len(d) == 2 * splits.count(split)
    row = ds["train"][0]
    assert row["image"].mode == "RGB" and row["image"].size == (64, 64)
    assert row["heatmap_raw"].mode.startswith("I;16")
    a = row["aus"]
    assert row["pspi"] == a["AU4"] + max(a["AU6"], a["AU7"]) + max(a["AU9"], a["AU10"]) + a["AU43"]
    assert row["appearance"] == ""  # the procedural texture keeps no backend record


def test_load_dataset_meshes_and_faces(ref, tmp_path):
    from datasets import load_dataset

    train = load_dataset(str(ref), split="train", cache_dir=str(tmp_path / "cache"))  # by path, default config
    assert train.features == frame_features(YAWS)
    meshes = load_dataset(str(ref), "meshes", cache_dir=str(tmp_path / "cache"))
    faces = load_dataset(str(ref), "faces", cache_dir=str(tmp_path / "cache"))
    assert faces["train"].features == face_features() and len(faces["train"]) == 1
    tri = faces["train"].with_format("numpy")[0]["faces"]
    # stored as int32 (datasets' numpy formatter widens integers to int64 on the way out)
    assert tri.ndim == 2 and tri.shape[1] == 3 and np.issubdtype(tri.dtype, np.integer) and tri.min() >= 0
    assert faces["train"].data.table.column("faces").type.storage_type.value_type.value_type == pa.int32()
    for split, d in meshes.items():
        assert d.features == mesh_features()
        rows = d.with_format("numpy")
        for r in range(len(d)):
            v = rows[r]["vertices"]
            assert v.dtype == np.float32 and v.ndim == 2 and v.shape[1] == 3 and np.isfinite(v).all()
            assert tri.max() < v.shape[0]
    # neutral and pain meshes of one identity are paired: same vertex count, they differ
    train = meshes["train"].with_format("numpy")
    ident = train[0]["identity"]
    pair = [train[i] for i in range(len(train)) if train[i]["identity"] == ident]
    assert sorted(p["expression"] for p in pair) == [0, 1]
    assert pair[0]["vertices"].shape == pair[1]["vertices"].shape
    assert not np.array_equal(pair[0]["vertices"], pair[1]["vertices"]) or pair[1]["pspi"] == 0


def test_splits_disjoint_and_complete(big):
    rows = frame_rows(big, ("identity", "expression", "view", "image", "neutral_image"))
    ids = {s: {r["identity"] for r in rs} for s, rs in rows.items()}
    assert {s: len(v) for s, v in ids.items()} == {"train": 7, "validation": 2, "test": 1}
    assert not (ids["train"] & ids["validation"]) and not (ids["train"] & ids["test"]) and not (ids["validation"] & ids["test"])
    assert set().union(*ids.values()) == {f"id_{i:05d}" for i in range(10)}
    splits = demographic_splits(10, 3)
    for s, v in ids.items():
        assert v == {f"id_{i:05d}" for i in range(10) if splits[i] == s}
    # meshes follow the same split
    for s in ids:
        files = sorted((big / "data/meshes").glob(f"{s}-*.parquet"))
        assert {r for f in files for r in pq.read_table(f, columns=["identity"]).column(0).to_pylist()} == ids[s]
    # every row, once; identity order within a split; neutral_image is the neutral frame's image
    for s, rs in rows.items():
        keys = [(r["identity"], r["expression"], r["view"]) for r in rs]
        assert len(keys) == len(set(keys)) == len(ids[s]) * 3 * 2
        assert keys == sorted(keys)
        neutral = {(r["identity"], r["view"]): r["image"]["bytes"] for r in rs if r["expression"] == 0}
        assert all(r["neutral_image"]["bytes"] == neutral[(r["identity"], r["view"])] for r in rs)


def test_bounded_shards(big, tmp_path, capsys):
    out = tmp_path / "sharded"
    generate(out, capsys, "--seed", "3", "--max-shard-mb", "0.05", base=BIG)
    shards = sorted((out / "data/frames").glob("train-*.parquet"))
    assert len(shards) > 1
    n = len(shards)
    assert [p.name for p in shards] == [f"train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    # same rows, same order as the single-shard run
    for config in ("frames", "meshes"):
        for split in ("train", "validation", "test"):
            a = pa.concat_tables([pq.read_table(f) for f in sorted((big / "data" / config).glob(f"{split}-*"))])
            b = pa.concat_tables([pq.read_table(f) for f in sorted((out / "data" / config).glob(f"{split}-*"))])
            assert a.equals(b), (config, split)
    declared = {s["name"]: s["num_examples"] for s in next(c for c in card_yaml(out)["dataset_info"] if c["config_name"] == "frames")["splits"]}
    assert declared["train"] == 7 * 6
    code, text, _ = run(["verify", out], capsys)
    assert code == 0, text


def test_concat_pieces_streams_row_groups(big, tmp_path):
    """Shards are written a row group at a time: with a tiny row-group bound each piece becomes
    its own row group, and the file still holds the pieces' rows in order, read back by
    ``datasets`` with the declared features."""
    from datasets import Dataset

    features = frame_features(BIG_YAWS)
    table = pa.concat_tables([pq.read_table(f) for f in sorted((big / "data/frames").glob("train-*"))])
    cuts = [0, 6, 7, 18, table.num_rows]  # uneven pieces, one of a single row
    pieces = []
    for k, (a, b) in enumerate(zip(cuts, cuts[1:])):
        pieces.append(tmp_path / f"piece{k}.arrow")
        write_piece_atomic(table.slice(a, b - a), pieces[-1], compression="zstd" if k % 2 else None)
    for bound, groups in ((1, len(pieces)), (None, 1)):
        out = tmp_path / f"shard-{bound}.parquet"
        rows, nbytes, size = concat_pieces_atomic(pieces, features, out, row_group_bytes=bound)
        assert (rows, size) == (table.num_rows, out.stat().st_size)
        assert nbytes == sum(read_piece(p).nbytes for p in pieces)  # Arrow size, as the card records it
        meta = pq.read_metadata(out)
        assert meta.num_row_groups == groups
        assert [meta.row_group(i).num_rows for i in range(groups)] == ([b - a for a, b in zip(cuts, cuts[1:])] if bound else [table.num_rows])
        assert pq.read_table(out).equals(table)
        ds = Dataset.from_parquet(str(out), cache_dir=str(tmp_path / "cache"))
        assert ds.features == features
        assert ds[7]["identity"] == table.column("identity")[7].as_py()
    assert not list(tmp_path.glob(".*.tmp"))


def test_mesh_vertices_stored_compactly(big):
    """Vertex floats: byte-stream-split + zstd, no dictionary (the other columns as ``datasets``
    writes them); values read back exactly (the meshes tests above load them)."""
    shard = sorted((big / "data/meshes").glob("train-*.parquet"))[0]
    rg = pq.ParquetFile(shard).metadata.row_group(0)
    cols = {rg.column(i).path_in_schema: rg.column(i) for i in range(rg.num_columns)}
    vert = cols["vertices.list.element.list.element"]
    assert vert.compression == "ZSTD" and "BYTE_STREAM_SPLIT" in vert.encodings
    assert not any("DICTIONARY" in e for e in vert.encodings)
    assert cols["pspi"].compression == "SNAPPY"
    # content-defined chunking as datasets writes, except for the vertex floats (no dedup there)
    frames = sorted((big / "data/frames").glob("train-*.parquet"))[0]
    assert b"content_defined_chunking" in pq.read_metadata(frames).metadata
    assert b"content_defined_chunking" not in pq.read_metadata(shard).metadata


# --- 3. same bytes however the work is spread ----------------------------------------------------
def test_workers_same_bytes(ref, tmp_path, capsys):
    out = tmp_path / "workers"
    generate(out, capsys, "--seed", "0", "--workers", "2")
    assert_same_tree(ref, out)


def test_two_ranks_accelerate_launch(ref, tmp_path):
    """Two real processes in one gloo group (accelerate launch on the CPU; torchrun if the
    accelerate console script is missing): both ranks write identities, rank 0 finishes, and
    the dataset is byte-identical to the single-process run (the manifest records the ranks)."""
    out = tmp_path / "ranks"
    port = str(free_port())
    args = ["-m", "pain3d", "generate", "--out", str(out), *BASE, "--seed", "0"]
    if (BIN / "accelerate").exists():
        cmd = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", port, *args]
    else:
        cmd = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", port, *args]
    proc = subprocess.run(cmd, env={**ENV, "ACCELERATE_USE_CPU": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = manifest(out)
    assert [r["identity"] for r in records] == [f"id_{i:05d}" for i in range(IDS)]
    assert {r["rank"] for r in records} == {0, 1}
    assert all(r["rank"] == i % 2 for i, r in enumerate(records))
    assert_same_tree(ref, out, skip={".pain3d/manifest.jsonl"})


# --- 4. resume ------------------------------------------------------------------------------------
KILL = ["--identities", "12", "--expressions", "1", "--views", "1", "--size", "64", "--quiet", "--seed", "7"]


def test_resume_after_sigkill(tmp_path, capsys):
    ref12 = tmp_path / "uninterrupted"
    generate(ref12, capsys, base=KILL)

    out = tmp_path / "killed"
    proc = subprocess.Popen([str(BIN / "pain3d"), "generate", "--out", str(out), *KILL],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    man = out / ".pain3d/manifest.jsonl"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if man.exists() and man.read_text().count("\n") >= 1:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = man.read_text().splitlines()
    assert 1 <= len(done) < 12
    assert is_unfinished_card(out / "README.md") and not (out / "data/frames").exists()

    # worse than SIGKILL can leave: a torn manifest line, a damaged piece recorded as done, a temp file
    first = json.loads(done[0])["identity"]
    piece = out / "data/.pieces/frames" / f"{first}.arrow"
    piece.write_bytes(piece.read_bytes()[: piece.stat().st_size // 2])
    with open(man, "a") as fh:
        fh.write('{"identity": "id_000')
    (out / "data/.pieces/meshes/.id_00011.arrow.tmp").write_bytes(b"half")

    code, _, err = run(["generate", "--out", out, *KILL, "--resume"], capsys)
    assert code == 0, err
    assert_same_tree(ref12, out)
    rows = frame_rows(out)
    keys = [(r["identity"], r["expression"], r["view"]) for s in rows.values() for r in s]
    assert len(keys) == len(set(keys)) == 12 * 2


def test_crash_while_finishing_then_resume(ref, tmp_path, capsys, monkeypatch):
    """Killed after the shards but before the card: the pieces are still there; --resume
    finishes the same dataset."""
    from pain3d_dataset import card

    out = tmp_path / "crash"

    def boom(*a, **k):
        raise OSError("simulated crash while writing the card")

    monkeypatch.setattr(card, "write_card", boom)
    code, _, err = run(["generate", "--out", out, *BASE, "--seed", "0"], capsys)
    assert code == 2 and "simulated crash" in err
    assert (out / "data/.pieces").is_dir() and is_unfinished_card(out / "README.md")
    monkeypatch.undo()
    generate(out, capsys, "--seed", "0", "--resume")
    assert_same_tree(ref, out)


def unfinished_run(out: Path, capsys, monkeypatch) -> None:
    """Every identity's pieces written, then a crash before the card (as above)."""
    from pain3d_dataset import card

    with monkeypatch.context() as m:
        m.setattr(card, "write_card", lambda *a, **k: (_ for _ in ()).throw(OSError("simulated crash")))
        code, _, err = run(["generate", "--out", out, *BASE, "--seed", "0"], capsys)
    assert code == 2 and "simulated crash" in err and (out / "data/.pieces").is_dir()


def test_resume_across_generators(ref, tmp_path, capsys, monkeypatch):
    """The Hub layout's pieces: a generator that remakes the first identity's pieces with other
    rows is refused (one line, nothing touched); one that remakes them unchanged finishes the run."""
    import generation.layout
    import generation.pipeline

    out = tmp_path / "unfinished"
    unfinished_run(out, capsys, monkeypatch)
    record = json.loads((out / ".pain3d/config.json").read_text())
    assert record["generator"] == generation.layout.generator_stamp()
    before = tree(out)
    other = {"pain3d": "0.0.9", "source": "sha256:" + "0" * 64}
    with monkeypatch.context() as m:
        m.setattr(generation.layout, "generator_stamp", lambda: other)
        m.setattr(generation.pipeline, "EXPOSURE_METERING", 0.5)
        code, _, err = run(["generate", "--out", out, *BASE, "--seed", "0", "--resume"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert "another generator" in err and "data/.pieces/frames/id_00000.arrow" in err
    assert tree(out) == before

    with monkeypatch.context() as m:  # another source, the same frames
        m.setattr(generation.layout, "generator_stamp", lambda: other)
        generate(out, capsys, "--seed", "0", "--resume")
    assert_same_tree(ref, out)


def test_resume_finished_is_a_no_op(ref_copy, capsys):
    before = tree(ref_copy)
    code, out, err = run(["generate", "--out", ref_copy, *BASE[:-1], "--seed", "0", "--resume"], capsys)
    assert code == 0, err
    assert "already a finished dataset" in out
    assert tree(ref_copy) == before


def test_resume_empty_folder_is_a_fresh_run(ref, tmp_path, capsys):
    out = tmp_path / "new"
    generate(out, capsys, "--seed", "0", "--resume")
    assert_same_tree(ref, out)


# --- 5. output-folder rules (generation/layout.py's) ---------------------------------------------
@pytest.mark.parametrize("extra, needle", [
    (["--seed", "0"], "--resume"),                          # not empty, no flag
    (["--seed", "1", "--resume"], "different settings"),
    (["--seed", "0", "--resume", "--format", "folder"], "--format hub"),
    (["--seed", "0", "--resume", "--overwrite"], "--overwrite and --resume"),
    (["--seed", "0", "--identities", "0", "--overwrite"], "--identities"),
])
def test_existing_output_refused(ref_copy, capsys, extra, needle):
    before = tree(ref_copy)
    code, _, err = run(["generate", "--out", ref_copy, *BASE, *extra], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert needle in err
    assert tree(ref_copy) == before


@pytest.mark.parametrize("flag", ["--overwrite", "--resume", None])
def test_foreign_folder_is_never_touched(flag, tmp_path, capsys):
    out = tmp_path / "thesis"
    (out / "data").mkdir(parents=True)
    (out / "data" / "results.parquet").write_bytes(b"PAR1 not ours")
    (out / "README.md").write_text("# my thesis\n")
    before = tree(out)
    code, _, err = run(["generate", "--out", out, *BASE, *([flag] if flag else [])], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert tree(out) == before


def test_overwrite_replaces_either_format(ref, tmp_path, capsys):
    out = tmp_path / "ow"
    generate(out, capsys, "--seed", "5", "--format", "folder")
    generate(out, capsys, "--seed", "0", "--overwrite")
    assert_same_tree(ref, out)


def test_usage_errors(tmp_path, capsys):
    code, _, err = run(["generate", "--out", tmp_path / "o", "--max-shard-mb", "0"], capsys)
    assert code == 2 and "--max-shard-mb" in err.splitlines()[-1] and "Traceback" not in err
    code, _, err = run(["verify", tmp_path / "nowhere"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert not (tmp_path / "o").exists()


# --- 6. verify ------------------------------------------------------------------------------------
def problems(out: str) -> list[str]:
    return [ln[len("problem: "):] for ln in out.splitlines() if ln.startswith("problem: ")]


def test_verify_good(ref, big, capsys):
    for root in (ref, big):
        code, out, err = run(["verify", root], capsys)
        assert code == 0, out
        assert problems(out) == [] and "OK:" in out and err == ""
    code, out, _ = run(["verify", big, "--sample", "3"], capsys)
    assert code == 0 and "images decoded: " in out


def _shard(root: Path, config: str, split: str) -> Path:
    return sorted((root / "data" / config).glob(f"{split}-*.parquet"))[0]


def test_verify_truncated_shard(big, tmp_path, capsys):
    root = tmp_path / "t"
    shutil.copytree(big, root)
    shard = _shard(root, "frames", "validation")
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    code, out, _ = run(["verify", root], capsys)
    assert code == 1
    rel = shard.relative_to(root).as_posix()
    assert any(p.startswith(f"{rel}: not readable Parquet") for p in problems(out)), out


def test_verify_identity_in_two_splits(big, tmp_path, capsys):
    root = tmp_path / "two"
    shutil.copytree(big, root)
    train, val = _shard(root, "frames", "train"), _shard(root, "frames", "validation")
    t = pq.read_table(train)
    ident = t.column("identity")[0].as_py()
    leaked = t.filter(pa.compute.equal(t.column("identity"), ident))
    write_table_atomic(pa.concat_tables([pq.read_table(val), leaked]), frame_features(BIG_YAWS), val)
    code, out, _ = run(["verify", root], capsys)
    assert code == 1
    found = problems(out)
    rel = val.relative_to(root).as_posix()
    assert any(p.startswith(f"{rel}: frames: identity {ident} is in train and validation") for p in found), out
    assert any(p.startswith("README.md: frames/validation: declares") for p in found), out


def test_verify_wrong_count_in_card(big, tmp_path, capsys):
    root = tmp_path / "count"
    shutil.copytree(big, root)
    card = root / "README.md"
    text = card.read_text()
    head, body = text.split("\n---\n", 1)
    meta = yaml.safe_load(head[4:])
    frames = next(c for c in meta["dataset_info"] if c["config_name"] == "frames")
    n = frames["splits"][0]["num_examples"]
    old = f"    num_examples: {n}\n"
    assert old in head
    card.write_text(head.replace(old, f"    num_examples: {n + 5}\n", 1) + "\n---\n" + body)
    code, out, _ = run(["verify", root], capsys)
    assert code == 1
    found = problems(out)
    assert len(found) == 1, out
    assert found[0].startswith(f"README.md: frames/train: declares {n + 5} rows, the files hold {n}"), out


def test_verify_more_corruptions(big, tmp_path, capsys):
    root = tmp_path / "more"
    shutil.copytree(big, root)
    # a wrong pspi label, a damaged image, a missing shard of a set, an undeclared file
    test_shard = _shard(root, "frames", "test")
    t = pq.read_table(test_shard).to_pylist()
    t[1]["pspi"] = (t[1]["pspi"] + 1) % 17
    t[2]["image"] = {"bytes": t[2]["image"]["bytes"][:200], "path": None}
    from datasets import Dataset

    ds = Dataset.from_list(t, features=frame_features(BIG_YAWS))
    write_table_atomic(ds.data.table, ds.features, test_shard)
    (root / "data/meshes/train-00000-of-00001.parquet").rename(root / "data/meshes/train-00000-of-00002.parquet")
    (root / "data/frames/extra.parquet").write_bytes(test_shard.read_bytes())
    code, out, _ = run(["verify", root], capsys)
    assert code == 1
    found = problems(out)
    rel = test_shard.relative_to(root).as_posix()
    assert any(p.startswith(f"{rel}: frames:") and "pspi" in p for p in found), out
    assert any(p.startswith(f"{rel}: frames: row 2 image does not decode") for p in found), out
    assert any(p.startswith("data/meshes: train shard(s) 00001 of 00002 missing") for p in found), out
    assert any(p.startswith("data/frames/extra.parquet: not declared") for p in found), out


def test_verify_unfinished(tmp_path, capsys, monkeypatch):
    from pain3d_dataset import card

    out = tmp_path / "unfinished"
    monkeypatch.setattr(card, "write_card", lambda *a, **k: (_ for _ in ()).throw(OSError("crash")))
    run(["generate", "--out", out, *BASE], capsys)
    code, text, _ = run(["verify", out], capsys)
    assert code == 1
    assert any(p.startswith("README.md: missing") and "--resume" in p for p in problems(text)), text


# --- 7. push --------------------------------------------------------------------------------------
class FakeApi:
    calls: list = []

    def __init__(self, token=None):
        FakeApi.calls.append(("init", token))

    def create_repo(self, repo_id, **kw):
        FakeApi.calls.append(("create_repo", repo_id, kw))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kw):
        FakeApi.calls.append(("upload_folder", kw))


def test_push_uploads_a_verified_folder(ref, capsys, monkeypatch):
    FakeApi.calls = []
    monkeypatch.setattr(hub_module, "HfApi", FakeApi)
    code, out, err = run(["push", ref, "someone/3dpain", "--private"], capsys)
    assert code == 0, err
    names = [c[0] for c in FakeApi.calls]
    assert names == ["init", "create_repo", "upload_folder"]
    assert FakeApi.calls[1][2] == {"repo_type": "dataset", "private": True, "exist_ok": True}
    up = FakeApi.calls[2][1]
    assert up["repo_type"] == "dataset" and up["repo_id"] == "someone/3dpain" and Path(up["folder_path"]) == ref
    assert ".pain3d/**" in up["ignore_patterns"]
    assert "someone/3dpain" in out


@pytest.mark.parametrize("case", ["bad repo id", "no slash", "fails verify", "no folder"])
def test_push_refuses(case, ref, tmp_path, capsys, monkeypatch):
    FakeApi.calls = []
    monkeypatch.setattr(hub_module, "HfApi", FakeApi)
    folder, repo = ref, "someone/3dpain"
    if case == "bad repo id":
        repo = "someone/bad name!"
    elif case == "no slash":
        repo = "3dpain"
    elif case == "fails verify":
        folder = tmp_path / "broken"
        shutil.copytree(ref, folder)
        shard = _shard(folder, "frames", "train")
        shard.write_bytes(shard.read_bytes()[:100])
    else:
        folder = tmp_path / "nowhere"
    code, _, err = run(["push", folder, repo], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert FakeApi.calls == []
    if case == "fails verify":
        assert "fails verification" in err and "pain3d verify" in err


def test_card_lineup_shows_each_stratums_first_neutral_face(tmp_path, capsys):
    """lineup.jpg: the first identity of each stratum, frontal and turned, as in the shards."""
    from PIL import Image

    from generation.pipeline import GenerationConfig, Generator
    from pain3d_dataset.card import LINEUP_CELL

    out = tmp_path / "ds"
    generate(out, capsys, "--identities", 6, "--expressions", 1, "--views", 3, "--size", 64, "--quiet", base=[])
    assert f"![Line-up of identities](lineup.jpg)" in (out / "README.md").read_text()
    sheet = np.asarray(Image.open(out / "lineup.jpg").convert("RGB"), dtype=np.float64)
    gen = Generator(GenerationConfig(identities=6, expressions=0, views=(-30.0, 0.0, 30.0), size=64, seed=0))
    firsts: dict = {}
    for i, d in enumerate(gen.demographics):
        firsts.setdefault(d, i)  # 6 identities of a balanced run: 6 different strata
    assert len(firsts) == 6
    cell, label = LINEUP_CELL, 14
    assert sheet.shape == (2 * (cell + label), 4 * 2 * cell, 3)
    # Each cell is its identity's neutral frame (resized; JPEG): frontal first, then -30 degrees.
    from generation.demographics import STRATA

    order = sorted(firsts, key=STRATA.index)
    for k, demo in enumerate(order):
        frames = gen.identity(firsts[demo]).frames
        r, c = divmod(k, 4)
        for j, view in enumerate((1, 2)):  # yaw 0, then +30 (the most turned; ties go to +)
            want = np.asarray(Image.fromarray(frames[view].image).resize((cell, cell), Image.BILINEAR), dtype=np.float64)
            got = sheet[r * (cell + label) + label : (r + 1) * (cell + label), (2 * c + j) * cell : (2 * c + j + 1) * cell]
            assert np.abs(got - want).mean() < 8, (demo, view, np.abs(got - want).mean())
