"""Issue 16's fault probe, row by row: ownership, validation up front, the importer's promises,
content integrity. Each row of the issue's table is a test (``test_row_NN_...``) or a row of
``BAD_VALUES``; each failed before the fix."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import time
import tracemalloc
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from generation.outdir import OWNER_FILE, owner, owner_record
from helpers import assert_one_error_line, run, tree
from pain3d_dataset.importers import import_3dpain
from pain3d_dataset.importers import threedpain
from pain3d_dataset.integrity import CHECKSUMS, row_group_ranges
from test_importers import _img_name, _jpeg, _tar, build_release

A = ["--identities", "1", "--expressions", "1", "--views", "1", "--size", "64", "--quiet"]
BASE = ["--identities", "4", "--expressions", "1", "--views", "1", "--size", "64", "--quiet"]


def sha256s(root: Path) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in tree(root).items()}


def user_folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rel") / "ref"
    from pain3d.cli import main

    assert main(["generate", "--out", str(out), *BASE]) == 0
    return out


@pytest.fixture(scope="module")
def folder_record(tmp_path_factory) -> bytes:
    """A genuine pain3d.json (folder format), to plant in a user's folder."""
    out = tmp_path_factory.mktemp("rec") / "f"
    from pain3d.cli import main

    assert main(["generate", "--out", str(out), *A, "--format", "folder"]) == 0
    return (out / "pain3d.json").read_bytes()


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return build_release(tmp_path_factory.mktemp("release") / "3D-Pain")


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --- rows 1 and 2: never delete what is not ours ---------------------------------------------------
MARKERS = {
    "genuine pain3d.json": {"pain3d.json": None},
    "empty pain3d.json": {"pain3d.json": b"{}"},
    "empty .pain3d/config.json": {".pain3d/config.json": b"{}"},
    "empty owner.json": {OWNER_FILE: b"{}"},
    "owner.json of another format": {OWNER_FILE: json.dumps({**owner_record("hub"), "format": "other"}).encode()},
}


@pytest.mark.parametrize("fmt", ["hub", "folder"])
@pytest.mark.parametrize("marker", sorted(MARKERS))
def test_row_01_generate_overwrite_keeps_a_user_folder(marker, fmt, folder_record, tmp_path, capsys):
    files = {"notes.txt": b"my notes\n", "README.md": b"# mine\n", "sub/data.bin": b"\x00\x01\x02"}
    files.update({k: v if v is not None else folder_record for k, v in MARKERS[marker].items()})
    u2 = user_folder(tmp_path / "U2", files)
    before = sha256s(u2)
    code, _, err = run(["generate", "--out", u2, *A, "--overwrite", "--format", fmt], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert "notes.txt" in err and "nothing was deleted" in err
    assert sha256s(u2) == before


def test_row_02_import_overwrite_keeps_a_user_folder(release, tmp_path, capsys):
    files = {"README.md": b"# my book\n", "notes.txt": b"notes\n", "data/mystuff/chapter1.tex": b"\\chapter{One}\n"}
    u3 = user_folder(tmp_path / "U3", files)
    before = sha256s(u3)
    code, _, err = run(["import-3dpain", release, "--out", u3, "--overwrite", "--quiet"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert "README.md" in err and "nothing was deleted" in err
    assert sha256s(u3) == before


@pytest.mark.parametrize("extra", [{"notes.txt": b"mine"}, {"data/frames/mine.csv": b"a,b\n"}, {"sub/x.bin": b"\x00"}])
def test_overwrite_of_our_folder_keeps_files_we_did_not_write(ref, extra, tmp_path, capsys):
    out = user_folder(copy(ref, tmp_path / "ours"), extra)
    before = sha256s(out)
    code, _, err = run(["generate", "--out", out, *BASE, "--seed", "3", "--overwrite"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert next(iter(extra)).split("/")[0] in err and "did not write" in err
    assert sha256s(out) == before


def test_import_overwrite_of_our_import(release, tmp_path, capsys):
    out = tmp_path / "imp"
    import_3dpain(release, out, progress=False, verbose=False, seed=0)
    first = sha256s(out)
    code, _, err = run(["import-3dpain", release, "--out", out, "--overwrite", "--quiet", "--seed", "0"], capsys)
    assert code == 0, err
    assert sha256s(out) == first  # same input, same bytes
    (out / "data/mystuff").mkdir()
    (out / "data/mystuff/chapter1.tex").write_text("mine")
    before = sha256s(out)
    code, _, err = run(["import-3dpain", release, "--out", out, "--overwrite", "--quiet"], capsys)
    assert code == 2 and "data/mystuff/" in err
    assert sha256s(out) == before


def test_owner_marker_is_recognised_only_when_exact(tmp_path):
    d = tmp_path / "d"
    (d / ".pain3d").mkdir(parents=True)
    assert owner(d) is None
    for text in ("", "{}", "[1]", "not json", json.dumps({**owner_record("hub"), "extra": 1}), json.dumps(owner_record("nope"))):
        (d / OWNER_FILE).write_text(text)
        assert owner(d) is None, text
    (d / OWNER_FILE).write_text(json.dumps(owner_record("folder")))
    assert owner(d) == "folder"


# --- rows 3 to 8: every numeric option checked before any work ---------------------------------------
BAD_VALUES = {  # row: (arguments, option named, accepted range named)
    "row 3 --identities 10**12": (["--identities", "1000000000000"], "--identities", "accepted --identities: 0.."),
    "row 4 --expressions 10**9": (["--expressions", "1000000000"], "--expressions", "accepted --expressions: 0.."),
    "row 4 --views 10**9": (["--views", "1000000000"], "--views", "accepted --views: 1.."),
    "row 4 --ssaa 1000": (["--ssaa", "1000"], "--ssaa", "accepted --ssaa: 1.."),
    "row 5 --seed 10**38": (["--seed", "1" + "0" * 38], "--seed", "from 0 to 9223372036854775807"),
    "row 6 --max-shard-mb inf": (["--max-shard-mb", "inf"], "--max-shard-mb", "finite number of MB above 0"),
    "row 6 --max-shard-mb nan": (["--max-shard-mb", "nan"], "--max-shard-mb", "finite number of MB above 0"),
    "row 6 --max-shard-mb 0": (["--max-shard-mb", "0"], "--max-shard-mb", "finite number of MB above 0"),
    "row 7 --pitch nan": (["--pitch", "nan"], "--pitch", "finite number from -89 to 89"),
    "row 7 --pitch inf": (["--pitch", "inf"], "--pitch", "finite number from -89 to 89"),
    "row 7 --pitch 200": (["--pitch", "200"], "--pitch", "finite number from -89 to 89"),
    "row 8 --yaws nan,inf": (["--yaws", "nan,inf"], "--yaws", "finite number from -180 to 180"),
    "--yaws 0,inf": (["--yaws", "0,inf"], "--yaws", "finite number from -180 to 180"),
    "--distractors nan": (["--distractors", "nan"], "--distractors", "[0, 1]"),
    "--size 100000": (["--size", "100000"], "--size", "from 32 to 2048"),
    "--workers 10**6": (["--workers", "1000000"], "--workers", "from 0 to 256"),
}


@pytest.mark.parametrize("fmt", ["hub", "folder"])
@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_refused_up_front(case, fmt, tmp_path, capsys):
    argv, option, accepted = BAD_VALUES[case]
    out = tmp_path / "o"
    start = time.monotonic()
    code, stdout, err = run(["generate", "--out", out, *A, "--format", fmt, *argv], capsys)
    assert time.monotonic() - start < 10  # refused before any work (row 3 took 27 s to fail)
    assert code == 2
    assert_one_error_line(err)
    assert option in err and accepted in err, err
    if case.split()[1] in ("3", "4"):
        assert "memory" in err and "B of memory" in err  # the estimate is in the message
    assert not out.exists()  # no folder left behind (row 4's --ssaa left .pain3d)


@pytest.mark.parametrize("case", ["row 4 --ssaa 1000", "row 7 --pitch nan", "row 5 --seed 10**38"])
def test_bad_values_leave_our_folder_as_it_was(ref, case, tmp_path, capsys):
    out = copy(ref, tmp_path / "ours")
    before = tree(out)
    code, _, err = run(["generate", "--out", out, *BASE, "--overwrite", *BAD_VALUES[case][0]], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert tree(out) == before


@pytest.mark.parametrize("argv, needle", [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**64)], "--seed"),
    (["--max-shard-mb", "inf"], "--max-shard-mb"),
])
def test_import_bad_values(release, argv, needle, tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = run(["import-3dpain", release, "--out", out, "--quiet", *argv], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert needle in err
    assert not out.exists()


def test_preview_bad_view(tmp_path, capsys):
    code, _, err = run(["preview", "--out", tmp_path / "s.png", "--size", 64, "--view", "nan", "--quiet"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert "--view" in err and not (tmp_path / "s.png").exists()


# --- rows 9 to 11: the importer --------------------------------------------------------------------------
def _problems(report, action="skipped") -> dict[str, str]:
    out: dict[str, str] = {}
    for p in report.problems:
        if p.action == action:
            out[p.file] = f"{out[p.file]} | {p.message}" if p.file in out else p.message
    return out


def test_row_09_deep_json_is_a_reported_problem(release, tmp_path):
    src = copy(release, tmp_path / "src")
    deep = b"[" * 200_000 + b"]" * 200_000
    wide = json.dumps({"AU4": 1, "AU6": 0, "AU7": 0, "AU9": 0, "AU10": 0, "AU43": 0, "PSPI": 1, "x": [[[[1]]]] * 3}).encode()
    nested = json.dumps({"AU4": 1, "x": json.loads("[" * 70 + "]" * 70)}).encode()
    _tar(src / "annotations" / "annotations_00009.tar.gz", {
        "flame_sample_0000_pain_5_annotations.json": deep,
        "flame_sample_0000_pain_6_annotations.json": nested,
        "flame_sample_0000_pain_7_annotations.json": b" " * (threedpain.MAX_JSON_BYTES - 10) + b"{}" * 10,
        "flame_sample_0000_pain_8_annotations.json": wide,
    })
    report = import_3dpain(src, tmp_path / "out", progress=False, verbose=False)
    skipped = _problems(report)
    label = "annotations/annotations_00009.tar.gz:"
    assert "nested deeper than the limit of 64" in skipped[label + "flame_sample_0000_pain_5_annotations.json"]
    assert "nested 71 levels deep" in skipped[label + "flame_sample_0000_pain_6_annotations.json"]
    assert "byte limit per member" in skipped[label + "flame_sample_0000_pain_7_annotations.json"]
    assert "nested" not in skipped.get(label + "flame_sample_0000_pain_8_annotations.json", "")  # 5 deep is fine
    assert report.total_rows == 27  # the release's own rows are all still there


def _special_members(path: Path) -> list[str]:
    names = []
    with tarfile.open(path, "w:gz") as tf:
        for name, kind, link in [("link.jpg", tarfile.SYMTYPE, "/etc/passwd"), ("hard.jpg", tarfile.LNKTYPE, "link.jpg"),
                                 ("tty.jpg", tarfile.CHRTYPE, ""), ("disk.jpg", tarfile.BLKTYPE, ""), ("pipe.jpg", tarfile.FIFOTYPE, "")]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            tf.addfile(info)
            names.append(name)
        info = tarfile.TarInfo("folder")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
    return names


@pytest.mark.parametrize("folder", ["images", "heatmaps", "annotations"])
def test_row_10_non_regular_members_are_reported_by_name(release, folder, tmp_path):
    src = copy(release, tmp_path / "src")
    names = _special_members(src / folder / f"{folder}_00009.tar.gz")
    report = import_3dpain(src, tmp_path / "out", progress=False, verbose=False)
    skipped = _problems(report)
    for name in names:
        msg = skipped[f"{folder}/{folder}_00009.tar.gz:{name}"]  # once each, by name
        assert "not a regular file: not extracted" in msg
    assert "symbolic link (to /etc/passwd)" in skipped[f"{folder}/{folder}_00009.tar.gz:link.jpg"]
    assert not any("folder" == p.file.rsplit(":", 1)[-1] for p in report.problems)
    assert sum(p.file.startswith(f"{folder}/{folder}_00009") for p in report.problems) == len(names)


class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.n = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        k = min(len(b), self.n)
        b[:k] = bytes(k)
        self.n -= k
        return k


def test_row_11_a_member_that_inflates_is_not_read_into_memory(release, tmp_path):
    """400 MB of zeros gzip to under 2 MB; the import's peak (Python heap) stays far below it."""
    src = copy(release, tmp_path / "src")
    big = src / "images" / "images_00009.tar.gz"
    name = _img_name(0, 3, 0)
    with tarfile.open(big, "w:gz", compresslevel=1) as tf:
        info = tarfile.TarInfo(name)
        info.size = 400 << 20
        tf.addfile(info, io.BufferedReader(_Zeros(info.size)))
    assert big.stat().st_size < 4 << 20
    import_3dpain(release, tmp_path / "warm", progress=False, verbose=False)  # modules loaded
    tracemalloc.start()
    try:
        report = import_3dpain(src, tmp_path / "out", progress=False, verbose=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak / 2**20:.0f} MB"
    msg = _problems(report)[f"images/images_00009.tar.gz:{name}"]
    assert f"{400 << 20} bytes uncompressed, over the {threedpain.MAX_MEMBER_BYTES} byte limit per member: not read" == msg
    assert report.total_rows == 27


def test_member_cap_setting(release, tmp_path, monkeypatch):
    """A smaller cap: the member over it is reported and not read; the others are imported."""
    monkeypatch.setattr(threedpain, "MAX_MEMBER_BYTES", 4000)
    src = copy(release, tmp_path / "src")
    _tar(src / "heatmaps" / "heatmaps_00009.tar.gz", {"flame_sample_0000_pain_1_view_001_heatmap.png": bytes(5000)})
    report = import_3dpain(src, tmp_path / "out", progress=False, verbose=False)
    over = [p for p in report.skipped if "over the 4000 byte limit" in p.message]
    # the heatmap, and the miniature's textured meshes over 4000 bytes (not read either)
    assert [p.file for p in over if not p.file.startswith("textured_meshes/")] == [
        "heatmaps/heatmaps_00009.tar.gz:flame_sample_0000_pain_1_view_001_heatmap.png"]
    assert report.total_rows == 27


# --- integrity ----------------------------------------------------------------------------------------------
def problems(out: str) -> list[str]:
    return [ln[len("problem: "):] for ln in out.splitlines() if ln.startswith("problem: ")]


def test_checksums_recorded_for_every_shard(ref):
    sums = json.loads((ref / CHECKSUMS).read_text())["files"]
    shards = sorted(p.relative_to(ref).as_posix() for p in (ref / "data").rglob("*.parquet"))
    assert sorted(sums) == shards
    for rel in shards:
        data = (ref / rel).read_bytes()
        assert sums[rel]["sha256"] == hashlib.sha256(data).hexdigest() and sums[rel]["size"] == len(data)
        assert sum(g["rows"][1] - g["rows"][0] for g in sums[rel]["row_groups"]) == pq.read_metadata(ref / rel).num_rows


def _flip(path: Path, offset: int, n: int = 16) -> None:
    data = bytearray(path.read_bytes())
    for k in range(offset, offset + n):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("config", ["meshes", "frames", "faces"])
def test_flipped_bytes_are_named_by_file_and_rows(ref, config, tmp_path, capsys):
    root = copy(ref, tmp_path / "flip")
    shard = sorted((root / "data" / config).glob("*.parquet"))[0]
    first, n, start, length = row_group_ranges(shard)[-1]
    _flip(shard, start + length // 2)
    code, out, _ = run(["verify", root], capsys)
    assert code == 1
    rel = shard.relative_to(root).as_posix()
    assert any(p.startswith(f"{rel}: SHA-256 differs") and f"rows {first}-{first + n - 1}" in p for p in problems(out)), out


def test_flipped_byte_in_metadata_and_size_change(ref, tmp_path, capsys):
    root = copy(ref, tmp_path / "meta")
    shard = sorted((root / "data/meshes").glob("*.parquet"))[0]
    _flip(shard, shard.stat().st_size - 12, 1)  # inside the footer
    grown = sorted((root / "data/frames").glob("*.parquet"))[0]
    grown.write_bytes(grown.read_bytes() + b"\0")
    code, out, _ = run(["verify", root], capsys)
    assert code == 1
    found = problems(out)
    assert any(p.startswith(shard.relative_to(root).as_posix() + ": SHA-256 differs") for p in found), out
    assert any(p.startswith(grown.relative_to(root).as_posix() + ": size") for p in found), out
    assert any(p.startswith("README.md: frames: dataset_info download_size") for p in found), out


def test_imported_dataset_has_checksums_and_verifies(release, tmp_path, capsys):
    out = tmp_path / "imp"
    import_3dpain(release, out, progress=False, verbose=False)
    code, text, _ = run(["verify", out], capsys)
    assert code == 0, text
    shard = sorted((out / "data/frames").glob("*.parquet"))[0]
    _flip(shard, row_group_ranges(shard)[0][2] + 40)
    code, text, _ = run(["verify", out], capsys)
    assert code == 1 and any(p.startswith(f"data/frames/{shard.name}: SHA-256 differs") for p in problems(text)), text


def test_unfinished_folder_cannot_be_loaded(tmp_path, capsys, monkeypatch):
    """Killed after the shards, before the card: load_dataset fails, saying to --resume."""
    from pain3d_dataset import card

    out = tmp_path / "unfinished"
    monkeypatch.setattr(card, "write_card", lambda *a, **k: (_ for _ in ()).throw(OSError("killed")))
    code, _, _ = run(["generate", "--out", out, *BASE], capsys)
    assert code == 2 and any((out / "data/frames").glob("*.parquet"))
    monkeypatch.undo()
    for config in (None, "frames", "meshes"):
        with pytest.raises(Exception, match="--resume"):
            datasets.load_dataset(str(out), config, cache_dir=str(tmp_path / "cache"))
    code, _, err = run(["generate", "--out", out, *BASE, "--resume"], capsys)
    assert code == 0, err
    assert len(datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache2"))["train"]) > 0


def test_unfinished_import_cannot_be_loaded(release, tmp_path, monkeypatch):
    out = tmp_path / "imp"
    monkeypatch.setattr(threedpain, "_write_card", lambda *a, **k: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        import_3dpain(release, out, progress=False, verbose=False)
    assert any((out / "data/frames").glob("*.parquet"))
    with pytest.raises(Exception, match="import-3dpain again with --overwrite"):
        datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))


@pytest.mark.parametrize("damage", [b"", b"{not json", b"[1, 2]"])
def test_damaged_run_record_is_named(ref, damage, tmp_path, capsys):
    out = copy(ref, tmp_path / "dmg")
    (out / ".pain3d/config.json").write_bytes(damage)
    code, _, err = run(["generate", "--out", out, *BASE, "--resume"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert ".pain3d/config.json is damaged" in err and "--overwrite" in err
